package io.dataharness.metadata;

import java.sql.SQLException;

/** What differs between the databases that can hold harness metadata. */
enum Dialect {
  /**
   * The production store: row locks per source, so writers on different sources run in parallel.
   */
  POSTGRESQL("clock_timestamp()", "SELECT pg_advisory_xact_lock(7313250717)", false),
  /**
   * The embedded store (H2 in PostgreSQL mode): commits to one table are serialized on the table
   * row, which is simple and fast enough for one process.
   */
  H2("CURRENT_TIMESTAMP", null, true);

  final String now;
  final String migrationLock;
  final boolean serializeCommitsOnTable;

  Dialect(String now, String migrationLock, boolean serializeCommitsOnTable) {
    this.now = now;
    this.migrationLock = migrationLock;
    this.serializeCommitsOnTable = serializeCommitsOnTable;
  }

  static Dialect forUrl(String jdbcUrl) {
    if (jdbcUrl.startsWith("jdbc:postgresql:")) {
      return POSTGRESQL;
    }
    if (jdbcUrl.startsWith("jdbc:h2:")) {
      return H2;
    }
    throw new ValidationException(
        "Unsupported metadata store URI '%s': use jdbc:postgresql://host:port/database (production)"
            + " or jdbc:h2:file:/path/to/dir/harness (embedded)",
        jdbcUrl);
  }

  static boolean isUniqueViolation(SQLException e) {
    return "23505".equals(e.getSQLState());
  }

  /**
   * A statement failed by {@code harness_abort} (PostgreSQL, migration 7): it wrote nothing, and
   * what it was told (a table's id) no longer holds.
   */
  static boolean isHarnessAbort(SQLException e) {
    return "DH001".equals(e.getSQLState());
  }

  /**
   * A data exception (SQLSTATE class 22: a value the database cannot store, such as a NUL character
   * in PostgreSQL text): the statement failed, the transaction rolled back, and running it again
   * fails again.
   */
  static boolean isDataException(SQLException e) {
    return String.valueOf(e.getSQLState()).startsWith("22");
  }

  /**
   * Deadlocks, serialization failures and unique violations (a concurrent transaction inserted the
   * same key): the transaction was rolled back, and running it again re-checks what it found.
   */
  static boolean isRetryable(SQLException e) {
    String state = e.getSQLState();
    return "40001".equals(state)
        || "40P01".equals(state)
        || "HYT00".equals(state)
        || isUniqueViolation(e);
  }
}
