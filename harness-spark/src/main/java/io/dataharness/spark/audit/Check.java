package io.dataharness.spark.audit;

import java.util.Locale;

/**
 * What the auditor checks. Each check has a stable id (the {@code check} column of the audit
 * result) and a severity: an error means some version can show a row twice, miss a row or fail to
 * read; a warning means a protection is missing (nothing is wrong yet).
 */
public enum Check {
  /** A Kafka partition's start is smaller than at the version before. */
  KAFKA_START_DECREASED("kafka-start-decreased", Severity.ERROR),
  /** A Kafka partition's end is smaller than at the version before. */
  KAFKA_END_DECREASED("kafka-end-decreased", Severity.ERROR),
  /** A Kafka partition of a version is missing from the next version. */
  KAFKA_PARTITION_VANISHED("kafka-partition-vanished", Severity.ERROR),
  /** A Kafka start advanced past offsets that no move recorded: those rows left the table. */
  KAFKA_RANGE_GAP("kafka-range-gap", Severity.ERROR),
  /** A move recorded offsets that had already left the source's range (moved twice). */
  KAFKA_RANGE_OVERLAP("kafka-range-overlap", Severity.ERROR),
  /** Offsets inside a version's Kafka range that a move at or before it recorded as moved. */
  KAFKA_OFFSET_VISIBLE_AND_MOVED("kafka-offset-visible-and-moved", Severity.ERROR),
  /** The latest version's Kafka range starts before the broker's log start (retention). */
  KAFKA_RANGE_EXPIRED("kafka-range-expired", Severity.ERROR),
  /** The latest version's Kafka range ends past the partition's last stable offset. */
  KAFKA_RANGE_BEYOND_LOG("kafka-range-beyond-log", Severity.ERROR),
  /** A version records an Iceberg snapshot that the table no longer has. */
  ICEBERG_SNAPSHOT_MISSING("iceberg-snapshot-missing", Severity.ERROR),
  /** A recorded Iceberg snapshot has no harness tag, so snapshot expiry may remove it. */
  ICEBERG_SNAPSHOT_UNTAGGED("iceberg-snapshot-untagged", Severity.WARNING),
  /** A harness tag names another snapshot than the one its version records. */
  ICEBERG_TAG_MISMATCH("iceberg-tag-mismatch", Severity.WARNING),
  /** A version's Iceberg snapshot does not descend from the previous version's. */
  ICEBERG_SNAPSHOT_NOT_DESCENDANT("iceberg-snapshot-not-descendant", Severity.ERROR),
  /** Two images of one primary key of a PostgreSQL source are valid at the same instant. */
  POSTGRES_OVERLAPPING_IMAGES("postgres-overlapping-images", Severity.ERROR),
  /** One image of a primary key is visible in a PostgreSQL and an Iceberg source at a version. */
  DUPLICATE_ACROSS_SOURCES("duplicate-across-sources", Severity.ERROR),
  /** A write-ahead intent is open, older than a lease, and nobody holds its sources' locks. */
  INTERRUPTED_WRITER("interrupted-writer", Severity.ERROR),
  /** A source's own records could not be read (topic or table gone, system unreachable). */
  SOURCE_UNAVAILABLE("source-unavailable", Severity.ERROR);

  /** How bad a violation is. */
  public enum Severity {
    ERROR,
    WARNING;

    public String id() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final String id;
  private final Severity severity;

  Check(String id, Severity severity) {
    this.id = id;
    this.severity = severity;
  }

  public String id() {
    return id;
  }

  public Severity severity() {
    return severity;
  }
}
