package io.dataharness.spark.jobs;

import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/**
 * What the two movers out of a Kafka source share as {@link Writer}s: the batch (offset ranges
 * planned at one version, up to the topic's live end), its idempotency key, the sources locked, the
 * Kafka side of the commit and the crash points. A subclass supplies the target's side: staging and
 * its next state.
 *
 * @param <S> what staging the batch into the target produced
 */
abstract class KafkaMoveWriter<S> implements Writer<KafkaMoveWriter.Batch, S> {

  /** A planned (or resumed) batch: the Kafka ranges and the version they were resolved at. */
  record Batch(MoveContext context, KafkaBatch kafka) {}

  final SparkSession spark;
  final HarnessContext catalog;
  final MoveRequest request;
  private final SourceKind targetKind;

  KafkaMoveWriter(
      SparkSession spark, HarnessContext catalog, MoveRequest request, SourceKind targetKind) {
    this.spark = spark;
    this.catalog = catalog;
    this.request = request;
    this.targetKind = targetKind;
  }

  @Override
  public final String operation() {
    return "move";
  }

  @Override
  public final List<String> sources() {
    return List.of(request.source(), request.target());
  }

  /** The move's sources and connections as {@code latest} defines them. */
  final MoveContext resolve(TableVersion latest) {
    return MoveContext.resolve(catalog, request, latest, targetKind);
  }

  /** Plans the batch with {@link #resolve} and {@link MoveContext#planBatch}. */
  @Override
  public Optional<Batch> plan(TableVersion latest) {
    MoveContext context = resolve(latest);
    KafkaBatch kafka = context.planBatch();
    return kafka.isEmpty() ? Optional.empty() : Optional.of(new Batch(context, kafka));
  }

  @Override
  public final String idempotencyKey(Batch batch) {
    return batch
        .kafka()
        .idempotencyKey("move", request.table(), request.source(), request.target());
  }

  /** The Kafka side of the commit: the source's start advanced past the batch. */
  final void recordKafka(Transaction transaction, Batch batch) {
    transaction
        .setSourceState(request.source(), batch.kafka().advance(batch.context().sourceState()))
        .externalIds(request.source(), Map.of("offsets", batch.kafka().describe()));
  }

  @Override
  public final void reached(WriteProtocol.Step step) {
    CrashPoints.reach(CrashPoints.of(step));
  }

  /**
   * Names the Spark jobs that follow in the UI: {@code DataHarness move <table> '<source>' ->
   * '<target>' from version <n> offsets <ranges>: <step>} (see {@link JobDescriptions}).
   */
  final void describeJobs(Batch batch, String step) {
    JobDescriptions.set(spark, describe(batch) + ": " + step);
  }

  @Override
  public final String describe(Batch batch) {
    return batch.context().describe(batch.kafka());
  }
}
