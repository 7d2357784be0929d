package io.dataharness.metadata;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit: concurrent commits to one table from this process share one database transaction.
 *
 * <p>Every commit takes the next version from the table's row, so commits to a table serialize on
 * that row; handing the row from one transaction to the next costs more than the commit itself. The
 * first committer becomes the leader: it runs every queued commit, one after another, in one
 * transaction (each still takes its own source locks, checks its own preconditions and gets its own
 * version), commits once, and hands leadership to a waiting committer. On PostgreSQL the batch's
 * plain state commits on disjoint sources go first, in one call of the database function that
 * checks and writes them (one round trip for the whole batch, see {@link JdbcCommit#fast()}); the
 * others, and those it found not current, then run statement by statement in one transaction.
 *
 * <p>Each commit fails alone:
 *
 * <ul>
 *   <li>A commit whose preconditions fail (a conflict, a stale lock, bad input) is refused before
 *       it writes anything, so the others go on in the same transaction.
 *   <li>A deadlock, a serialization failure, a value the database refuses (SQLSTATE class 22, such
 *       as a NUL character on PostgreSQL, which aborts the whole transaction), a commit that fails
 *       after writing, or any other exception or error thrown by one commit rolls the batch back,
 *       and every other commit of it then runs again on its own.
 *   <li>Any other database error (a lost connection) fails every commit of the batch with a {@link
 *       MetadataStoreException}, exactly as it fails a single commit: the batch may or may not have
 *       landed, and a retry with the same idempotency key tells.
 * </ul>
 *
 * <p>Nothing hangs: leadership is handed on whatever happens to the leader's batch, and a waiter
 * interrupted while its commit is still queued withdraws it (nothing was committed) and throws;
 * once a leader has taken it, it waits for the outcome and keeps its interrupt status.
 */
final class CommitBatcher {
  private static final Logger LOG = LoggerFactory.getLogger(CommitBatcher.class);
  private static final int MAX_BATCH = 64;

  /** One commit as the batcher runs it: in a shared transaction, or alone. */
  interface BatchedCommit {
    /**
     * Runs the commit in {@code connection}'s open transaction. A {@link HarnessException} means it
     * was refused before writing anything; {@link JdbcCommit.WrittenThenFailed} that the
     * transaction must be rolled back.
     */
    VersionInfo attempt(Connection connection) throws SQLException;

    /** Runs the commit in a transaction of its own. */
    VersionInfo run();

    /**
     * The commit as one the database checks and writes in one call with others, or null if it must
     * run statement by statement.
     */
    default JdbcCommit.Fast fast() {
      return null;
    }
  }

  private final JdbcHarnessStore store;
  private final TableIdentifier table;
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  private boolean leading;

  CommitBatcher(JdbcHarnessStore store, TableIdentifier table) {
    this.store = store;
    this.table = table;
  }

  /** A queued commit and what became of it. */
  private static final class Pending {
    final BatchedCommit commit;

    /** The commit as one call checks and writes it, prepared by its own thread (or null). */
    final JdbcCommit.Fast plan;

    VersionInfo result;
    Throwable error;
    boolean taken;
    boolean done;
    boolean alone;
    boolean promoted;

    Pending(BatchedCommit commit) {
      this.commit = commit;
      this.plan = plan(commit); // in the committer's thread, not the leader's
    }

    private static JdbcCommit.Fast plan(BatchedCommit commit) {
      try {
        return commit.fast();
      } catch (RuntimeException e) {
        return null; // the statement-by-statement path reports it
      }
    }
  }

  VersionInfo commit(BatchedCommit commit) {
    Pending mine = new Pending(commit);
    boolean interrupted = false;
    synchronized (this) {
      queue.add(mine);
      boolean lead = !leading;
      leading = true;
      while (!lead && !mine.done && !mine.promoted) {
        try {
          wait();
        } catch (InterruptedException e) {
          if (!mine.taken && !mine.promoted) {
            queue.remove(mine); // no leader has it: withdraw it
            Thread.currentThread().interrupt();
            throw new MetadataStoreException(
                e,
                "Cannot commit to %s: interrupted while waiting for the group commit; nothing was"
                    + " committed",
                table);
          }
          interrupted = true; // a leader runs it (or it leads next): see it through
        }
      }
    }
    try {
      if (!mine.done) {
        lead();
      }
      if (mine.alone) {
        return commit.run();
      }
      if (mine.error instanceof RuntimeException e) {
        throw e;
      }
      if (mine.error instanceof Error e) {
        throw e;
      }
      if (mine.error != null) {
        throw new MetadataStoreException(mine.error, "Cannot commit to %s", table);
      }
      return mine.result;
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt(); // kept, once the commit has an outcome
      }
    }
  }

  /** How many commits wait for a leader (for tests). */
  synchronized int queued() {
    return queue.size();
  }

  /** Runs one batch (which includes the leader's own commit), then hands leadership on. */
  private void lead() {
    List<Pending> batch = new ArrayList<>();
    synchronized (this) {
      while (!queue.isEmpty() && batch.size() < MAX_BATCH) {
        Pending pending = queue.poll();
        pending.taken = true;
        batch.add(pending);
      }
    }
    try {
      run(batch);
    } catch (Throwable e) {
      // run() accounts for every commit; if it could not, none may be left without an outcome
      for (Pending pending : batch) {
        if (pending.result == null && pending.error == null && !pending.alone) {
          pending.error = e;
        }
      }
      LOG.error("Group commit to {} failed unexpectedly", table, e);
    } finally {
      synchronized (this) {
        for (Pending pending : batch) {
          pending.done = true;
        }
        Pending next = queue.peek();
        if (next == null) {
          leading = false;
        } else {
          next.promoted = true;
        }
        notifyAll();
      }
    }
  }

  private void run(List<Pending> batch) {
    List<Pending> rest = runFast(batch);
    if (!rest.isEmpty()) {
      runStepwise(rest);
    }
  }

  /**
   * Writes the batch's plain state commits in one call, which is its own database transaction
   * (PostgreSQL: {@link JdbcCommit#writeFast}); returns the commits left to run statement by
   * statement, in their order: those that are not plain, and those the database found not current.
   */
  private List<Pending> runFast(List<Pending> batch) {
    List<Pending> fastOnes = new ArrayList<>();
    List<JdbcCommit.Fast> plans = new ArrayList<>();
    // the call checks and writes its commits set-wise: they must change disjoint sources and have
    // distinct keys (a commit that shares one goes statement by statement after it)
    Set<String> sources = new HashSet<>();
    Set<String> keys = new HashSet<>();
    for (Pending pending : batch) {
      JdbcCommit.Fast plan = pending.plan;
      if (plan != null
          && plan.sources().stream().noneMatch(sources::contains)
          && (plan.idempotencyKey() == null || !keys.contains(plan.idempotencyKey()))) {
        sources.addAll(plan.sources());
        if (plan.idempotencyKey() != null) {
          keys.add(plan.idempotencyKey());
        }
        fastOnes.add(pending);
        plans.add(plan);
      }
    }
    if (plans.isEmpty()) {
      return batch;
    }
    VersionInfo[] results;
    try (Connection connection = store.connect()) {
      if (!connection.getAutoCommit()) {
        connection.setAutoCommit(true);
      }
      results = JdbcCommit.writeFast(connection, table, plans);
    } catch (SQLException e) {
      failed(fastOnes, e);
      return without(batch, fastOnes);
    } catch (RuntimeException | Error e) {
      fail(fastOnes, outcomeUnknown(e));
      return without(batch, fastOnes);
    }
    List<Pending> written = new ArrayList<>();
    for (int i = 0; i < plans.size(); i++) {
      if (results[i] != null) {
        Pending pending = fastOnes.get(i);
        pending.result = results[i];
        plans.get(i).commit().written(plans.get(i), results[i]);
        written.add(pending);
      }
    }
    return without(batch, written);
  }

  /**
   * A batch's statement failed: a retryable or data error, or {@code harness_abort}, left nothing
   * written, so each runs alone, statement by statement, which retries or reports it; any other
   * error may or may not have landed (as for a single commit: callers retry with their keys).
   */
  private void failed(List<Pending> batch, SQLException e) {
    if (Dialect.isHarnessAbort(e)) {
      store.forgetStates(table); // the table id this process knew is stale (the table renamed)
    }
    if (Dialect.isHarnessAbort(e) || Dialect.isRetryable(e) || Dialect.isDataException(e)) {
      runAlone(batch, e);
    } else {
      fail(batch, store.unavailable(e, "commit to " + table));
    }
  }

  private MetadataStoreException outcomeUnknown(Throwable e) {
    return new MetadataStoreException(
        e,
        "Cannot commit to %s: the group commit failed (%s); it may or may not have landed,"
            + " retry with the same idempotency key",
        table,
        e);
  }

  private static void fail(List<Pending> batch, MetadataStoreException failure) {
    for (Pending pending : batch) {
      pending.result = null;
      pending.error = failure;
    }
  }

  private static List<Pending> without(List<Pending> batch, List<Pending> done) {
    List<Pending> rest = new ArrayList<>(batch);
    rest.removeAll(done);
    return rest;
  }

  private void runStepwise(List<Pending> batch) {
    Pending current = null;
    try (Connection connection = store.connect()) {
      connection.setAutoCommit(false);
      try {
        for (Pending pending : batch) {
          current = pending;
          try {
            pending.result = pending.commit.attempt(connection);
          } catch (JdbcCommit.WrittenThenFailed e) {
            throw e.getCause();
          } catch (HarnessException e) {
            pending.error = e; // refused before writing: the transaction is intact
          }
        }
        current = null;
        connection.commit();
      } catch (Throwable e) {
        rollbackQuietly(connection);
        throw e;
      }
    } catch (HarnessException e) {
      runAlone(batch, e); // one commit failed after writing: the others may well succeed
    } catch (SQLException e) {
      failed(batch, e);
    } catch (RuntimeException | Error e) {
      if (current == null) {
        // thrown by the database commit itself: as a lost connection, the outcome is unknown
        fail(batch, outcomeUnknown(e));
      } else {
        // one commit threw (a bug, an error of the JVM): it fails alone, the others run again
        runAlone(batch, e);
        current.alone = false;
        current.error = e;
      }
    }
  }

  private static void runAlone(List<Pending> batch, Throwable cause) {
    LOG.debug(
        "Group commit of {} commits rolled back ({}); committing each alone",
        batch.size(),
        cause.toString());
    for (Pending pending : batch) {
      pending.alone = true;
      pending.error = null;
      pending.result = null;
    }
  }

  private static void rollbackQuietly(Connection connection) {
    try {
      connection.rollback();
    } catch (SQLException ignored) {
      // the connection is broken; the database rolls the transaction back
    }
  }
}
