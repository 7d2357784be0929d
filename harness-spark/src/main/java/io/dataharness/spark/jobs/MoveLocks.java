package io.dataharness.spark.jobs;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.Transaction;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fenced locks a job holds on the sources it changes, taken in source id order (so two jobs on
 * overlapping sources cannot deadlock) and released on close. A lock is renewed before a commit
 * when more than half its lease has passed, so long batches keep it; a holder whose lease expired
 * anyway cannot commit (the store rejects its fencing token).
 */
final class MoveLocks implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MoveLocks.class);

  /** Long enough for a large batch; a crashed job's locks free themselves after it. */
  static final Duration DEFAULT_LEASE = Duration.ofMinutes(10);

  private final HarnessStore store;
  private final Duration lease;
  private final List<SourceLock> locks = new ArrayList<>();

  private MoveLocks(HarnessStore store, Duration lease) {
    this.store = store;
    this.lease = lease;
  }

  /**
   * Acquires the locks on every given source, or none.
   *
   * @throws io.dataharness.metadata.LockHeldException if another owner holds one of them
   */
  /** The locks of a move: its source and target, for the request's owner. */
  static MoveLocks forMove(HarnessStore store, MoveRequest request) {
    return acquire(
        store, request.table(), request.owner(), DEFAULT_LEASE, request.source(), request.target());
  }

  static MoveLocks acquire(
      HarnessStore store, TableIdentifier table, String owner, Duration lease, String... sources) {
    MoveLocks held = new MoveLocks(store, lease);
    try {
      for (String source : new TreeSet<>(List.of(sources))) {
        held.locks.add(store.acquireLock(table, source, owner, lease));
      }
    } catch (RuntimeException e) {
      held.close();
      throw e;
    }
    LOG.info("Acquired {}", held.locks);
    return held;
  }

  /** Presents every lock to the transaction, renewing those past half their lease first. */
  Transaction present(Transaction transaction) {
    Instant now = Instant.now();
    for (int i = 0; i < locks.size(); i++) {
      SourceLock lock = locks.get(i);
      if (now.isAfter(lock.expiresAt().minus(lease.dividedBy(2)))) {
        lock = store.renewLock(lock, lease);
        locks.set(i, lock);
      }
      transaction.withLock(lock);
    }
    return transaction;
  }

  @Override
  public void close() {
    for (SourceLock lock : locks) {
      try {
        store.releaseLock(lock);
      } catch (RuntimeException e) {
        LOG.warn("Cannot release {}; it frees itself when its lease ends", lock, e);
      }
    }
    locks.clear();
  }
}
