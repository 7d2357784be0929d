package io.dataharness.metadata;

import java.util.List;
import java.util.Locale;

/** Where a source's rows live. */
public enum SourceKind {
  /** A Kafka topic, or a subset of its partitions. State: per partition [start, end). */
  KAFKA,
  /** One table of a JDBC database (PostgreSQL first). State: a read timestamp. */
  JDBC,
  /** One Iceberg table in a named Iceberg catalog. State: a snapshot id, or empty. */
  ICEBERG;

  // parsed with every state read: no copy of values(), no lower-casing per call
  private static final List<SourceKind> ALL = List.of(values());
  private final String id = name().toLowerCase(Locale.ROOT);

  public String id() {
    return id;
  }

  public static SourceKind parse(String kind) {
    String wanted = kind == null ? "" : kind.trim();
    for (SourceKind value : ALL) {
      if (value.id.equalsIgnoreCase(wanted)) {
        return value;
      }
    }
    throw new ValidationException("Unknown source kind '%s': use kafka, jdbc or iceberg", kind);
  }
}
