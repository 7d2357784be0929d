package io.dataharness.metadata;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit: concurrent commits to one table from this process share one database transaction.
 *
 * <p>Every commit takes the next version from the table's row, so commits to a table serialize on
 * that row; handing the row from one transaction to the next costs more than the commit itself. The
 * first committer becomes the leader: it runs every queued commit, one after another, in one
 * transaction (each still takes its own source locks, checks its own preconditions and gets its own
 * version), commits once, and hands leadership to a waiting committer.
 *
 * <p>A commit whose preconditions fail (a conflict, a stale lock, bad input) fails alone: it is
 * refused before it writes anything, so the others go on. A deadlock, a serialization failure or a
 * commit that fails after writing rolls the batch back, and every commit of it then runs again on
 * its own. Any other database error (a lost connection) fails every commit of the batch with a
 * {@link MetadataStoreException}, exactly as it fails a single commit: the batch may or may not
 * have landed, and a retry with the same idempotency key tells.
 */
final class CommitBatcher {
  private static final Logger LOG = LoggerFactory.getLogger(CommitBatcher.class);
  private static final int MAX_BATCH = 64;

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
    final JdbcCommit commit;
    VersionInfo result;
    RuntimeException error;
    boolean done;
    boolean alone;
    boolean promoted;

    Pending(JdbcCommit commit) {
      this.commit = commit;
    }
  }

  VersionInfo commit(JdbcCommit commit) {
    Pending mine = new Pending(commit);
    boolean lead;
    synchronized (this) {
      queue.add(mine);
      lead = !leading;
      leading = true;
      while (!lead && !mine.done && !mine.promoted) {
        try {
          wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new MetadataStoreException(e, "Interrupted while committing to %s", table);
        }
      }
    }
    if (!mine.done) {
      lead();
    }
    if (mine.alone) {
      return commit.run();
    }
    if (mine.error != null) {
      throw mine.error;
    }
    return mine.result;
  }

  /** Runs one batch (which includes the leader's own commit), then hands leadership on. */
  private void lead() {
    List<Pending> batch = new ArrayList<>();
    synchronized (this) {
      while (!queue.isEmpty() && batch.size() < MAX_BATCH) {
        batch.add(queue.poll());
      }
    }
    run(batch);
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

  private void run(List<Pending> batch) {
    try (Connection connection = store.connect()) {
      connection.setAutoCommit(false);
      try {
        for (Pending pending : batch) {
          try {
            pending.result = pending.commit.attempt(connection);
          } catch (JdbcCommit.WrittenThenFailed e) {
            throw e.getCause();
          } catch (HarnessException e) {
            pending.error = e; // refused before writing: the transaction is intact
          }
        }
        connection.commit();
      } catch (SQLException | RuntimeException e) {
        rollbackQuietly(connection);
        throw e;
      }
    } catch (HarnessException e) {
      runAlone(batch, e); // one commit failed after writing: the others may well succeed
    } catch (SQLException e) {
      if (Dialect.isRetryable(e)) {
        runAlone(batch, e);
      } else {
        // as for a single commit: the batch may or may not have landed; callers retry with keys
        MetadataStoreException failure = store.unavailable(e, "commit to " + table);
        for (Pending pending : batch) {
          pending.result = null;
          pending.error = failure;
        }
      }
    }
  }

  private static void runAlone(List<Pending> batch, Exception cause) {
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
