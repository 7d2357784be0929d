package io.dataharness.spark.jobs;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.TableIdentifier;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.SnapshotRef;
import org.apache.iceberg.SnapshotSummary;
import org.apache.iceberg.Table;
import org.apache.iceberg.TableProperties;
import org.apache.iceberg.spark.CommitMetadata;

/**
 * Iceberg write-audit-publish as movers use it: a write is committed as a staged snapshot (not on
 * {@code main}, invisible to Iceberg readers), recorded by a harness commit, then published by
 * fast-forwarding {@code main} to it and tagged so that snapshot expiry keeps it while harness
 * versions need it.
 */
final class IcebergStaging {
  /** Snapshot summary properties that tie a staged snapshot to the move that wrote it. */
  static final String TABLE_PROPERTY = "harness.table";

  static final String TARGET_PROPERTY = "harness.target";

  private IcebergStaging() {}

  /** Makes the table accept staged writes ({@code write.wap.enabled}); a no-op when it does. */
  static void enableStagedWrites(Table table) {
    if (!"true".equals(table.properties().get(TableProperties.WRITE_AUDIT_PUBLISH_ENABLED))) {
      table.updateProperties().set(TableProperties.WRITE_AUDIT_PUBLISH_ENABLED, "true").commit();
    }
  }

  /** Runs a Spark write whose Iceberg commit carries {@code properties} in its summary. */
  static void withSummary(Map<String, String> properties, Callable<?> write) {
    CommitMetadata.withCommitProperties(properties, write, RuntimeException.class);
  }

  /** The newest snapshot staged with {@code wapId}, if any. */
  static Optional<Snapshot> staged(Table table, String wapId) {
    Snapshot newest = null;
    for (Snapshot snapshot : table.snapshots()) {
      if (wapId.equals(snapshot.summary().get(SnapshotSummary.STAGED_WAP_ID_PROP))
          && (newest == null || snapshot.timestampMillis() > newest.timestampMillis())) {
        newest = snapshot;
      }
    }
    return Optional.ofNullable(newest);
  }

  /**
   * Staged snapshots a harness move of {@code harnessTable} into {@code target} wrote and nobody
   * published, other than those staged with {@code exceptWapId}.
   */
  static java.util.List<Snapshot> unpublished(
      Table table, TableIdentifier harnessTable, String target, String exceptWapId) {
    java.util.Set<Long> published = new java.util.HashSet<>();
    for (SnapshotRef ref : table.refs().values()) {
      for (Snapshot snapshot = table.snapshot(ref.snapshotId());
          snapshot != null;
          snapshot = snapshot.parentId() == null ? null : table.snapshot(snapshot.parentId())) {
        if (!published.add(snapshot.snapshotId())) {
          break;
        }
      }
    }
    java.util.List<Snapshot> unpublished = new java.util.ArrayList<>();
    for (Snapshot snapshot : table.snapshots()) {
      Map<String, String> summary = snapshot.summary();
      if (harnessTable.toString().equals(summary.get(TABLE_PROPERTY))
          && target.equals(summary.get(TARGET_PROPERTY))
          && !exceptWapId.equals(summary.get(SnapshotSummary.STAGED_WAP_ID_PROP))
          && !published.contains(snapshot.snapshotId())) {
        unpublished.add(snapshot);
      }
    }
    return unpublished;
  }

  static OptionalLong currentSnapshotId(Table table) {
    Snapshot current = table.currentSnapshot();
    return current == null ? OptionalLong.empty() : OptionalLong.of(current.snapshotId());
  }

  /** True when {@code snapshot} was written on top of what {@code main} is now. */
  static boolean isOnTopOfMain(Table table, Snapshot snapshot) {
    OptionalLong current = currentSnapshotId(table);
    Long parent = snapshot.parentId();
    return current.isEmpty() ? parent == null : Objects.equals(parent, current.getAsLong());
  }

  /**
   * Publishes a staged snapshot by fast-forwarding {@code main} to it (the snapshot keeps its id,
   * so the id a harness version recorded is the id readers get), then tags it.
   */
  static void publish(Table table, long snapshotId, String tag, TableIdentifier harnessTable) {
    Snapshot snapshot = table.snapshot(snapshotId);
    if (snapshot == null) {
      throw new HarnessException(
          "Cannot publish snapshot %d of Iceberg table %s for %s: the snapshot no longer exists",
          snapshotId, table.name(), harnessTable);
    }
    if (!currentSnapshotId(table).equals(OptionalLong.of(snapshotId))) {
      if (!isOnTopOfMain(table, snapshot)) {
        throw new HarnessException(
            "Cannot publish snapshot %d of Iceberg table %s for %s: it was staged on snapshot %s,"
                + " but main is at %s; something wrote to the table outside the harness",
            snapshotId, table.name(), harnessTable, snapshot.parentId(), currentSnapshotId(table));
      }
      table.manageSnapshots().setCurrentSnapshot(snapshotId).commit();
    }
    ensureTagged(table, snapshotId, tag);
  }

  /** Tags the snapshot unless a tag already keeps it. */
  static void ensureTagged(Table table, long snapshotId, String tag) {
    boolean tagged =
        table.refs().values().stream()
            .anyMatch(ref -> ref.isTag() && ref.snapshotId() == snapshotId);
    if (tagged) {
      return;
    }
    SnapshotRef existing = table.refs().get(tag);
    if (existing != null) {
      table.manageSnapshots().replaceTag(tag, snapshotId).commit();
    } else {
      table.manageSnapshots().createTag(tag, snapshotId).commit();
    }
  }
}
