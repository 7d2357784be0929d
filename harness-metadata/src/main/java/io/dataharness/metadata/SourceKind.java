package io.dataharness.metadata;

import java.util.Arrays;
import java.util.Locale;

/** Where a source's rows live. */
public enum SourceKind {
  /** A Kafka topic, or a subset of its partitions. State: per partition [start, end). */
  KAFKA,
  /** One table of a JDBC database (PostgreSQL first). State: a read timestamp. */
  JDBC,
  /** One Iceberg table in a named Iceberg catalog. State: a snapshot id, or empty. */
  ICEBERG;

  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static SourceKind parse(String kind) {
    return Arrays.stream(values())
        .filter(value -> value.id().equalsIgnoreCase(kind == null ? "" : kind.trim()))
        .findFirst()
        .orElseThrow(
            () ->
                new ValidationException(
                    "Unknown source kind '%s': use kafka, jdbc or iceberg", kind));
  }
}
