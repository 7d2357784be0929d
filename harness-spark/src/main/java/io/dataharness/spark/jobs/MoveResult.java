package io.dataharness.spark.jobs;

import java.time.Duration;
import java.util.Map;
import java.util.OptionalLong;

/**
 * What a move did.
 *
 * @param version the version that recorded the move, or the latest version if nothing moved
 * @param rowsMoved rows read from the source and written to the target
 * @param replayed true when the batch had already been committed (a retried job)
 * @param summary what the version's summary records (ranges, snapshot ids)
 * @param committed whether this move recorded (or completed, when replayed) a version; false when
 *     there was nothing to move
 * @param duration how long the move took, from its start to its result
 */
public record MoveResult(
    long version,
    long rowsMoved,
    boolean replayed,
    Map<String, String> summary,
    boolean committed,
    Duration duration) {

  /** A move that recorded (or, replayed, completed) {@code version}; its duration is set later. */
  public MoveResult(long version, long rowsMoved, boolean replayed, Map<String, String> summary) {
    this(version, rowsMoved, replayed, summary, true, Duration.ZERO);
  }

  /** A move that found nothing to move at {@code latestVersion}. */
  static MoveResult nothing(long latestVersion) {
    return new MoveResult(latestVersion, 0, false, Map.of(), false, Duration.ZERO);
  }

  MoveResult withDuration(Duration took) {
    return new MoveResult(version, rowsMoved, replayed, summary, committed, took);
  }

  /** The Iceberg snapshot the target's state names, when the target is an Iceberg source. */
  OptionalLong targetSnapshotId() {
    String id = summary.get("snapshot-id");
    return id == null ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(id));
  }

  /**
   * What the move covered, as far as its summary says: the Kafka offset ranges, or the PostgreSQL
   * bounds (the age cut-off and row limit) and source transaction; null if it moved nothing.
   */
  String moved() {
    if (summary.containsKey("ranges")) {
      return summary.get("ranges");
    }
    StringBuilder bounds = new StringBuilder();
    if (summary.containsKey("older-than")) {
      bounds.append("older than ").append(summary.get("older-than"));
    }
    if (summary.containsKey("max-rows")) {
      bounds.append(bounds.length() == 0 ? "" : ", ").append("at most ");
      bounds.append(summary.get("max-rows")).append(" rows");
    }
    if (bounds.length() == 0 && committed) {
      bounds.append("every row");
    }
    if (summary.containsKey("source-transaction")) {
      bounds.append(bounds.length() == 0 ? "" : ", ").append("deleted in source transaction ");
      bounds.append(summary.get("source-transaction"));
    }
    return bounds.length() == 0 ? null : bounds.toString();
  }
}
