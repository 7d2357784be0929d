package io.dataharness.spark.jobs;

import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import io.dataharness.spark.write.IcebergStaging;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves a batch of rows from a Kafka source to an Iceberg source (the essay's simple example), as a
 * {@link Writer} of the {@link WriteProtocol}:
 *
 * <ul>
 *   <li>publish: make the Iceberg table's {@code main} show the snapshot the harness records (a job
 *       that stopped after its harness commit left it unpublished; such a rerun reports {@code
 *       replayed});
 *   <li>plan: per partition {@code [start, end')}, bounded by {@code max_rows} and {@code
 *       older_than} (Kafka timestamps);
 *   <li>stage: write the batch to a staging branch keyed by the target lock's fencing token (see
 *       {@link IcebergStaging}), invisible to plain Iceberg readers and harness readers; no intent
 *       is needed, since no later version can expose a branch it does not record;
 *   <li>record: Kafka start advanced past the batch, Iceberg state the staged snapshot;
 *   <li>publish: fast-forward {@code main} to the snapshot and tag it.
 * </ul>
 */
public final class KafkaToIcebergMover {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaToIcebergMover.class);

  private KafkaToIcebergMover() {}

  public static MoveResult move(SparkSession spark, HarnessContext catalog, MoveRequest request) {
    MoveWriter writer = new MoveWriter(spark, catalog, request);
    JobDescriptions.Scope jobs = JobDescriptions.startMove(spark, request);
    try {
      WriteOutcome<KafkaMoveWriter.Batch, IcebergStaging.Staged> outcome =
          new WriteProtocol(catalog.store(), request.table()).run(request.owner(), writer);
      if (outcome.wroteNothing()) {
        TableVersion latest = catalog.store().readLatest(request.table());
        if (outcome.replayed()) {
          return finishedBy(latest, request).orElseGet(() -> nothing(latest, request));
        }
        return nothing(latest, request);
      }
      KafkaMoveWriter.Batch batch = outcome.batch().get();
      IcebergStaging.Staged staged = outcome.staged().get();
      return new MoveResult(
          outcome.version(),
          staged.addedRows(),
          outcome.replayed(),
          summary(request, batch.kafka(), staged.addedRows(), staged.snapshotId()));
    } finally {
      jobs.close();
    }
  }

  private static MoveResult nothing(TableVersion latest, MoveRequest request) {
    LOG.info(
        "Nothing to move in {} from '{}' to '{}' at version {}",
        request.table(),
        request.source(),
        request.target(),
        latest.version());
    return MoveResult.nothing(latest.version());
  }

  private static final class MoveWriter extends KafkaMoveWriter<IcebergStaging.Staged> {
    private IcebergStaging staging;

    MoveWriter(SparkSession spark, HarnessContext catalog, MoveRequest request) {
      super(spark, catalog, request, SourceKind.ICEBERG);
    }

    /** The target's state at the version the batch was planned at. */
    private SourceState.Iceberg recorded(Batch batch) {
      return (SourceState.Iceberg) batch.context().version().state(request.target());
    }

    private IcebergStaging staging(MoveContext context) {
      if (staging == null) {
        staging =
            IcebergStaging.open(
                spark,
                context.targetConnection(),
                context.target(),
                context.catalog().store().loadTable(request.table()));
      }
      return staging;
    }

    @Override
    public boolean publishRecorded(TableVersion latest) {
      MoveContext context = resolve(latest);
      SourceState.Iceberg recorded = (SourceState.Iceberg) latest.state(request.target());
      boolean published = staging(context).ensurePublished(recorded, latest.version());
      return published && finishedBy(latest, request).isPresent();
    }

    @Override
    public Optional<Batch> plan(TableVersion latest) {
      Optional<Batch> batch = super.plan(latest);
      if (batch.isEmpty()) {
        SourceState.Iceberg recorded = (SourceState.Iceberg) latest.state(request.target());
        staging(resolve(latest)).removeAbandonedStages(recorded, null);
      }
      return batch;
    }

    @Override
    public Optional<String> intentPayload(Batch batch) {
      return Optional.empty();
    }

    @Override
    public Batch resume(Intent intent, TableVersion latest) {
      throw new IllegalStateException("Kafka to Iceberg moves record no intents: " + intent);
    }

    @Override
    public IcebergStaging.Staged stage(Batch batch, LeaseKeeper locks) {
      describeJobs(batch, "staging in Iceberg");
      MoveContext context = batch.context();
      String stageKey = idempotencyKey(batch) + "#" + locks.lock(request.target()).fencingToken();
      IcebergStaging staging = staging(context);
      staging.removeAbandonedStages(recorded(batch), stageKey);
      return staging.stage(
          context.read(spark, batch.kafka()),
          SparkSchemas.toSpark(context.version().schema()),
          recorded(batch),
          stageKey);
    }

    @Override
    public void record(Transaction transaction, Batch batch, IcebergStaging.Staged staged) {
      recordKafka(transaction, batch);
      transaction
          .setSourceState(request.target(), SourceState.Iceberg.of(staged.snapshotId()))
          .externalIds(
              request.target(),
              Map.of(
                  "snapshot-id",
                  String.valueOf(staged.snapshotId()),
                  "table",
                  staging.table().name()));
      summary(request, batch.kafka(), staged.addedRows(), staged.snapshotId())
          .forEach(transaction::summary);
    }

    @Override
    public void publish(Batch batch, IcebergStaging.Staged staged, VersionInfo committed) {
      staging.publish(staged.snapshotId(), committed.version());
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
