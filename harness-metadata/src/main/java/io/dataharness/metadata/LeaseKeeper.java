package io.dataharness.metadata;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds a writer's locks on some sources of one table for as long as the writer runs, renewing
 * their short leases in a background daemon thread, so that a killed process stops blocking its
 * rerun within one lease while a live one never loses its locks to a long batch.
 *
 * <pre>{@code
 * try (LeaseKeeper locks = LeaseKeeper.acquire(store, table, owner, List.of("warm", "cold"))) {
 *   locks.present(store.newTransaction(table)).openIntent(id, "move", sources, payload).commit();
 *   // ... side effects; call locks.checkHeld() before each one ...
 *   locks.present(store.newTransaction(table)).setSourceState(...).completeIntent(id).commit();
 * }
 * }</pre>
 *
 * <p>Every lease is renewed every {@code renewEvery}. If a renewal is refused (the lock was broken
 * or taken over: {@link StaleLockException}), the keeper is lost at once. A failure to reach the
 * store is retried at the next tick and makes the keeper lost only once the lease would have run
 * out since the last successful renewal (measured on this machine's monotonic clock from before the
 * renewal was sent, so never later than the store's expiry). A lost keeper stops renewing, and
 * {@link #present} and {@link #checkHeld} throw a {@link StaleLockException} naming the lock: the
 * writer must stop its side effects. {@link #close} stops renewing and releases every lock.
 *
 * <p>Thread-safe.
 */
public final class LeaseKeeper implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LeaseKeeper.class);

  /** A killed holder blocks others for at most this long. */
  public static final Duration DEFAULT_LEASE = Duration.ofSeconds(30);

  /** Three renewals per lease: two may fail in a row without losing the lock. */
  public static final Duration DEFAULT_RENEW_EVERY = Duration.ofSeconds(10);

  private final HarnessStore store;
  private final TableIdentifier table;
  private final Duration lease;
  private final Duration renewEvery;
  private final Object monitor = new Object();
  // guarded by monitor: the locks as last renewed, and until when (System.nanoTime) each is held
  private final List<SourceLock> locks = new ArrayList<>();
  private final List<Long> heldUntilNanos = new ArrayList<>();
  private StaleLockException lost;
  private boolean closed;
  private final Thread renewer;

  private LeaseKeeper(
      HarnessStore store, TableIdentifier table, Duration lease, Duration renewEvery) {
    this.store = store;
    this.table = table;
    this.lease = lease;
    this.renewEvery = renewEvery;
    this.renewer = new Thread(this::renewUntilClosed, "dataharness-lease-" + table);
    renewer.setDaemon(true);
  }

  /**
   * {@link #acquire(HarnessStore, TableIdentifier, String, Duration, Duration, Collection)} with
   * the default lease and renewal interval.
   */
  public static LeaseKeeper acquire(
      HarnessStore store, TableIdentifier table, String owner, Collection<String> sources) {
    return acquire(store, table, owner, DEFAULT_LEASE, DEFAULT_RENEW_EVERY, sources);
  }

  /**
   * Acquires the locks of every source, in source id order (so two writers on overlapping sources
   * cannot deadlock), or none: if one is held, those already acquired are released.
   *
   * @throws LockHeldException if anyone holds one of the locks
   * @throws ValidationException if {@code renewEvery} is not shorter than {@code lease}, or no
   *     source is given
   */
  public static LeaseKeeper acquire(
      HarnessStore store,
      TableIdentifier table,
      String owner,
      Duration lease,
      Duration renewEvery,
      Collection<String> sources) {
    if (lease == null || renewEvery == null || renewEvery.isNegative() || renewEvery.isZero()) {
      throw new ValidationException(
          "Cannot keep locks on %s: give a positive lease and renewal interval (lease %s, renew"
              + " every %s)",
          table, lease, renewEvery);
    }
    if (renewEvery.compareTo(lease) >= 0) {
      throw new ValidationException(
          "Cannot keep locks on %s: renewing every %s does not keep a lease of %s; renew at least"
              + " twice per lease (the defaults are %s and %s)",
          table, renewEvery, lease, DEFAULT_LEASE, DEFAULT_RENEW_EVERY);
    }
    if (sources == null || sources.isEmpty()) {
      throw new ValidationException("Cannot keep locks on %s: no source is given", table);
    }
    LeaseKeeper keeper = new LeaseKeeper(store, table, lease, renewEvery);
    try {
      for (String source : new TreeSet<>(sources)) {
        long before = System.nanoTime();
        SourceLock lock = store.acquireLock(table, source, owner, lease);
        synchronized (keeper.monitor) {
          keeper.locks.add(lock);
          keeper.heldUntilNanos.add(before + lease.toNanos());
        }
      }
    } catch (RuntimeException e) {
      keeper.close();
      throw e;
    }
    keeper.renewer.start();
    LOG.info("Holding {} (lease {}, renewed every {})", keeper.locks(), lease, renewEvery);
    return keeper;
  }

  /** The locks, as last renewed, in source id order. */
  public List<SourceLock> locks() {
    synchronized (monitor) {
      return List.copyOf(locks);
    }
  }

  /** The lock on one source. */
  public SourceLock lock(String sourceId) {
    synchronized (monitor) {
      for (SourceLock lock : locks) {
        if (lock.sourceId().equals(sourceId)) {
          return lock;
        }
      }
    }
    throw new ValidationException(
        "Cannot find a lock on source '%s' of %s: this keeper holds %s",
        sourceId, table, locks().stream().map(SourceLock::sourceId).toList());
  }

  /**
   * Presents every lock to {@code transaction} ({@link Transaction#withLock}).
   *
   * @throws StaleLockException if a lease was lost (see {@link #checkHeld})
   */
  public Transaction present(Transaction transaction) {
    for (SourceLock lock : checkedLocks()) {
      transaction.withLock(lock);
    }
    return transaction;
  }

  /**
   * Checks that every lock is still held as far as this keeper knows: no renewal was refused, and
   * no lease ran out without a successful renewal. Call it before each side effect.
   *
   * @throws StaleLockException naming the lock otherwise, or if the keeper was closed
   */
  public void checkHeld() {
    checkedLocks();
  }

  private List<SourceLock> checkedLocks() {
    synchronized (monitor) {
      if (lost == null && closed) {
        throw new StaleLockException(
            "Cannot use the locks %s on %s: they were released (the lease keeper is closed)",
            locks.stream().map(SourceLock::sourceId).toList(), table);
      }
      if (lost == null) {
        long now = System.nanoTime();
        for (int i = 0; i < locks.size(); i++) {
          if (now - heldUntilNanos.get(i) >= 0) {
            lose(locks.get(i), "its lease ran out without a successful renewal", null);
          }
        }
      }
      if (lost != null) {
        StaleLockException thrown = new StaleLockException("%s", lost.getMessage());
        thrown.initCause(lost);
        throw thrown;
      }
      return List.copyOf(locks);
    }
  }

  /** Marks the keeper lost (once); call with the monitor held. */
  private void lose(SourceLock lock, String reason, Throwable cause) {
    if (lost != null) {
      return;
    }
    lost =
        new StaleLockException(
            "Cannot keep the %s: %s; stop writing to the source, the lock may be someone else's"
                + " now (rerun the job to complete its work)",
            lock, reason);
    if (cause != null) {
      lost.initCause(cause);
    }
    LOG.error("Lost the {}: {}", lock, reason, cause);
    monitor.notifyAll();
  }

  private void renewUntilClosed() {
    long renewNanos = renewEvery.toNanos();
    while (true) {
      synchronized (monitor) {
        long until = System.nanoTime() + renewNanos;
        long remaining = renewNanos;
        while (!closed && lost == null && remaining > 0) {
          try {
            monitor.wait(Math.max(1, remaining / 1_000_000), 0);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            lose(locks.get(0), "its renewal thread was interrupted", e);
            return;
          }
          remaining = until - System.nanoTime();
        }
        if (closed || lost != null) {
          return;
        }
      }
      renewAll();
    }
  }

  private void renewAll() {
    int count;
    synchronized (monitor) {
      count = locks.size();
    }
    for (int i = 0; i < count; i++) {
      SourceLock lock;
      synchronized (monitor) {
        if (closed || lost != null) {
          return;
        }
        lock = locks.get(i);
      }
      long before = System.nanoTime();
      try {
        SourceLock renewed = store.renewLock(lock, lease);
        synchronized (monitor) {
          locks.set(i, renewed);
          heldUntilNanos.set(i, before + lease.toNanos());
        }
      } catch (StaleLockException e) {
        synchronized (monitor) {
          if (!closed) {
            lose(lock, "its renewal was refused (" + e.getMessage() + ")", e);
          }
        }
        return;
      } catch (RuntimeException e) {
        synchronized (monitor) {
          if (closed) {
            return;
          }
          if (System.nanoTime() - heldUntilNanos.get(i) >= 0) {
            lose(lock, "it could not be renewed before its lease ran out (" + e + ")", e);
            return;
          }
        }
        LOG.warn("Cannot renew the {} now; retrying in {}", lock, renewEvery, e);
      }
    }
  }

  /** Stops renewing and releases every lock (a lock no longer held is left alone). Idempotent. */
  @Override
  public void close() {
    List<SourceLock> release;
    synchronized (monitor) {
      if (closed) {
        return;
      }
      closed = true;
      monitor.notifyAll();
      release = List.copyOf(locks);
    }
    if (renewer.isAlive() && Thread.currentThread() != renewer) {
      try {
        renewer.join(lease.toMillis()); // a renewal in flight ends before the release
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    for (SourceLock lock : release) {
      try {
        store.releaseLock(lock);
      } catch (RuntimeException e) {
        LOG.warn("Cannot release the {}; it frees itself when its lease ends", lock, e);
      }
    }
    if (!release.isEmpty()) {
      LOG.info("Released {}", release);
    }
  }
}
