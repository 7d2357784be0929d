package io.dataharness.spark.source;

import static io.dataharness.spark.source.PostgresTableName.quote;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SchemaDiff;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * PostgreSQL sources are system-versioned: registering one installs a history table beside it and a
 * PL/pgSQL trigger that keeps every old row image with the transactions that wrote and ended it, so
 * a scan at a recorded state returns exactly the rows visible then.
 *
 * <p>A state ({@link SourceState.Jdbc}) records {@code pg_current_snapshot()}: an image is visible
 * in it if and only if the transaction that wrote it is visible in the snapshot (or it predates
 * registration) and the transaction that ended it is not. A state never shows part of a
 * transaction. States recorded before snapshots were (timestamp only) still read the images valid
 * at their read timestamp.
 *
 * <p>What registering table {@code s.t} installs (all plain SQL and PL/pgSQL, no extension):
 *
 * <ul>
 *   <li>the system columns {@value #VALID_FROM} {@code timestamptz NOT NULL DEFAULT '-infinity'}
 *       and {@value #XID} {@code xid8} (null) on {@code s.t}: rows that existed before registration
 *       are visible from the beginning of time;
 *   <li>the history table {@code s.t_harness_history}: every column of {@code s.t} plus {@value
 *       #VALID_TO}, {@value #DELETED_XID} and {@value #MOVED}, with the partial B-tree index {@code
 *       s.t_harness_history_ended} on {@value #DELETED_XID} of the images statements other than
 *       moves ended (reads of recent snapshots look images up by it) and the BRIN index {@code
 *       s.t_harness_history_to} on {@value #VALID_TO} (moves' images, found by when their delete
 *       ended them; lag and timestamp-only reads);
 *   <li>the function {@code s.t_harness_unseen_moves(pg_snapshot)} ({@code SECURITY DEFINER},
 *       executable by anyone): when the earliest move a snapshot does not see ended its images, so
 *       that readers find moves' images without any privilege on {@value #MOVES_TABLE};
 *   <li>the function {@code s.t_harness_versioning()} and the row trigger {@code
 *       harness_versioning} ({@code BEFORE INSERT OR UPDATE}, enabled {@code ALWAYS} so that it
 *       also fires for logical replication): inserts and updates stamp the new image's {@value
 *       #VALID_FROM} with {@code clock_timestamp()} and its {@value #XID} with {@code
 *       pg_current_xact_id()}; updates and deletes copy the old image into the history table with
 *       {@value #VALID_TO} set to the same clock value and {@value #DELETED_XID} to the same
 *       transaction id. The function is {@code SECURITY DEFINER} (it runs as the role that
 *       registered the table, with a fixed {@code search_path}), so application roles that may only
 *       insert, update and delete rows of {@code s.t} need no privilege on the history table, and
 *       cannot write it directly;
 *   <li>the statement trigger {@code harness_refuse_truncate} ({@code BEFORE TRUNCATE}, same
 *       function, enabled {@code ALWAYS}): {@code TRUNCATE} fires no row trigger, so it would
 *       remove rows without history and change what earlier versions read; it is refused with an
 *       error that says to {@code DELETE} instead;
 *   <li>the function {@code s.t_harness_deletes()} ({@code SECURITY DEFINER} too) and the statement
 *       trigger {@code harness_versioning_deletes} ({@code AFTER DELETE}, with the transition table
 *       of deleted rows): copies all images a DELETE statement removed in one INSERT (a move's
 *       delete marks them {@value #MOVED} and records their end in its row); statement triggers do
 *       not fire under logical replication, so there the row trigger {@code
 *       harness_versioning_replica_deletes} ({@code BEFORE DELETE}, enabled {@code REPLICA}: only
 *       then) copies them with the function above;
 *   <li>the table {@code s.}{@value #MOVES_TABLE}, where moves to Iceberg record their deletes and
 *       upserts their merges (so that a rerun never applies them twice).
 * </ul>
 *
 * <p>Registering again is harmless, and is how the trigger and history table follow columns added
 * to or widened in the table, and how a table registered by an earlier harness gets the columns
 * above (writers that commit while it runs wait for its lock). User columns are never changed.
 * Needs PostgreSQL 13 or later ({@code xid8}). Registering needs the table's ownership and {@code
 * CREATE} on its schema, nothing more (see {@code docs/postgresql-privileges.md}).
 */
public final class PostgresSources {
  /** System column added to a registered table: when its row image became valid. */
  public static final String VALID_FROM = "harness_valid_from";

  /** Column of the history table: when an old row image stopped being valid. */
  public static final String VALID_TO = "harness_valid_to";

  /**
   * System column added to a registered table and kept in its history table: the transaction
   * ({@code pg_current_xact_id()}) that wrote the row image; null for images written before
   * registration (visible from the beginning).
   */
  public static final String XID = "harness_xid";

  /**
   * Column of the history table: the transaction ({@code pg_current_xact_id()}) that ended an old
   * row image, by an update or a delete. A move finds exactly the images it deleted by it.
   */
  public static final String DELETED_XID = "harness_deleted_xid";

  /**
   * Table in the source table's schema recording each move out of a source table: the move's intent
   * id, the transaction that deleted its rows, how many, and when. A move's delete inserts its row
   * in the same transaction, so the row exists if and only if the delete committed.
   */
  public static final String MOVES_TABLE = "harness_moves";

  /**
   * Column of the history table: true for the images a move's delete ended, null for the images any
   * other statement ended. Moves' images are left out of the B-tree index on {@value #DELETED_XID}
   * (a move ends many images in one statement, and indexing each cost a move about as much as
   * copying it): a read finds them through the move's row in {@value #MOVES_TABLE}, which records
   * when the delete ended them ({@code images_at}, equal to their {@value #VALID_TO}).
   */
  public static final String MOVED = "harness_moved";

  /**
   * The transaction-local setting through which a move's delete names its move to the statement
   * trigger ({@code set_config(..., true)}); the trigger trusts it only when the move's row in
   * {@value #MOVES_TABLE} has the deleting transaction's id.
   */
  static final String MOVE_SETTING = "dataharness.move";

  /** How long {@link #safeReadTimestamp} waits for writers whose start time it may not see. */
  static final Duration INVISIBLE_WRITER_WAIT = Duration.ofSeconds(30);

  private static final DateTimeFormatter TIMESTAMP_LITERAL =
      DateTimeFormatter.ofPattern("uuuu-MM-dd HH:mm:ss.SSSSSS").withZone(ZoneOffset.UTC);

  private PostgresSources() {}

  /**
   * Registers a jdbc source: creates the table from the harness schema if it is missing, installs
   * the history table and trigger (idempotently), and returns the state the source starts at.
   *
   * <p>The source option {@code table} is {@code schema.table} or {@code table} (schema {@code
   * public}), read as PostgreSQL reads names. Everything happens in one database transaction; a
   * concurrent registration of the same table waits for it.
   */
  public static SourceState.Jdbc register(
      ConnectionConfig connection, SourceDefinition source, Schema schema) {
    PostgresTableName table = PostgresTableName.of(source);
    checkNoSystemColumnMapped(source, schema);
    inTransaction(
        connection,
        jdbc -> install(jdbc, source, schema, table),
        e ->
            new SourceUnavailableException(
                connection.scrub(e),
                "Cannot register source '%s' on PostgreSQL table %s at %s (connection '%s'): %s",
                source.id(),
                table,
                maskedUrl(connection),
                connection.name(),
                connection.scrub(e.getMessage())));
    return currentState(connection, source, null);
  }

  /**
   * Makes a registered table follow a harness schema change ({@code ALTER TABLE}): adds the new
   * columns (nullable), widens types, drops NOT NULL where a column became optional and sets column
   * comments, then registers the table again so that its history table and trigger follow; all in
   * one database transaction. Idempotent: running it again after a failure completes it. Renamed
   * and dropped columns are left as they are (see {@link SchemaDiff}).
   */
  public static void evolve(ConnectionConfig connection, SourceDefinition source, SchemaDiff diff) {
    PostgresTableName table = PostgresTableName.of(source);
    inTransaction(
        connection,
        jdbc -> evolve(jdbc, source, diff, table),
        e ->
            new SourceUnavailableException(
                connection.scrub(e),
                "Cannot alter source '%s' (PostgreSQL table %s at %s): %s",
                source.id(),
                table,
                maskedUrl(connection),
                connection.scrub(e.getMessage())));
  }

  private static void evolve(
      Connection jdbc, SourceDefinition source, SchemaDiff diff, PostgresTableName table)
      throws SQLException {
    Map<String, Column> columns = columns(jdbc, table.schema(), table.table());
    if (columns.isEmpty()) {
      throw new SourceUnavailableException(
          "Cannot alter source '%s': PostgreSQL table %s does not exist", source.id(), table);
    }
    Map<String, Column> history = columns(jdbc, table.schema(), table.historyTable());
    for (Field field : diff.added()) {
      String column = source.sourceColumn(field.name());
      Column existing = columns.get(column);
      // a constant default fills every row already there (PostgreSQL 11+ without rewriting the
      // table), in the history table too: its old images read the default at later versions
      String definition =
          quote(column)
              + " "
              + postgresType(field.type())
              + (field.defaultValue() == null ? "" : " DEFAULT " + postgresLiteral(field));
      if (existing == null) {
        execute(jdbc, "ALTER TABLE " + table.qualified() + " ADD COLUMN " + definition);
        if (!history.isEmpty() && !history.containsKey(column)) {
          execute(jdbc, "ALTER TABLE " + table.qualifiedHistory() + " ADD COLUMN " + definition);
        }
      } else if (!sameType(existing.type(), field.type())) {
        throw new ValidationException(
            "Cannot add column '%s' to source '%s': PostgreSQL table %s already has a column"
                + " %s of type %s, not %s; drop or rename that column, or add the harness"
                + " column under another name",
            field.name(), source.id(), table, column, existing.type(), field.type());
      }
    }
    for (Field field : diff.widened()) {
      String column = source.sourceColumn(field.name());
      Column existing = columns.get(column);
      if (existing != null && !sameType(existing.type(), field.type())) {
        execute(
            jdbc,
            "ALTER TABLE "
                + table.qualified()
                + " ALTER COLUMN "
                + quote(column)
                + " TYPE "
                + postgresType(field.type()));
      }
    }
    for (Field field : diff.madeOptional()) {
      execute(
          jdbc,
          "ALTER TABLE "
              + table.qualified()
              + " ALTER COLUMN "
              + quote(source.sourceColumn(field.name()))
              + " DROP NOT NULL");
    }
    for (Field field : diff.commented()) {
      try (PreparedStatement comment =
          jdbc.prepareStatement(
              "COMMENT ON COLUMN "
                  + table.qualified()
                  + "."
                  + quote(source.sourceColumn(field.name()))
                  + " IS "
                  + (field.doc() == null ? "NULL" : quoteLiteral(field.doc())))) {
        comment.execute();
      }
    }
    install(jdbc, source, null, table);
  }

  /**
   * Deletes the history images of a registered table that {@code oldestKept} (the state the oldest
   * version kept after an expiry records) and every later state cannot read: images ended by a
   * transaction visible in its snapshot, which every later snapshot also sees, and moves recorded
   * before it. Returns the number of history images deleted, or -1 when the state has no snapshot
   * (states read by timestamp only: nothing is deleted, as a later snapshot could still need an
   * image a timestamp excludes). Call it only when no open intent covers the source: a move that
   * stopped after its delete finishes from the images this deletes.
   */
  public static long removeHistoryBefore(
      ConnectionConfig connection, SourceDefinition source, SourceState.Jdbc oldestKept) {
    if (oldestKept.snapshot() == null) {
      return -1;
    }
    PostgresTableName table = PostgresTableName.of(source);
    // validated by SourceState.Jdbc: digits, colons and commas only
    String xmin = "pg_snapshot_xmin('" + oldestKept.snapshot() + "'::pg_snapshot)";
    long[] deleted = new long[1];
    inTransaction(
        connection,
        jdbc -> {
          try (Statement statement = jdbc.createStatement()) {
            deleted[0] =
                statement.executeUpdate(
                    "DELETE FROM "
                        + table.qualifiedHistory()
                        + " WHERE "
                        + quote(DELETED_XID)
                        + " < "
                        + xmin);
            statement.executeUpdate(
                "DELETE FROM "
                    + table.qualifiedMoves()
                    + " WHERE source_table = "
                    + quoteLiteral(table.toString())
                    + " AND xid < "
                    + xmin);
          }
        },
        e ->
            new SourceUnavailableException(
                connection.scrub(e),
                "Cannot release the history of source '%s' (PostgreSQL table %s at %s): %s; run"
                    + " the expiry again",
                source.id(),
                table,
                maskedUrl(connection),
                connection.scrub(e.getMessage())));
    return deleted[0];
  }

  /** Row changes of a registered table after a read timestamp: how many, and when the first was. */
  public record Changes(long rows, Instant first) {}

  /**
   * The row changes a state read at {@code since} does not show: new row images written after it
   * (inserts and updates) and images ended after it (updates and deletes), by their clock stamps.
   */
  public static Changes changesSince(
      ConnectionConfig connection, SourceDefinition source, Instant since) {
    PostgresTableName table = PostgresTableName.of(source);
    String at = timestampLiteral(since);
    String sql =
        "SELECT count(*), min(t) FROM (SELECT "
            + quote(VALID_FROM)
            + " AS t FROM "
            + table.qualified()
            + " WHERE "
            + quote(VALID_FROM)
            + " > "
            + at
            + " UNION ALL SELECT "
            + quote(VALID_TO)
            + " FROM "
            + table.qualifiedHistory()
            + " WHERE "
            + quote(VALID_TO)
            + " > "
            + at
            + ") AS changes";
    try (Connection jdbc = connect(connection);
        Statement statement = jdbc.createStatement();
        ResultSet result = statement.executeQuery(sql)) {
      result.next();
      OffsetDateTime first = result.getObject(2, OffsetDateTime.class);
      return new Changes(result.getLong(1), first == null ? null : first.toInstant());
    } catch (SQLException e) {
      throw new SourceUnavailableException(
          connection.scrub(e),
          "Cannot read the changes of source '%s' (PostgreSQL table %s at %s): %s",
          source.id(),
          table,
          maskedUrl(connection),
          connection.scrub(e.getMessage()));
    }
  }

  /** SQL work on one connection. */
  private interface SqlWork {
    void run(Connection jdbc) throws SQLException;
  }

  /** Runs {@code work} in one database transaction, rolled back if it fails. */
  private static void inTransaction(
      ConnectionConfig connection,
      SqlWork work,
      java.util.function.Function<SQLException, RuntimeException> unavailable) {
    try (Connection jdbc = connect(connection)) {
      jdbc.setAutoCommit(false);
      try {
        work.run(jdbc);
        jdbc.commit();
      } catch (SQLException | RuntimeException e) {
        jdbc.rollback();
        throw e;
      }
    } catch (SQLException e) {
      throw unavailable.apply(e);
    }
  }

  /** Whether a column of PostgreSQL type {@code formatted} (format_type) holds {@code type}. */
  private static boolean sameType(String formatted, FieldType type) {
    String created = postgresType(type);
    return formatted.equals(
        switch (created) {
          case "timestamptz" -> "timestamp with time zone";
          case "timestamp" -> "timestamp without time zone";
          default -> created;
        });
  }

  /** A field's default as a PostgreSQL constant of the column's type. */
  static String postgresLiteral(Field field) {
    Object value = field.defaultJavaValue();
    String text =
        value instanceof byte[] bytes
            ? "\\x" + java.util.HexFormat.of().formatHex(bytes)
            : field.type().formatValue(value);
    return quoteLiteral(text) + "::" + postgresType(field.type());
  }

  private static String quoteLiteral(String text) {
    return "'" + text.replace("'", "''") + "'";
  }

  /**
   * The state a commit may record now: {@code pg_current_snapshot()} taken after everything
   * committed before the call (so it shows every committed transaction whole, and none in part),
   * with the {@linkplain #safeReadTimestamp safe read timestamp} of the moment, never earlier than
   * the recorded one. A table registered by an earlier harness is registered again first (its
   * trigger must stamp transaction ids before a snapshot state can read it).
   *
   * @param recorded the state the source has now, or null
   */
  public static SourceState.Jdbc currentState(
      ConnectionConfig connection, SourceDefinition source, SourceState.Jdbc recorded) {
    PostgresTableName table = PostgresTableName.of(source);
    try (Connection jdbc = connect(connection)) {
      jdbc.setAutoCommit(true);
      if (!isInstalled(jdbc, table)) {
        jdbc.setAutoCommit(false);
        try {
          install(jdbc, source, null, table);
          jdbc.commit();
        } catch (SQLException | RuntimeException e) {
          jdbc.rollback();
          throw e;
        }
        jdbc.setAutoCommit(true);
      }
      Instant readTimestamp = safeReadTimestamp(jdbc, connection, null);
      if (recorded != null && readTimestamp.isBefore(recorded.readTimestamp())) {
        readTimestamp = recorded.readTimestamp();
      }
      String snapshot;
      try (Statement statement = jdbc.createStatement();
          ResultSet result = statement.executeQuery("SELECT pg_current_snapshot()::text")) {
        result.next();
        snapshot = result.getString(1);
      }
      return new SourceState.Jdbc(readTimestamp, snapshot);
    } catch (SQLException e) {
      throw new SourceUnavailableException(
          connection.scrub(e),
          "Cannot read the state of source '%s' (PostgreSQL table %s at %s, connection '%s'): %s",
          source.id(),
          table,
          maskedUrl(connection),
          connection.name(),
          connection.scrub(e.getMessage()));
    }
  }

  /**
   * The read timestamp a commit may record now: every row image valid at it belongs to a committed
   * transaction, so reads at it never change later.
   *
   * <p>It is {@code LEAST(now, start of the oldest other transaction of this database that holds a
   * transaction id) - 1 microsecond}. The trigger assigns its transaction an id before it reads
   * {@code clock_timestamp()}, so every clock value a writer stamps is at or after both its {@code
   * xact_start} and the moment its id became visible in {@code pg_stat_activity}. Reading the clock
   * first and {@code pg_stat_activity} second (in separate statements, so in that order) therefore
   * finds every transaction that may still commit a row image stamped before "now"; each of them
   * started after the returned timestamp, so none of their images are valid at it.
   *
   * <p>{@code pg_stat_activity} shows the transaction start of other users' sessions only to
   * members of {@code pg_read_all_stats} (or superusers). When a transaction holding an id shows no
   * start time, this method waits (up to 30 s) until it ends instead; grant {@code
   * pg_read_all_stats} to the connection's user, or use the writers' user, to avoid that wait.
   * Prepared (two-phase) transactions are not seen at all: a table written by {@code PREPARE
   * TRANSACTION} is not supported.
   */
  public static Instant safeReadTimestamp(ConnectionConfig connection) {
    return safeReadTimestamp(connection, null);
  }

  /**
   * Like {@link #safeReadTimestamp(ConnectionConfig)}, but not earlier than {@code atLeast}: while
   * transactions that started before {@code atLeast} still run, it waits for them (up to 30 s). A
   * mover that deleted rows passes the clock value read after its deletes, so that the deleted row
   * images are no longer valid at the returned timestamp.
   */
  public static Instant safeReadTimestamp(ConnectionConfig connection, Instant atLeast) {
    try (Connection jdbc = connect(connection)) {
      jdbc.setAutoCommit(true);
      return safeReadTimestamp(jdbc, connection, atLeast);
    } catch (SQLException e) {
      throw cannotComputeReadTimestamp(connection, e);
    }
  }

  /** The current time of the database server ({@code clock_timestamp()}, not transaction time). */
  public static Instant clock(Connection jdbc) throws SQLException {
    try (Statement statement = jdbc.createStatement();
        ResultSet result = statement.executeQuery("SELECT clock_timestamp()")) {
      result.next();
      return result.getObject(1, OffsetDateTime.class).toInstant();
    }
  }

  private static SourceUnavailableException cannotComputeReadTimestamp(
      ConnectionConfig connection, SQLException e) {
    return new SourceUnavailableException(
        connection.scrub(e),
        "Cannot compute a read timestamp on PostgreSQL at %s (connection '%s'): %s",
        maskedUrl(connection),
        connection.name(),
        connection.scrub(e.getMessage()));
  }

  private static Instant safeReadTimestamp(
      Connection jdbc, ConnectionConfig connection, Instant atLeast) throws SQLException {
    long deadline = System.nanoTime() + INVISIBLE_WRITER_WAIT.toNanos();
    long pause = 5;
    while (true) {
      Instant bound = safeReadTimestampOnce(jdbc, connection);
      if (atLeast == null || !bound.isBefore(atLeast.truncatedTo(ChronoUnit.MICROS))) {
        return bound;
      }
      if (System.nanoTime() > deadline) {
        throw new SourceUnavailableException(
            "Cannot compute a read timestamp on PostgreSQL at %s (connection '%s') at or after %s:"
                + " transactions that started at %s are still running after %d s; end long"
                + " transactions on this database",
            maskedUrl(connection),
            connection.name(),
            atLeast,
            bound.plus(1, ChronoUnit.MICROS),
            INVISIBLE_WRITER_WAIT.toSeconds());
      }
      sleep(pause);
      pause = Math.min(pause * 2, 200);
    }
  }

  private static Instant safeReadTimestampOnce(Connection jdbc, ConnectionConfig connection)
      throws SQLException {
    Instant now = clock(jdbc);
    Instant bound = now;
    Map<Integer, String> invisibleWriters = new HashMap<>();
    clearActivitySnapshot(jdbc);
    try (Statement statement = jdbc.createStatement();
        ResultSet result =
            statement.executeQuery(
                "SELECT pid, backend_xid::text, xact_start FROM pg_stat_activity"
                    + " WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                    + " AND datname = current_database()")) {
      while (result.next()) {
        OffsetDateTime start = result.getObject(3, OffsetDateTime.class);
        if (start == null) {
          invisibleWriters.put(result.getInt(1), result.getString(2));
        } else if (start.toInstant().isBefore(bound)) {
          bound = start.toInstant();
        }
      }
    }
    if (!invisibleWriters.isEmpty()) {
      awaitEnd(jdbc, connection, invisibleWriters);
    }
    return bound.minus(1, ChronoUnit.MICROS).truncatedTo(ChronoUnit.MICROS);
  }

  /**
   * Inside a transaction PostgreSQL keeps the first view of {@code pg_stat_activity} until the
   * transaction ends; clearing it makes the next read current (outside one it does nothing).
   */
  private static void clearActivitySnapshot(Connection jdbc) throws SQLException {
    if (!jdbc.getAutoCommit()) {
      execute(jdbc, "SELECT pg_stat_clear_snapshot()");
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SourceUnavailableException(e, "Interrupted while computing a read timestamp");
    }
  }

  /**
   * The SQL that returns the source's rows valid at {@code readTimestamp}, with one column per
   * harness field (named by the harness field, read from the mapped source column; a field the
   * source lacks reads as NULL).
   *
   * <p>This form has no database access, so it reads every field from its mapped column; use {@link
   * #asOfQuery(SourceDefinition, Schema, Instant, Set)} with {@link #sourceColumns} when fields may
   * be missing from the table.
   */
  public static String asOfQuery(SourceDefinition source, Schema schema, Instant readTimestamp) {
    return asOfQuery(source, schema, readTimestamp, null);
  }

  /**
   * The SQL that returns the source's rows visible at {@code state}; see {@link SourceState.Jdbc}.
   * Assumes the table was registered by this harness; readers use {@link
   * #asOfQuery(ConnectionConfig, SourceDefinition, Schema, SourceState.Jdbc)}.
   */
  public static String asOfQuery(SourceDefinition source, Schema schema, SourceState.Jdbc state) {
    return asOfQuery(source, schema, state, null);
  }

  /**
   * The SQL that returns the source's rows visible at {@code state}, also for a table an earlier
   * harness registered (whose moves' images are not marked yet): until registering again installs
   * {@code s.t_harness_unseen_moves}, it reads every image a transaction the snapshot misses ended
   * in one pass over the history, which also holds for images marked meanwhile. Asks the database
   * once per table and JVM, until the function exists.
   */
  public static String asOfQuery(
      ConnectionConfig connection, SourceDefinition source, Schema schema, SourceState.Jdbc state) {
    return asOfQuery(
        source, schema, state, null, state.snapshot() == null || marksMoves(connection, source));
  }

  /**
   * The SQL that returns the source's rows visible at {@code state}, one column per harness field:
   * by snapshot when the state has one (an image is visible if its writing transaction is visible
   * in the snapshot, or it predates registration, and the transaction that ended it is not), by
   * read timestamp otherwise.
   *
   * @param sourceColumns the table's column names, or null to assume every mapped column exists
   */
  public static String asOfQuery(
      SourceDefinition source, Schema schema, SourceState.Jdbc state, Set<String> sourceColumns) {
    return asOfQuery(source, schema, state, sourceColumns, true);
  }

  private static String asOfQuery(
      SourceDefinition source,
      Schema schema,
      SourceState.Jdbc state,
      Set<String> sourceColumns,
      boolean marksMoves) {
    if (state.snapshot() == null) {
      return asOfQuery(source, schema, state.readTimestamp(), sourceColumns);
    }
    PostgresTableName table = PostgresTableName.of(source);
    String selectList = selectList(source, schema, sourceColumns);
    // validated by SourceState.Jdbc: digits, colons and commas only
    String snapshot = "'" + state.snapshot() + "'::pg_snapshot";
    // one evaluation per query (a scalar subquery), not one per image
    String unseenMovesEnd =
        "(SELECT " + table.qualifiedUnseenMovesFunction() + "(" + snapshot + "))";
    String written =
        "("
            + quote(XID)
            + " IS NULL OR pg_visible_in_snapshot("
            + quote(XID)
            + ", "
            + snapshot
            + "))";
    // ended by a transaction the snapshot does not see (cheap through the index: one not visible
    // yet has an id at least the snapshot's xmin)
    String notSeen =
        quote(DELETED_XID)
            + " >= pg_snapshot_xmin("
            + snapshot
            + ") AND NOT pg_visible_in_snapshot("
            + quote(DELETED_XID)
            + ", "
            + snapshot
            + ") AND "
            + written;
    String current = "SELECT " + selectList + " FROM " + table.qualified() + " WHERE " + written;
    String history = " UNION ALL SELECT " + selectList + " FROM " + table.qualifiedHistory();
    if (!marksMoves) {
      return current + history + " WHERE " + notSeen;
    }
    return current
        + history
        + " WHERE "
        + quote(MOVED)
        + " IS NULL AND "
        + notSeen
        + history
        // moves' images: only when the snapshot misses a move, from the earliest such move's end
        + " WHERE "
        + unseenMovesEnd
        + " IS NOT NULL AND "
        + quote(MOVED)
        + " AND "
        + quote(VALID_TO)
        + " >= "
        + unseenMovesEnd
        + " AND "
        + notSeen;
  }

  /**
   * Like {@link #asOfQuery(SourceDefinition, Schema, Instant)}, with the source table's columns
   * known: a field whose mapped column is not among {@code sourceColumns} reads as a typed NULL.
   *
   * @param sourceColumns the table's column names, or null to assume every mapped column exists
   */
  public static String asOfQuery(
      SourceDefinition source, Schema schema, Instant readTimestamp, Set<String> sourceColumns) {
    PostgresTableName table = PostgresTableName.of(source);
    String selectList = selectList(source, schema, sourceColumns);
    String at = timestampLiteral(readTimestamp);
    return "SELECT "
        + selectList
        + " FROM "
        + table.qualified()
        + " WHERE "
        + quote(VALID_FROM)
        + " <= "
        + at
        + " UNION ALL SELECT "
        + selectList
        + " FROM "
        + table.qualifiedHistory()
        + " WHERE "
        + quote(VALID_FROM)
        + " <= "
        + at
        + " AND "
        + quote(VALID_TO)
        + " > "
        + at;
  }

  /**
   * One column per harness field, named by the field, read from the mapped source column (the
   * field's default, or a typed NULL, when {@code sourceColumns} lacks it; null means every mapped
   * column exists).
   */
  static String selectList(SourceDefinition source, Schema schema, Set<String> sourceColumns) {
    return schema.fields().stream()
        .map(
            field -> {
              String column = source.sourceColumn(field.name());
              String value =
                  sourceColumns == null || sourceColumns.contains(column)
                      ? quote(column)
                      : field.defaultValue() == null
                          ? "NULL::" + postgresType(field.type())
                          : postgresLiteral(field);
              return value + " AS " + quote(field.name());
            })
        .collect(Collectors.joining(", "));
  }

  /** The user columns of the source's table (without the system column), in table order. */
  public static List<String> sourceColumns(ConnectionConfig connection, SourceDefinition source) {
    PostgresTableName table = PostgresTableName.of(source);
    try (Connection jdbc = connect(connection)) {
      Map<String, Column> columns = columns(jdbc, table.schema(), table.table());
      if (columns.isEmpty()) {
        throw new SourceUnavailableException(
            "Cannot read source '%s': PostgreSQL table %s does not exist at %s (connection '%s')",
            source.id(), table, maskedUrl(connection), connection.name());
      }
      return columns.keySet().stream().filter(name -> !isSystemColumn(name)).toList();
    } catch (SQLException e) {
      throw new SourceUnavailableException(
          connection.scrub(e),
          "Cannot read the columns of PostgreSQL table %s at %s (connection '%s'): %s",
          table,
          maskedUrl(connection),
          connection.name(),
          connection.scrub(e.getMessage()));
    }
  }

  /** {@code TIMESTAMPTZ '2026-11-22 10:00:00.123456+00'}: microseconds, UTC. */
  static String timestampLiteral(Instant instant) {
    return "TIMESTAMPTZ '"
        + TIMESTAMP_LITERAL.format(instant.truncatedTo(ChronoUnit.MICROS))
        + "+00'";
  }

  /** The PostgreSQL type a harness field type is created as. */
  static String postgresType(FieldType type) {
    if (type.isDecimal()) {
      return "numeric(" + type.precision() + "," + type.scale() + ")";
    }
    return switch (type.name()) {
      case "boolean" -> "boolean";
      case "int" -> "integer";
      case "long" -> "bigint";
      case "float" -> "real";
      case "double" -> "double precision";
      case "string" -> "text";
      case "binary" -> "bytea";
      case "date" -> "date";
      case "timestamp" -> "timestamptz";
      case "timestamp_ntz" -> "timestamp";
      default -> throw new ValidationException("Unsupported field type '%s' for PostgreSQL", type);
    };
  }

  static void checkNoSystemColumnMapped(SourceDefinition source, Schema schema) {
    for (Field field : schema.fields()) {
      String column = source.sourceColumn(field.name());
      if (isSystemColumn(column)
          || column.equals(VALID_TO)
          || column.equals(DELETED_XID)
          || column.equals(MOVED)) {
        throw new ValidationException(
            "Invalid source '%s': field '%s' maps to column %s, which the harness keeps for row"
                + " validity; rename the field or map it to another column",
            source.id(), field.name(), column);
      }
    }
  }

  private static void install(
      Connection jdbc, SourceDefinition source, Schema schema, PostgresTableName table)
      throws SQLException {
    // Serializes concurrent registrations of the same table (they would race on CREATE ... IF NOT
    // EXISTS otherwise).
    try (PreparedStatement lock =
        jdbc.prepareStatement("SELECT pg_advisory_xact_lock(hashtext(?))")) {
      lock.setString(1, "dataharness.register " + table.qualified());
      lock.execute();
    }
    Map<String, Column> columns = columns(jdbc, table.schema(), table.table());
    if (columns.isEmpty() && schema == null) {
      throw new SourceUnavailableException(
          "Cannot read source '%s': PostgreSQL table %s does not exist", source.id(), table);
    }
    if (columns.isEmpty()) {
      if (!schemaExists(jdbc, table.schema())) {
        // only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
        // schema exists, which a least-privileged source user does not have
        execute(jdbc, "CREATE SCHEMA " + quote(table.schema()));
      }
      execute(jdbc, createTableSql(source, schema, table));
      columns = columns(jdbc, table.schema(), table.table());
    }
    for (String historyColumn : List.of(VALID_TO, MOVED)) {
      if (columns.containsKey(historyColumn)) {
        throw new ValidationException(
            "Cannot register source '%s': PostgreSQL table %s has a column %s, a name the harness"
                + " keeps for its history table; rename that column",
            source.id(), table, historyColumn);
      }
    }
    Column validFrom = columns.get(VALID_FROM);
    if (validFrom == null) {
      // A constant default: PostgreSQL 11+ adds the column without rewriting the table.
      execute(
          jdbc,
          "ALTER TABLE "
              + table.qualified()
              + " ADD COLUMN "
              + quote(VALID_FROM)
              + " timestamptz NOT NULL DEFAULT '-infinity'");
      columns = columns(jdbc, table.schema(), table.table());
    } else if (!validFrom.type().equals("timestamp with time zone")) {
      throw new ValidationException(
          "Cannot register source '%s': PostgreSQL table %s has a column %s of type %s, a name the"
              + " harness keeps for row validity; rename that column",
          source.id(), table, VALID_FROM, validFrom.type());
    }
    if (!columns.containsKey(XID)) {
      // No default: PostgreSQL adds the column without rewriting the table.
      execute(jdbc, "ALTER TABLE " + table.qualified() + " ADD COLUMN " + quote(XID) + " xid8");
      columns = columns(jdbc, table.schema(), table.table());
    }
    List<Column> userColumns =
        columns.values().stream().filter(column -> !isSystemColumn(column.name())).toList();
    installHistoryTable(jdbc, table, userColumns);
    installMovesTable(jdbc, table);
    execute(jdbc, unseenMovesFunctionSql(table));
    // every reader calls it (default privileges may have taken EXECUTE from PUBLIC)
    execute(
        jdbc,
        "GRANT EXECUTE ON FUNCTION "
            + table.qualifiedUnseenMovesFunction()
            + "(pg_snapshot) TO PUBLIC");
    execute(jdbc, triggerFunctionSql(table, userColumns));
    // Only triggers call it (PostgreSQL checks EXECUTE when a trigger is created, not when it
    // fires): nobody else needs to.
    execute(jdbc, "REVOKE ALL ON FUNCTION " + table.qualifiedFunction() + "() FROM PUBLIC");
    // Also fires when rows arrive through logical replication (session_replication_role =
    // replica): a change without history would alter what past read timestamps return.
    replaceTrigger(
        jdbc,
        table,
        PostgresTableName.TRIGGER,
        "BEFORE INSERT OR UPDATE ON %s FOR EACH ROW",
        table.qualifiedFunction(),
        "ALWAYS");
    // A DELETE statement's images in one INSERT (a row trigger inserting them one by one made a
    // move's delete 3-4 times slower; even a row trigger that only returned cost a third more).
    // Enabled as usual, so it does not fire under logical replication (session_replication_role =
    // replica), where the row trigger enabled REPLICA keeps them.
    execute(jdbc, deletesFunctionSql(table, userColumns));
    execute(jdbc, "REVOKE ALL ON FUNCTION " + table.qualifiedDeletesFunction() + "() FROM PUBLIC");
    replaceTrigger(
        jdbc,
        table,
        PostgresTableName.DELETES_TRIGGER,
        "AFTER DELETE ON %s REFERENCING OLD TABLE AS harness_deleted FOR EACH STATEMENT",
        table.qualifiedDeletesFunction(),
        null);
    replaceTrigger(
        jdbc,
        table,
        PostgresTableName.REPLICA_DELETES_TRIGGER,
        "BEFORE DELETE ON %s FOR EACH ROW",
        table.qualifiedFunction(),
        "REPLICA");
    // TRUNCATE fires no row trigger: without this it would remove rows without history, and change
    // what every earlier version reads. Refused, also when replicated (publish truncates
    // elsewhere).
    replaceTrigger(
        jdbc,
        table,
        PostgresTableName.TRUNCATE_TRIGGER,
        "BEFORE TRUNCATE ON %s FOR EACH STATEMENT",
        table.qualifiedFunction(),
        "ALWAYS");
  }

  /**
   * (Re)creates trigger {@code name} on the table: {@code when} with {@code %s} for the table,
   * executing {@code function}; {@code enabled}: null to fire as usual (not under logical
   * replication), {@code ALWAYS} or {@code REPLICA} (only under logical replication).
   */
  private static void replaceTrigger(
      Connection jdbc,
      PostgresTableName table,
      String name,
      String when,
      String function,
      String enabled)
      throws SQLException {
    execute(jdbc, "DROP TRIGGER IF EXISTS " + quote(name) + " ON " + table.qualified());
    execute(
        jdbc,
        "CREATE TRIGGER "
            + quote(name)
            + " "
            + String.format(when, table.qualified())
            + " EXECUTE FUNCTION "
            + function
            + "()");
    if (enabled != null) {
      execute(
          jdbc,
          "ALTER TABLE " + table.qualified() + " ENABLE " + enabled + " TRIGGER " + quote(name));
    }
  }

  private static boolean schemaExists(Connection jdbc, String schema) throws SQLException {
    try (PreparedStatement statement =
        jdbc.prepareStatement("SELECT 1 FROM pg_namespace WHERE nspname = ?")) {
      statement.setString(1, schema);
      try (ResultSet result = statement.executeQuery()) {
        return result.next();
      }
    }
  }

  private static String createTableSql(
      SourceDefinition source, Schema schema, PostgresTableName table) {
    List<String> definitions = new ArrayList<>();
    for (Field field : schema.fields()) {
      definitions.add(
          quote(source.sourceColumn(field.name()))
              + " "
              + postgresType(field.type())
              + (field.defaultValue() == null ? "" : " DEFAULT " + postgresLiteral(field))
              + (field.required() ? " NOT NULL" : ""));
    }
    return "CREATE TABLE " + table.qualified() + " (" + String.join(", ", definitions) + ")";
  }

  private static void installHistoryTable(
      Connection jdbc, PostgresTableName table, List<Column> userColumns) throws SQLException {
    Map<String, Column> history = columns(jdbc, table.schema(), table.historyTable());
    if (history.isEmpty()) {
      List<String> definitions = new ArrayList<>();
      for (Column column : userColumns) {
        definitions.add(quote(column.name()) + " " + column.type());
      }
      definitions.add(quote(VALID_FROM) + " timestamptz NOT NULL");
      definitions.add(quote(VALID_TO) + " timestamptz NOT NULL");
      definitions.add(quote(XID) + " xid8");
      definitions.add(quote(DELETED_XID) + " xid8");
      definitions.add(quote(MOVED) + " boolean");
      execute(
          jdbc,
          "CREATE TABLE " + table.qualifiedHistory() + " (" + String.join(", ", definitions) + ")");
    } else {
      // Follow columns added to or widened in the table since the last registration, so that the
      // trigger can copy every column of an old image.
      for (Column column : userColumns) {
        Column kept = history.get(column.name());
        if (kept == null) {
          execute(
              jdbc,
              "ALTER TABLE "
                  + table.qualifiedHistory()
                  + " ADD COLUMN "
                  + quote(column.name())
                  + " "
                  + column.type());
        } else if (!kept.type().equals(column.type())) {
          execute(
              jdbc,
              "ALTER TABLE "
                  + table.qualifiedHistory()
                  + " ALTER COLUMN "
                  + quote(column.name())
                  + " TYPE "
                  + column.type()
                  + " USING "
                  + quote(column.name())
                  + "::"
                  + column.type());
        }
      }
    }
    // registered by an earlier harness: older images have no transaction ids
    for (String system : List.of(XID, DELETED_XID)) {
      if (!history.isEmpty() && !history.containsKey(system)) {
        execute(
            jdbc,
            "ALTER TABLE " + table.qualifiedHistory() + " ADD COLUMN " + quote(system) + " xid8");
      }
    }
    if (!history.isEmpty() && !history.containsKey(MOVED)) {
      execute(
          jdbc,
          "ALTER TABLE " + table.qualifiedHistory() + " ADD COLUMN " + quote(MOVED) + " boolean");
    }
    // Reads of recent snapshots look up the images transactions they do not see ended. Moves'
    // images are left out (a move's delete would spend as long indexing them as copying them):
    // reads and reruns find those by when the delete ended them, which the move's row records.
    execute(
        jdbc,
        "CREATE INDEX IF NOT EXISTS "
            + quote(table.endedIndexName())
            + " ON "
            + table.qualifiedHistory()
            + " ("
            + quote(DELETED_XID)
            + ") WHERE "
            + quote(MOVED)
            + " IS NULL");
    execute(
        jdbc,
        "DROP INDEX IF EXISTS "
            + quote(table.schema())
            + "."
            + quote(table.legacyDeletedByIndexName()));
    // Moves' images (by their delete's clock reading), lag and reads of timestamp-only states ask
    // for images by valid_to (few, for recent values). Images arrive in about valid_to order, so a
    // BRIN index answers that at almost no cost per image; the B-tree on (valid_to, valid_from)
    // earlier harnesses kept doubled the cost of a move's delete.
    execute(
        jdbc,
        "DROP INDEX IF EXISTS " + quote(table.schema()) + "." + quote(table.legacyIndexName()));
    execute(
        jdbc,
        "CREATE INDEX IF NOT EXISTS "
            + quote(table.validToIndexName())
            + " ON "
            + table.qualifiedHistory()
            + " USING brin ("
            + quote(VALID_TO)
            + ") WITH (autosummarize = on)");
  }

  private static boolean isSystemColumn(String name) {
    return name.equals(VALID_FROM) || name.equals(XID);
  }

  private static void installMovesTable(Connection jdbc, PostgresTableName table)
      throws SQLException {
    // Shared by the tables of the schema, so possibly created by another role: statements that
    // need its ownership (ALTER TABLE) or CREATE on the schema run only when something is missing.
    Map<String, Column> moves = columns(jdbc, table.schema(), MOVES_TABLE);
    if (moves.isEmpty()) {
      execute(
          jdbc,
          "CREATE TABLE IF NOT EXISTS "
              + table.qualifiedMoves()
              + " (intent_id text PRIMARY KEY, source_table text NOT NULL, xid xid8 NOT NULL,"
              + " rows bigint NOT NULL, moved_at timestamptz NOT NULL)");
    }
    if (!moves.containsKey("images_at")) {
      // when a move's delete ended its images (their valid_to), and an index by table and
      // transaction: how every read finds the moves its snapshot misses
      execute(
          jdbc,
          "ALTER TABLE "
              + table.qualifiedMoves()
              + " ADD COLUMN IF NOT EXISTS images_at timestamptz");
      execute(
          jdbc,
          "CREATE INDEX IF NOT EXISTS "
              + quote(MOVES_TABLE + "_source_xid")
              + " ON "
              + table.qualifiedMoves()
              + " (source_table, xid)");
    }
    if (!moves.containsKey("inserted") || !moves.containsKey("updated")) {
      // upserts record what their merge did (tables registered before had no such columns)
      execute(
          jdbc,
          "ALTER TABLE "
              + table.qualifiedMoves()
              + " ADD COLUMN IF NOT EXISTS inserted bigint NOT NULL DEFAULT 0,"
              + " ADD COLUMN IF NOT EXISTS updated bigint NOT NULL DEFAULT 0");
    }
  }

  /** Whether the table has everything this harness installs (registered by this version). */
  private static boolean isInstalled(Connection jdbc, PostgresTableName table) throws SQLException {
    Map<String, Column> history = columns(jdbc, table.schema(), table.historyTable());
    Map<String, Column> moves = columns(jdbc, table.schema(), MOVES_TABLE);
    return history.containsKey(DELETED_XID)
        && history.containsKey(XID)
        && history.containsKey(MOVED)
        && columns(jdbc, table.schema(), table.table()).containsKey(XID)
        && moves.containsKey("updated")
        && moves.containsKey("images_at")
        && hasCurrentTriggers(jdbc, table)
        && functionExists(jdbc, table.schema(), table.unseenMovesFunctionName());
  }

  /** Whether schema {@code schema} has a function named {@code function}. */
  static boolean functionExists(Connection jdbc, String schema, String function)
      throws SQLException {
    try (PreparedStatement statement =
        jdbc.prepareStatement(
            "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                + " WHERE n.nspname = ? AND p.proname = ?")) {
      statement.setString(1, schema);
      statement.setString(2, function);
      try (ResultSet result = statement.executeQuery()) {
        return result.next();
      }
    }
  }

  /**
   * Whether the table's versioning functions run as their owner ({@code SECURITY DEFINER}, as
   * installed since the history table was protected from application roles) and the table has the
   * triggers that refuse {@code TRUNCATE} and keep a DELETE statement's images (by statement, and
   * by row under logical replication): earlier harnesses installed none of these.
   */
  private static boolean hasCurrentTriggers(Connection jdbc, PostgresTableName table)
      throws SQLException {
    try (PreparedStatement statement =
        jdbc.prepareStatement(
            "SELECT bool_or(t.tgname = ? AND p.prosecdef AND t.tgenabled = 'A'),"
                + " bool_or(t.tgname = ? AND p.prosecdef AND t.tgenabled = 'A'),"
                + " bool_or(t.tgname = ? AND p.prosecdef AND t.tgenabled = 'O'),"
                + " bool_or(t.tgname = ? AND p.prosecdef AND t.tgenabled = 'R')"
                + " FROM pg_trigger t"
                + " JOIN pg_class c ON c.oid = t.tgrelid"
                + " JOIN pg_namespace n ON n.oid = c.relnamespace"
                + " JOIN pg_proc p ON p.oid = t.tgfoid"
                + " WHERE n.nspname = ? AND c.relname = ?")) {
      statement.setString(1, PostgresTableName.TRIGGER);
      statement.setString(2, PostgresTableName.TRUNCATE_TRIGGER);
      statement.setString(3, PostgresTableName.DELETES_TRIGGER);
      statement.setString(4, PostgresTableName.REPLICA_DELETES_TRIGGER);
      statement.setString(5, table.schema());
      statement.setString(6, table.table());
      try (ResultSet result = statement.executeQuery()) {
        return result.next()
            && result.getBoolean(1)
            && result.getBoolean(2)
            && result.getBoolean(3)
            && result.getBoolean(4);
      }
    }
  }

  /**
   * Tables {@link #marksMoves} found with {@code s.t_harness_unseen_moves} (see {@link
   * #holdsOnce}).
   */
  private static final java.util.Set<String> MOVES_MARKED =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * Whether the table has the function reads of moves' images call (registered by this harness).
   * Once it does, it always will: remembered per JVM.
   */
  static boolean marksMoves(ConnectionConfig connection, SourceDefinition source) {
    PostgresTableName table = PostgresTableName.of(source);
    return holdsOnce(
        MOVES_MARKED,
        connection,
        table,
        jdbc -> functionExists(jdbc, table.schema(), table.unseenMovesFunctionName()),
        e ->
            new SourceUnavailableException(
                connection.scrub(e),
                "Cannot read source '%s' (PostgreSQL table %s at %s): %s",
                source.id(),
                table,
                maskedUrl(connection),
                connection.scrub(e.getMessage())));
  }

  /** A check of a table's installation over one connection. */
  private interface SqlCheck {
    boolean holds(Connection jdbc) throws SQLException;
  }

  /**
   * Whether {@code check} holds for the table, asking the database until it does once; from then on
   * remembered in {@code confirmed} (fingerprints of the connection and table, as the URL may hold
   * a password): what registration installs is never taken away by the harness.
   */
  private static boolean holdsOnce(
      java.util.Set<String> confirmed,
      ConnectionConfig connection,
      PostgresTableName table,
      SqlCheck check,
      java.util.function.Function<SQLException, RuntimeException> unavailable) {
    String key =
        io.dataharness.metadata.Secrets.fingerprint(connection.jdbcUrl(), table.toString());
    if (confirmed.contains(key)) {
      return true;
    }
    try (Connection jdbc = connect(connection)) {
      boolean holds = check.holds(jdbc);
      if (holds) {
        confirmed.add(key);
      }
      return holds;
    } catch (SQLException e) {
      throw unavailable.apply(e);
    }
  }

  /** Tables {@link #ensureMoveSupport} found up to date (see {@link #holdsOnce}). */
  private static final java.util.Set<String> MOVE_SUPPORT_CONFIRMED =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * Makes sure a table registered by an earlier harness has what moves and upserts need (the
   * history's {@value #DELETED_XID} column, the triggers that fill it, the {@value #MOVES_TABLE}
   * table with its columns): registers it again if not. Cheap when it is up to date.
   */
  public static void ensureMoveSupport(
      ConnectionConfig connection, SourceDefinition source, Schema schema) {
    PostgresTableName table = PostgresTableName.of(source);
    boolean installed =
        holdsOnce(
            MOVE_SUPPORT_CONFIRMED,
            connection,
            table,
            jdbc -> isInstalled(jdbc, table),
            e ->
                new SourceUnavailableException(
                    connection.scrub(e),
                    "Cannot check the history table of source '%s' (PostgreSQL table %s): %s",
                    source.id(),
                    table,
                    connection.scrub(e.getMessage())));
    if (!installed) {
      register(connection, source, schema);
    }
  }

  /**
   * The trigger function. It takes a transaction id before reading the clock, so that a writer is
   * visible to {@link #safeReadTimestamp} before any of its clock values can be below a read
   * timestamp; it reads the clock once per row, so an update's old image ends exactly when its new
   * image begins.
   */
  static String triggerFunctionSql(PostgresTableName table, List<Column> userColumns) {
    String columnList =
        userColumns.stream().map(column -> quote(column.name())).collect(Collectors.joining(", "));
    String oldValues =
        userColumns.stream()
            .map(column -> "OLD." + quote(column.name()))
            .collect(Collectors.joining(", "));
    String separator = userColumns.isEmpty() ? "" : ", ";
    String body =
        "\nDECLARE\n"
            + "  changed_at timestamptz;\n"
            + "  changed_by xid8;\n"
            + "BEGIN\n"
            + "  IF TG_OP = 'TRUNCATE' THEN\n"
            + "    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',"
            + " MESSAGE = format('Cannot truncate %I.%I: it is a system-versioned DataHarness"
            + " source and TRUNCATE would remove rows without keeping their history, changing what"
            + " earlier harness versions read; remove rows with DELETE FROM %I.%I instead (it is"
            + " versioned), or, once no harness table reads it, drop its triggers "
            + String.join(", ", PostgresTableName.TRIGGERS)
            + " first', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME);\n"
            + "  END IF;\n"
            + "  changed_by := pg_current_xact_id();\n"
            + "  changed_at := clock_timestamp();\n"
            + "  IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN\n"
            + "    INSERT INTO "
            + table.qualifiedHistory()
            + " ("
            + columnList
            + separator
            + quote(VALID_FROM)
            + ", "
            + quote(VALID_TO)
            + ", "
            + quote(XID)
            + ", "
            + quote(DELETED_XID)
            + ")\n"
            + "    VALUES ("
            + oldValues
            + separator
            + "OLD."
            + quote(VALID_FROM)
            + ", changed_at, OLD."
            + quote(XID)
            + ", changed_by);\n"
            + "  END IF;\n"
            + "  IF TG_OP = 'DELETE' THEN\n"
            + "    RETURN OLD;\n"
            + "  END IF;\n"
            + "  NEW."
            + quote(VALID_FROM)
            + " := changed_at;\n"
            + "  NEW."
            + quote(XID)
            + " := changed_by;\n"
            + "  RETURN NEW;\n"
            + "END\n";
    return functionSql(table, table.qualifiedFunction(), body);
  }

  /**
   * The statement trigger function for DELETE: every image the statement removed, in one INSERT,
   * ended at one clock reading taken after the transaction id (as in {@link #triggerFunctionSql}).
   */
  static String deletesFunctionSql(PostgresTableName table, List<Column> userColumns) {
    String columnList =
        userColumns.stream().map(column -> quote(column.name())).collect(Collectors.joining(", "));
    String separator = userColumns.isEmpty() ? "" : ", ";
    String body =
        "\nDECLARE\n"
            + "  changed_by xid8;\n"
            + "  changed_at timestamptz;\n"
            + "  moved boolean;\n"
            + "BEGIN\n"
            + "  changed_by := pg_current_xact_id();\n"
            + "  changed_at := clock_timestamp();\n"
            // a move's delete: trusted only if the move's row has this transaction's id (any
            // session can set the setting; only the harness writes that table)
            + "  IF current_setting('"
            + MOVE_SETTING
            + "', true) <> '' THEN\n"
            + "    UPDATE "
            + table.qualifiedMoves()
            + " SET images_at = changed_at WHERE intent_id = current_setting('"
            + MOVE_SETTING
            + "', true) AND xid = changed_by AND source_table = "
            + quoteLiteral(table.toString())
            + " AND images_at IS NULL;\n"
            + "    IF FOUND THEN\n"
            + "      moved := true;\n"
            + "    END IF;\n"
            + "  END IF;\n"
            + "  INSERT INTO "
            + table.qualifiedHistory()
            + " ("
            + columnList
            + separator
            + String.join(
                ", ",
                quote(VALID_FROM),
                quote(VALID_TO),
                quote(XID),
                quote(DELETED_XID),
                quote(MOVED))
            + ")\n"
            + "  SELECT "
            + columnList
            + separator
            + quote(VALID_FROM)
            + ", changed_at, "
            + quote(XID)
            + ", changed_by, moved FROM harness_deleted;\n"
            + "  RETURN NULL;\n"
            + "END\n";
    return functionSql(table, table.qualifiedDeletesFunction(), body);
  }

  /**
   * The function that returns when the earliest move a snapshot does not see ended its images (null
   * if it sees every move): {@code SECURITY DEFINER}, so that readers need no privilege on {@value
   * #MOVES_TABLE}.
   */
  static String unseenMovesFunctionSql(PostgresTableName table) {
    if (table.toString().contains("$harness$")) {
      throw new ValidationException(
          "Cannot register PostgreSQL table %s: its name contains $harness$", table);
    }
    return "CREATE OR REPLACE FUNCTION "
        + table.qualifiedUnseenMovesFunction()
        + "(snapshot pg_snapshot) RETURNS timestamptz LANGUAGE sql STABLE SECURITY DEFINER"
        + " SET search_path = pg_catalog, pg_temp AS $harness$ SELECT min(images_at) FROM "
        + table.qualifiedMoves()
        + " WHERE source_table = "
        + quoteLiteral(table.toString())
        + " AND xid >= pg_snapshot_xmin(snapshot) AND NOT pg_visible_in_snapshot(xid, snapshot)"
        + " $harness$";
  }

  private static String functionSql(PostgresTableName table, String function, String body) {
    String tag = "$harness$";
    if (body.contains(tag)) {
      throw new ValidationException(
          "Cannot register PostgreSQL table %s: a column name contains %s", table, tag);
    }
    // SECURITY DEFINER: the function runs as its owner (the role that registered the table), so
    // application roles with only INSERT, UPDATE and DELETE on the table write history through it
    // and never need (nor get) any privilege on the history table itself. A fixed search_path (and
    // qualified names only) keeps callers from substituting objects; see PostgreSQL's "Writing
    // SECURITY DEFINER Functions Safely".
    return "CREATE OR REPLACE FUNCTION "
        + function
        + "() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
        + " SET search_path = pg_catalog, pg_temp AS "
        + tag
        + body
        + tag;
  }

  /** A column of a table: its name and its type as {@code format_type} prints it. */
  record Column(String name, String type) {}

  /** The table's columns in order, or an empty map if the table does not exist. */
  static Map<String, Column> columns(Connection jdbc, String schema, String table)
      throws SQLException {
    Map<String, Column> columns = new LinkedHashMap<>();
    try (PreparedStatement statement =
        jdbc.prepareStatement(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
                + " FROM pg_attribute a"
                + " JOIN pg_class c ON c.oid = a.attrelid"
                + " JOIN pg_namespace n ON n.oid = c.relnamespace"
                + " WHERE n.nspname = ? AND c.relname = ? AND c.relkind IN ('r', 'p')"
                + " AND a.attnum > 0 AND NOT a.attisdropped"
                + " ORDER BY a.attnum")) {
      statement.setString(1, schema);
      statement.setString(2, table);
      try (ResultSet result = statement.executeQuery()) {
        while (result.next()) {
          columns.put(result.getString(1), new Column(result.getString(1), result.getString(2)));
        }
      }
    }
    return columns;
  }

  private static void awaitEnd(
      Connection jdbc, ConnectionConfig connection, Map<Integer, String> writers)
      throws SQLException {
    long deadline = System.nanoTime() + INVISIBLE_WRITER_WAIT.toNanos();
    Map<Integer, String> running = new HashMap<>(writers);
    long pause = 5;
    while (true) {
      clearActivitySnapshot(jdbc);
      try (PreparedStatement statement =
          jdbc.prepareStatement(
              "SELECT pid, backend_xid::text FROM pg_stat_activity WHERE pid = ANY (?)")) {
        statement.setArray(1, jdbc.createArrayOf("integer", running.keySet().toArray()));
        Map<Integer, String> still = new HashMap<>();
        try (ResultSet result = statement.executeQuery()) {
          while (result.next()) {
            int pid = result.getInt(1);
            if (running.get(pid).equals(result.getString(2))) {
              still.put(pid, running.get(pid));
            }
          }
        }
        running = still;
      }
      if (running.isEmpty()) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new SourceUnavailableException(
            "Cannot compute a read timestamp on PostgreSQL at %s (connection '%s'): transactions"
                + " of backends %s have written for more than %d s and user %s may not see when"
                + " they started; grant pg_read_all_stats to %s (or connect as the writers' user)",
            maskedUrl(connection),
            connection.name(),
            running.keySet(),
            INVISIBLE_WRITER_WAIT.toSeconds(),
            connection.jdbcUser(),
            connection.jdbcUser());
      }
      sleep(pause);
      pause = Math.min(pause * 2, 200);
    }
  }

  private static void execute(Connection jdbc, String sql) throws SQLException {
    try (Statement statement = jdbc.createStatement()) {
      statement.execute(sql);
    }
  }

  /** How long opening a connection to a source database may take (the driver's connectTimeout). */
  private static final int CONNECT_TIMEOUT_SECONDS = 10;

  /**
   * Fails with the error of {@link #connect} unless the connection's database accepts a connection
   * and answers a query now: a writer checks it before it records an intent, so that a database
   * that is down fails the job before any version is committed.
   */
  public static void checkReachable(ConnectionConfig connection) {
    try (Connection jdbc = connect(connection);
        java.sql.Statement statement = jdbc.createStatement()) {
      statement.execute("SELECT 1");
    } catch (SQLException e) {
      throw new SourceUnavailableException(
          connection.scrub(e),
          "Cannot use %s: %s",
          describe(connection, null),
          lostConnection(connection, e));
    }
  }

  /**
   * {@code PostgreSQL at <url> of source '<id>' (connection '<conn>')}, the URL's secrets masked,
   * for messages; without the source when {@code sourceId} is null.
   */
  public static String describe(ConnectionConfig connection, String sourceId) {
    return "PostgreSQL at "
        + maskedUrl(connection)
        + (sourceId == null ? "" : " of source '" + sourceId + "'")
        + " (connection '"
        + connection.name()
        + "')";
  }

  /**
   * What a failed database call says, secrets scrubbed, and what to check: {@code <message>
   * (SQLSTATE <state>); check that the server runs and accepts connections to this database}.
   */
  public static String lostConnection(ConnectionConfig connection, SQLException e) {
    return connection.scrub(String.valueOf(e.getMessage()))
        + " (SQLSTATE "
        + e.getSQLState()
        + "); check that the server runs and accepts connections to this database";
  }

  static Connection connect(ConnectionConfig connection) {
    Properties properties = connection.jdbcProperties();
    properties.setProperty("connectTimeout", String.valueOf(CONNECT_TIMEOUT_SECONDS));
    properties.setProperty("ApplicationName", "dataharness");
    try {
      return DriverManager.getConnection(connection.jdbcUrlWithoutSecrets(), properties);
    } catch (SQLException e) {
      throw new SourceUnavailableException(
          connection.scrub(e),
          "Cannot connect to PostgreSQL at %s (connection '%s'): %s; check that the server runs"
              + " and accepts connections to this database (new connections wait at most %d s),"
              + " and check connection.%s.url, connection.%s.user and connection.%s.password",
          maskedUrl(connection),
          connection.name(),
          connection.scrub(e.getMessage()),
          CONNECT_TIMEOUT_SECONDS,
          connection.name(),
          connection.name(),
          connection.name());
    }
  }

  private static String maskedUrl(ConnectionConfig connection) {
    return connection.maskedJdbcUrl();
  }
}
