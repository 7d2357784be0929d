package io.dataharness.spark.txn;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.LockHeldException;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.metrics.HarnessMetrics;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one write protocol every harness writer follows (movers and appends; a non-Spark writer
 * follows the same steps through the Java API, see {@code docs/commit-protocol.md}):
 *
 * <ol>
 *   <li>lock every source the write changes, with fenced leases renewed in the background ({@link
 *       LeaseKeeper}): a process killed at any moment frees its sources within one lease;
 *   <li>read the latest version; publish what a run that stopped after its commit left unpublished;
 *       if an interrupted run of this writer left an open intent on the sources, rebuild its batch
 *       and complete it (steps 4 to 6) instead of planning a new one; an open intent of another
 *       kind of writer is refused, naming it;
 *   <li>plan the batch and derive its idempotency key; when staging has effects a later version
 *       could expose, record a write-ahead intent in the store (a version that changes no state),
 *       after which the store refuses every other writer's commit to these sources;
 *   <li>stage the batch;
 *   <li>commit the new states, completing the intent, with the idempotency key (a replay returns
 *       the version the first commit produced);
 *   <li>publish (idempotent), release the locks.
 * </ol>
 *
 * <p>Each commit logs one JSON line on the logger {@code io.dataharness.commits} and updates the
 * process-wide {@link HarnessMetrics} (see {@link CommitLog}).
 */
public final class WriteProtocol {
  private static final Logger LOG = LoggerFactory.getLogger(WriteProtocol.class);

  /** The points between steps; {@link Writer#reached} is called at each (failure injection). */
  public enum Step {
    /** Locks held, batch planned, intent (if any) recorded; nothing staged. */
    BEFORE_STAGE,
    /** The batch is staged; the harness commit has not been made. */
    STAGED,
    /** The harness commit is made; nothing is published yet. */
    COMMITTED
  }

  /** The operation (and intent kind) of appends, whose intents any lock holder may complete. */
  public static final String APPEND = "append";

  private final HarnessStore store;
  private final TableIdentifier table;
  private final Duration lease;
  private final Duration renewEvery;

  public WriteProtocol(HarnessStore store, TableIdentifier table) {
    this(store, table, LeaseKeeper.DEFAULT_LEASE, LeaseKeeper.DEFAULT_RENEW_EVERY);
  }

  public WriteProtocol(
      HarnessStore store, TableIdentifier table, Duration lease, Duration renewEvery) {
    this.store = store;
    this.table = table;
    this.lease = lease;
    this.renewEvery = renewEvery;
  }

  /** Runs one batch of {@code writer} under locks owned by {@code owner}. */
  public <B, S> WriteOutcome<B, S> run(String owner, Writer<B, S> writer) {
    HarnessMetrics.registerWithSpark();
    try {
      return runOnce(owner, writer, new CommitLog.Timings());
    } catch (CommitConflictException e) {
      // a lock held past the writer's wait, a lost race on a source, another writer's open intent
      HarnessMetrics.get().conflicted();
      throw e;
    }
  }

  private <B, S> WriteOutcome<B, S> runOnce(
      String owner, Writer<B, S> writer, CommitLog.Timings timings) {
    try (LeaseKeeper locks = acquire(owner, writer, timings)) {
      TableVersion latest = completeInterruptedAppends(store.readLatest(table), locks, writer);
      Optional<Intent> interrupted = interruptedIntent(latest, writer);
      if (interrupted.isPresent()) {
        Intent intent = interrupted.get();
        B batch = writer.resume(intent, latest);
        LOG.warn(
            "Completing the interrupted {} of {} recorded by intent '{}' at version {} (owner"
                + " '{}'): {}",
            writer.operation(),
            table,
            intent.id(),
            intent.openedVersion(),
            intent.owner(),
            writer.describe(batch));
        WriteOutcome<B, S> completed =
            stageAndCommit(writer, locks, latest, batch, intent.id(), true, owner, timings);
        if (!writer.continuesAfterResume()) {
          return completed;
        }
        latest = store.readLatest(table);
      }
      if (writer.publishRecorded(latest)) {
        return new WriteOutcome<>(
            latest.version(), Optional.empty(), Optional.empty(), true, false);
      }
      Optional<B> planned = writer.plan(latest);
      if (planned.isEmpty()) {
        return new WriteOutcome<>(
            latest.version(), Optional.empty(), Optional.empty(), false, false);
      }
      B batch = planned.get();
      String key = writer.idempotencyKey(batch);
      Optional<String> payload = writer.intentPayload(batch);
      String intentId = null;
      if (payload.isPresent()) {
        intentId = intentId(key, locks);
        VersionInfo opened =
            writer.commitIntent(
                locks.present(
                    store
                        .newTransaction(table)
                        .operation("intent")
                        .idempotencyKey("intent-" + key)
                        .openIntent(
                            intentId, writer.operation(), writer.sortedSources(), payload.get())
                        .summary("intent", intentId)
                        .summary("kind", writer.operation())),
                batch);
        LOG.info(
            "Recorded intent '{}' of {} as version {}: {}",
            intentId,
            table,
            opened.version(),
            writer.describe(batch));
      }
      return stageAndCommit(writer, locks, latest, batch, intentId, false, owner, timings);
    }
  }

  /** The writer's locks, waiting up to {@link Writer#lockWait} while another writer holds one. */
  private LeaseKeeper acquire(String owner, Writer<?, ?> writer, CommitLog.Timings timings) {
    long started = System.nanoTime();
    long deadline = started + writer.lockWait().toNanos();
    for (int attempt = 1; ; attempt++) {
      try {
        LeaseKeeper locks =
            LeaseKeeper.acquire(store, table, owner, lease, renewEvery, writer.sortedSources());
        timings.lockWaitNanos = System.nanoTime() - started;
        return locks;
      } catch (LockHeldException held) {
        timings.lockWaits++;
        HarnessMetrics.get().lockWaited();
        if (System.nanoTime() >= deadline) {
          throw held;
        }
        if (attempt == 1) {
          LOG.info(
              "Waiting up to {} s for the lock of source '{}' of {} (held by '{}') to {}",
              writer.lockWait().toSeconds(),
              held.holder().sourceId(),
              table,
              held.holder().owner(),
              writer.operation());
        }
        try {
          Thread.sleep(Math.min(1000, 25L * attempt));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw held;
        }
      }
    }
  }

  private <B, S> WriteOutcome<B, S> stageAndCommit(
      Writer<B, S> writer,
      LeaseKeeper locks,
      TableVersion latest,
      B batch,
      String intentId,
      boolean resumed,
      String owner,
      CommitLog.Timings timings) {
    writer.reached(Step.BEFORE_STAGE);
    long stageStarted = System.nanoTime();
    S staged = writer.stage(batch, locks);
    timings.stageNanos += System.nanoTime() - stageStarted;
    writer.reached(Step.STAGED);
    String key = writer.idempotencyKey(batch);
    Transaction transaction =
        store.newTransaction(table).operation(writer.operation()).idempotencyKey(key);
    writer.record(transaction, batch, staged);
    if (intentId != null) {
      transaction.completeIntent(intentId);
    }
    long commitStarted = System.nanoTime();
    VersionInfo committed = locks.present(transaction).commit();
    timings.commitNanos += System.nanoTime() - commitStarted;
    boolean replayed = committed.version() <= latest.version();
    writer.reached(Step.COMMITTED);
    long publishStarted = System.nanoTime();
    writer.publish(batch, staged, committed);
    timings.publishNanos += System.nanoTime() - publishStarted;
    LOG.info(
        "Committed version {} of {} ({}{}): {}",
        committed.version(),
        table,
        writer.operation(),
        replayed ? ", replayed" : resumed ? ", completed an interrupted run" : "",
        writer.describe(batch));
    CommitLog.committed(
        table,
        writer.operation(),
        writer.sortedSources(),
        committed,
        key,
        replayed,
        resumed,
        owner,
        timings);
    return new WriteOutcome<>(
        committed.version(), Optional.of(batch), Optional.of(staged), replayed, resumed);
  }

  /**
   * An intent id for the batch with key {@code key} opened under {@code locks}: ids are single-use,
   * so each acquisition opens its own.
   */
  private static String intentId(String key, LeaseKeeper locks) {
    long token = locks.locks().stream().mapToLong(SourceLock::fencingToken).max().orElse(0);
    return IdempotencyKeys.of("intent", key) + "-" + token;
  }

  /**
   * Completes the open intents of interrupted appends on the writer's sources that the writer does
   * not resume itself. An append's writes are final once made (committed Kafka transactions,
   * committed PostgreSQL rows): nothing is undone, and the next state recorded for the source
   * includes them, so any writer holding the locks of all the intent's sources (its writer is gone:
   * the locks were free) may close it. Returns the version to go on from.
   */
  private TableVersion completeInterruptedAppends(
      TableVersion latest, LeaseKeeper locks, Writer<?, ?> writer) {
    Set<String> mine = new HashSet<>(writer.sources());
    for (Intent intent : latest.openIntents()) {
      if (!APPEND.equals(intent.kind())
          || writer.canResume(intent)
          || !mine.containsAll(intent.sources())) {
        continue;
      }
      VersionInfo closed =
          locks
              .present(
                  store
                      .newTransaction(table)
                      .operation("complete-intent")
                      .idempotencyKey("complete-" + intent.id())
                      .completeIntent(intent.id())
                      .summary("intent", intent.id())
                      .summary("kind", intent.kind()))
              .commit();
      LOG.warn(
          "Completed the intent '{}' of an interrupted append to {} (owner '{}', since version {})"
              + " as version {}: its committed writes become part of the table with the next state"
              + " recorded for {}",
          intent.id(),
          table,
          intent.owner(),
          intent.openedVersion(),
          closed.version(),
          intent.sources());
      latest = store.readLatest(table);
    }
    return latest;
  }

  /**
   * The open intent on the writer's sources that it must complete first, if any.
   *
   * @throws CommitConflictException if another kind of writer's intent covers one of the sources
   */
  private <B, S> Optional<Intent> interruptedIntent(TableVersion latest, Writer<B, S> writer) {
    Set<String> mine = new HashSet<>(writer.sources());
    for (Intent intent : latest.openIntents()) {
      if (intent.sources().stream().noneMatch(mine::contains)) {
        continue;
      }
      if (writer.canResume(intent)) {
        return Optional.of(intent);
      }
      throw new CommitConflictException(
          "Cannot %s %s on sources %s: the open intent '%s' (%s on sources %s, owner '%s', since"
              + " version %d) covers %s; rerun that %s to complete it first",
          writer.operation(),
          table,
          writer.sortedSources(),
          intent.id(),
          intent.kind(),
          intent.sources(),
          intent.owner(),
          intent.openedVersion(),
          intersection(intent.sources(), mine),
          intent.kind());
    }
    return Optional.empty();
  }

  private static List<String> intersection(List<String> sources, Set<String> mine) {
    return sources.stream().filter(mine::contains).toList();
  }
}
