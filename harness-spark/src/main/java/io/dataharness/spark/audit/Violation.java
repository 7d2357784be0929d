package io.dataharness.spark.audit;

import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

/**
 * One broken invariant of a harness table.
 *
 * @param check what was checked
 * @param source the source (or sources, comma-separated) involved
 * @param versions the harness versions involved, ascending (may be empty when no retained version
 *     sees the problem, for example overlapping PostgreSQL images between two read timestamps)
 * @param detail what is wrong and how to fix it, naming offsets, snapshots or keys
 */
public record Violation(Check check, String source, List<Long> versions, String detail) {
  public Violation {
    Objects.requireNonNull(check, "check");
    versions = List.copyOf(new TreeSet<>(versions == null ? List.of() : versions));
  }

  /** A source whose own records the audit could not read, so its checks did not run. */
  static Violation unavailable(String source, long version, RuntimeException cause) {
    return new Violation(
        Check.SOURCE_UNAVAILABLE,
        source,
        List.of(version),
        "Cannot check source '" + source + "' against its own records: " + cause.getMessage());
  }

  public Check.Severity severity() {
    return check.severity();
  }
}
