package io.dataharness.spark.txn;

import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.VersionInfo;
import java.util.List;
import java.util.Optional;

/**
 * What one kind of write (a mover, an append) supplies to the {@link WriteProtocol}: how to plan a
 * batch, stage it, describe the new states and publish. Everything else (locks and their renewal,
 * the write-ahead intent, the commit, idempotent replay, completing an interrupted batch) is the
 * protocol's.
 *
 * <p>Contract:
 *
 * <ul>
 *   <li>{@link #plan} must define the batch from the version it is given only, so that planning
 *       again at the same version gives the same batch and the same {@link #idempotencyKey}.
 *   <li>When {@link #stage} has effects that a later version could expose before this writer's
 *       commit (rows upserted into or deleted from a PostgreSQL source), {@link #intentPayload}
 *       must return what {@link #resume} needs to rebuild exactly this batch. The protocol records
 *       it in the store before {@link #stage} runs; while it is open the store refuses every other
 *       writer's commit to the sources.
 *   <li>{@link #stage} must be safe to run again for the same batch (a rerun after a crash): it
 *       reuses what an earlier attempt staged or stages again without duplicating.
 *   <li>{@link #publish} must be idempotent: it runs again when a job stopped after its commit.
 * </ul>
 *
 * @param <B> the batch a run writes
 * @param <S> what staging produced (snapshot ids, row counts)
 */
public interface Writer<B, S> {

  /** The commit's operation ({@code move}, {@code append}) and the kind of intent it records. */
  String operation();

  /** The sources the write changes; the protocol locks all of them, in id order. */
  List<String> sources();

  /**
   * How long to wait for locks another writer holds before failing with {@link
   * io.dataharness.metadata.LockHeldException}. Default zero: a scheduled job (a mover) fails at
   * once and its scheduler retries; an append, which a user is waiting for, waits.
   */
  default java.time.Duration lockWait() {
    return java.time.Duration.ZERO;
  }

  /**
   * Makes the sources' own systems show what {@code latest} records, completing the publish step of
   * a run that stopped after its commit. Returns true when it had to (the protocol then reports
   * that run's batch as replayed and plans no new one).
   */
  default boolean publishRecorded(TableVersion latest) {
    return false;
  }

  /** The batch to write at {@code latest}, or empty when there is nothing to write. */
  Optional<B> plan(TableVersion latest);

  /** The commit's idempotency key: fixed size, derived from exactly what the batch writes. */
  String idempotencyKey(B batch);

  /**
   * The intent to record before staging, as JSON text, when staging has effects a later version
   * could expose; empty when staged data stays invisible until the commit (an Iceberg branch).
   */
  Optional<String> intentPayload(B batch);

  /**
   * Whether this writer can complete {@code intent} (an interrupted run of the same kind of write
   * on the same sources).
   */
  default boolean canResume(Intent intent) {
    return intent.kind().equals(operation()) && intent.sources().equals(sortedSources());
  }

  /**
   * Whether a run that completed an interrupted batch goes on to plan its own (appends: the
   * caller's rows still have to be written); movers write one batch per run.
   */
  default boolean continuesAfterResume() {
    return false;
  }

  /**
   * Commits the version that records the batch's intent. A writer whose first side effect is a
   * change in the metadata store's own database (a PostgreSQL source in the same database as the
   * harness metadata) overrides this to make both one database transaction, committing {@code
   * intent} with {@link Transaction#commitUsing}; its {@link #stage} must then find that effect
   * done and not repeat it.
   */
  default VersionInfo commitIntent(Transaction intent, B batch) {
    return intent.commit();
  }

  /** Rebuilds the batch an interrupted run recorded in {@code intent}. */
  B resume(Intent intent, TableVersion latest);

  /** Writes the batch where readers of the harness cannot see it yet. */
  S stage(B batch, LeaseKeeper locks);

  /** Adds the new source states, external ids and summary to the commit. */
  void record(Transaction transaction, B batch, S staged);

  /** Makes committed data visible in the source's own system; idempotent. */
  void publish(B batch, S staged, VersionInfo committed);

  /** Failure injection for tests: called after each protocol step ({@link WriteProtocol.Step}). */
  default void reached(WriteProtocol.Step step) {}

  /** A short description of the batch for logs and Spark job descriptions. */
  String describe(B batch);

  /** The sources in id order, as intents record them. */
  default List<String> sortedSources() {
    return sources().stream().sorted().distinct().toList();
  }
}
