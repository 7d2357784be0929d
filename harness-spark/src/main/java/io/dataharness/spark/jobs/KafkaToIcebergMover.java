package io.dataharness.spark.jobs;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.spark.SparkSchemas;
import io.dataharness.spark.write.IcebergStaging;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves a batch of rows from a Kafka source to an Iceberg source (the essay's simple example):
 *
 * <ol>
 *   <li>lock both sources (fenced leases) and read the latest version;
 *   <li>make the Iceberg table's {@code main} show the snapshot the harness records (publish what a
 *       job that stopped after its harness commit left unpublished; such a rerun reports {@code
 *       replayed});
 *   <li>pick the batch: per partition {@code [start, end')}, {@code end'} at most the recorded end,
 *       bounded by {@code max_rows} and {@code older_than} (Kafka timestamps);
 *   <li>write it to Iceberg as a staged snapshot ({@link IcebergStaging}), invisible to plain
 *       Iceberg readers and to harness readers;
 *   <li>one harness commit: Kafka start advanced past the batch, Iceberg state the staged snapshot,
 *       idempotency key derived from table, sources and offsets;
 *   <li>publish the snapshot to {@code main} and tag it; release the locks.
 * </ol>
 *
 * A crash at any step leaves either the old version (the staged snapshot is never exposed and is
 * reused or dropped by the next run) or the new one (the next run publishes it).
 */
public final class KafkaToIcebergMover {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaToIcebergMover.class);

  private KafkaToIcebergMover() {}

  public static MoveResult move(SparkSession spark, HarnessCatalog catalog, MoveRequest request) {
    HarnessStore store = catalog.store();
    try (MoveLocks locks = MoveLocks.forMove(store, request)) {
      TableVersion version = store.readLatest(request.table());
      MoveContext context = MoveContext.resolve(catalog, request, version, SourceKind.ICEBERG);
      SourceState.Iceberg recorded = (SourceState.Iceberg) version.state(request.target());
      IcebergStaging staging =
          IcebergStaging.open(spark, context.targetConnection(), context.target());
      if (staging.ensurePublished(recorded, request.table(), version.version())) {
        Optional<MoveResult> finished = finishedBy(version, request);
        if (finished.isPresent()) {
          staging.removeAbandonedStages(recorded, null);
          return finished.get();
        }
      }
      KafkaBatch batch = context.planBatch();
      if (batch.isEmpty()) {
        staging.removeAbandonedStages(recorded, null);
        return context.nothingToMove();
      }
      String key =
          batch.idempotencyKey("move", request.table(), request.source(), request.target());
      staging.removeAbandonedStages(recorded, key);
      String description = context.describe(batch);
      LOG.info("Starting {}", description);
      spark.sparkContext().setJobDescription("DataHarness " + description);
      try {
        CrashPoints.reach(CrashPoints.BEFORE_TARGET_WRITE);
        IcebergStaging.Staged staged =
            staging.stage(
                context.read(spark, batch), SparkSchemas.toSpark(version.schema()), recorded, key);
        CrashPoints.reach(CrashPoints.AFTER_TARGET_WRITE);
        Map<String, String> summary =
            summary(request, batch, staged.addedRows(), staged.snapshotId());
        var transaction =
            store
                .newTransaction(request.table())
                .operation("move")
                .idempotencyKey(key)
                .setSourceState(request.source(), batch.advance(context.sourceState()))
                .setSourceState(request.target(), SourceState.Iceberg.of(staged.snapshotId()))
                .externalIds(request.source(), Map.of("offsets", batch.describe()))
                .externalIds(
                    request.target(),
                    Map.of(
                        "snapshot-id",
                        String.valueOf(staged.snapshotId()),
                        "table",
                        staging.table().name()));
        summary.forEach(transaction::summary);
        VersionInfo committed = locks.present(transaction).commit();
        // the store returns the earlier version when the key was committed before (a retried
        // commit)
        boolean replayed = committed.version() <= version.version();
        CrashPoints.reach(CrashPoints.AFTER_HARNESS_COMMIT);
        staging.publish(
            staged.snapshotId(), IcebergStaging.tagName(request.table(), committed.version()));
        LOG.info(
            "Committed version {} of {}: moved {} rows from '{}' offsets {} to '{}' snapshot {}{}",
            committed.version(),
            request.table(),
            staged.addedRows(),
            request.source(),
            batch.describe(),
            request.target(),
            staged.snapshotId(),
            replayed ? " (replayed)" : "");
        return new MoveResult(committed.version(), staged.addedRows(), replayed, summary);
      } finally {
        spark.sparkContext().setJobDescription(null);
      }
    }
  }

  static Map<String, String> summary(
      MoveRequest request, KafkaBatch batch, long rows, long snapshotId) {
    Map<String, String> summary = new LinkedHashMap<>();
    summary.put("source", request.source());
    summary.put("target", request.target());
    summary.put("rows", String.valueOf(rows));
    summary.put("ranges", batch.describe());
    if (snapshotId >= 0) {
      summary.put("snapshot-id", String.valueOf(snapshotId));
    }
    return summary;
  }

  /**
   * The result of a move that {@code version} already recorded (a job that stopped after its
   * harness commit): the rerun finished it and reports it as replayed.
   */
  static Optional<MoveResult> finishedBy(TableVersion version, MoveRequest request) {
    var commit = version.commit();
    if (commit == null
        || !"move".equals(commit.operation())
        || !request.source().equals(commit.summary().get("source"))
        || !request.target().equals(commit.summary().get("target"))) {
      return Optional.empty();
    }
    long rows = Long.parseLong(commit.summary().getOrDefault("rows", "0"));
    LOG.info(
        "Version {} of {} already recorded the move of {} rows ({}); finished it",
        version.version(),
        request.table(),
        rows,
        commit.summary().get("ranges"));
    return Optional.of(new MoveResult(version.version(), rows, true, commit.summary()));
  }
}
