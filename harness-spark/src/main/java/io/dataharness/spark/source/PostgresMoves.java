package io.dataharness.spark.source;

import static io.dataharness.spark.source.PostgresTableName.quote;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.spark.conf.ConnectionConfig;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The PostgreSQL side of moving rows out of a system-versioned jdbc source ("delete first").
 *
 * <p>A move deletes its batch from the <b>current</b> table in one transaction that also inserts
 * the move's row into {@value PostgresSources#MOVES_TABLE} (its intent id and the transaction id).
 * The versioning trigger copies every deleted image into the history table with that transaction id
 * ({@value PostgresSources#DELETED_XID}), so what the delete removed is exactly what moves, each
 * row with its newest committed image: a row the application updated meanwhile moves with its new
 * image, a row it deleted is not moved. Whether the delete committed is decided by the moves row.
 * No row lock outlives the delete's transaction. A mover may also read the batch from the current
 * table in the delete's own snapshot ({@link #exportSnapshot}, {@link #batchRowsQuery}) while the
 * delete runs: in a repeatable-read transaction the delete removes exactly those rows, or fails.
 */
public final class PostgresMoves {
  private static final Pattern XID = Pattern.compile("[0-9]+");

  private PostgresMoves() {}

  /**
   * What a move's delete removed: its transaction, the rows deleted, when, and when the delete
   * ended their images (their {@value PostgresSources#VALID_TO}; null for a delete recorded before
   * the harness marked moves' images, whose images are indexed by transaction like any other).
   */
  public record Deleted(String xid, long rows, Instant movedAt, Instant imagesAt) {
    public Deleted {
      if (!XID.matcher(xid).matches()) {
        throw new IllegalArgumentException("Not a transaction id: " + xid);
      }
    }
  }

  /**
   * Whether a move with these bounds would delete anything now: a current row whose ordering column
   * is older than {@code olderThan} (when given). Stops at the first such row, where counting them
   * would read every one.
   */
  public static boolean anyInBatch(
      Connection jdbc, SourceDefinition source, String orderingField, Instant olderThan)
      throws SQLException {
    try (Statement statement = jdbc.createStatement();
        ResultSet result =
            statement.executeQuery(
                "SELECT EXISTS (SELECT 1 FROM "
                    + PostgresTableName.of(source).qualified()
                    + olderThan(source, orderingField, olderThan)
                    + ")")) {
      result.next();
      return result.getBoolean(1);
    }
  }

  /** The delete of the move {@code intentId}, if it committed. */
  public static Optional<Deleted> deleted(Connection jdbc, SourceDefinition source, String intentId)
      throws SQLException {
    return recorded(jdbc, PostgresTableName.of(source), intentId)
        .map(row -> new Deleted(row.xid(), row.rows(), row.movedAt(), row.imagesAt()));
  }

  /** A write's row in {@value PostgresSources#MOVES_TABLE}. */
  record Recorded(
      String xid, long rows, long inserted, long updated, Instant movedAt, Instant imagesAt) {}

  /** The row of the write {@code id} (see {@link #claim}), if its transaction committed. */
  static Optional<Recorded> recorded(Connection jdbc, PostgresTableName table, String id)
      throws SQLException {
    try (PreparedStatement statement =
        jdbc.prepareStatement(
            "SELECT xid::text, rows, inserted, updated, moved_at, images_at FROM "
                + table.qualifiedMoves()
                + " WHERE intent_id = ?")) {
      statement.setString(1, id);
      try (ResultSet result = statement.executeQuery()) {
        if (!result.next()) {
          return Optional.empty();
        }
        return Optional.of(
            new Recorded(
                result.getString(1),
                result.getLong(2),
                result.getLong(3),
                result.getLong(4),
                result.getObject(5, OffsetDateTime.class).toInstant(),
                instant(result.getObject(6, OffsetDateTime.class))));
      }
    }
  }

  /**
   * Records the move {@code intentId} with the caller's transaction id, in the caller's
   * transaction: the first half of a move's delete, before {@link #deleteBatch}.
   *
   * @throws HarnessException if the move is already recorded (its delete committed before)
   */
  public static void claimMove(Connection jdbc, SourceDefinition source, String intentId)
      throws SQLException {
    PostgresTableName table = PostgresTableName.of(source);
    if (!claim(jdbc, table, intentId)) {
      throw new HarnessException(
          "Cannot delete the batch of move %s from PostgreSQL table %s: the move already deleted"
              + " its rows; complete it from the history table instead",
          intentId, table);
    }
  }

  /**
   * Deletes the batch of a move {@link #claimMove claimed} in the caller's transaction (the caller
   * commits) and records how many rows it deleted. The batch is the current rows whose ordering
   * column is older than {@code olderThan} (when given), in ordering column then primary key order,
   * at most {@code maxRows}; in a read-committed transaction a row changed concurrently is deleted
   * with its newest committed image (without {@code maxRows}, only if that image is still older
   * than {@code olderThan}).
   */
  public static Deleted deleteBatch(
      Connection jdbc,
      SourceDefinition source,
      String intentId,
      String orderingField,
      Instant olderThan,
      List<String> primaryKey,
      OptionalLong maxRows)
      throws SQLException {
    PostgresTableName table = PostgresTableName.of(source);
    // names the move to the table's delete trigger, which marks the images as this move's
    try (PreparedStatement setting = jdbc.prepareStatement("SELECT set_config(?, ?, true)")) {
      setting.setString(1, PostgresSources.MOVE_SETTING);
      setting.setString(2, intentId);
      setting.execute();
    }
    long rows;
    try (Statement delete = jdbc.createStatement()) {
      rows =
          delete.executeUpdate(
              "DELETE FROM "
                  + table.qualified()
                  + batchCondition(source, orderingField, olderThan, primaryKey, maxRows));
    }
    try (PreparedStatement update =
        jdbc.prepareStatement(
            "UPDATE "
                + table.qualifiedMoves()
                + " SET rows = ?, moved_at = clock_timestamp() WHERE intent_id = ?"
                + " RETURNING xid::text, rows, moved_at, images_at")) {
      update.setLong(1, rows);
      update.setString(2, intentId);
      try (ResultSet result = update.executeQuery()) {
        result.next();
        return new Deleted(
            result.getString(1),
            result.getLong(2),
            result.getObject(3, OffsetDateTime.class).toInstant(),
            instant(result.getObject(4, OffsetDateTime.class)));
      }
    }
  }

  /**
   * Records the write {@code id} (a move's intent id, or an upsert's idempotency key) with the
   * caller's transaction id: false if it is recorded already. A transaction still running for the
   * same id (a killed writer's, until the server notices) makes this wait for its outcome.
   */
  static boolean claim(Connection jdbc, PostgresTableName table, String id) throws SQLException {
    try (PreparedStatement claim =
        jdbc.prepareStatement(
            "INSERT INTO "
                + table.qualifiedMoves()
                + " (intent_id, source_table, xid, rows, moved_at)"
                + " VALUES (?, ?, pg_current_xact_id(), 0, clock_timestamp())"
                + " ON CONFLICT (intent_id) DO NOTHING")) {
      claim.setString(1, id);
      claim.setString(2, table.toString());
      return claim.executeUpdate() == 1;
    }
  }

  /**
   * The rows a committed delete removed, one column per harness field (named by the field): the
   * history images the delete's transaction ended. The same rows however often it runs.
   */
  public static String deletedRowsQuery(
      SourceDefinition source, Schema schema, Set<String> sourceColumns, Deleted deleted) {
    return "SELECT "
        + PostgresSources.selectList(source, schema, sourceColumns)
        + deletedRowsFrom(source, deleted);
  }

  /**
   * {@code FROM ... WHERE ...} of {@link #deletedRowsQuery}: the images marked as the move's, by
   * when its delete ended them (the BRIN index on {@value PostgresSources#VALID_TO}), or for a
   * delete recorded before moves' images were marked, by its transaction (the B-tree index).
   */
  public static String deletedRowsFrom(SourceDefinition source, Deleted deleted) {
    String byTransaction = quote(PostgresSources.DELETED_XID) + " = '" + deleted.xid() + "'::xid8";
    return " FROM "
        + PostgresTableName.of(source).qualifiedHistory()
        + " WHERE "
        + (deleted.imagesAt() == null
            ? quote(PostgresSources.MOVED) + " IS NULL AND " + byTransaction
            : quote(PostgresSources.MOVED)
                + " AND "
                + quote(PostgresSources.VALID_TO)
                + " = "
                + PostgresSources.timestampLiteral(deleted.imagesAt())
                + " AND "
                + byTransaction);
  }

  private static Instant instant(OffsetDateTime time) {
    return time == null ? null : time.toInstant();
  }

  /**
   * The smallest and largest value of each primary key column among the rows {@code rows} (a {@code
   * FROM ... WHERE ...} clause: {@link #deletedRowsFrom} or {@link #batchRowsFrom}) selects: {@code
   * [min, max]} per key field, in key order, as JDBC returns them; empty when it selects none.
   */
  public static Optional<List<Object[]>> keyBounds(
      Connection jdbc, SourceDefinition source, List<String> primaryKey, String rows)
      throws SQLException {
    String bounds =
        primaryKey.stream()
            .map(field -> quote(source.sourceColumn(field)))
            .map(column -> "min(" + column + "), max(" + column + ")")
            .collect(Collectors.joining(", "));
    try (Statement statement = jdbc.createStatement();
        ResultSet result = statement.executeQuery("SELECT count(*), " + bounds + rows)) {
      result.next();
      if (result.getLong(1) == 0) {
        return Optional.empty();
      }
      List<Object[]> keys = new ArrayList<>();
      for (int i = 0; i < primaryKey.size(); i++) {
        keys.add(new Object[] {result.getObject(2 + 2 * i), result.getObject(3 + 2 * i)});
      }
      return Optional.of(keys);
    }
  }

  /** A new connection to the source's database (auto-commit on); the caller closes it. */
  public static Connection connect(ConnectionConfig connection) {
    return PostgresSources.connect(connection);
  }

  /**
   * The rows of the batch as the current table holds them, one column per harness field: what
   * {@link #deleteBatch} deletes when it runs in the same snapshot (a repeatable-read transaction,
   * or one that imported its snapshot).
   */
  public static String batchRowsQuery(
      SourceDefinition source,
      Schema schema,
      Set<String> sourceColumns,
      String orderingField,
      Instant olderThan,
      List<String> primaryKey,
      OptionalLong maxRows) {
    return "SELECT "
        + PostgresSources.selectList(source, schema, sourceColumns)
        + batchRowsFrom(source, orderingField, olderThan, primaryKey, maxRows);
  }

  /** {@code FROM ... WHERE ...} of {@link #batchRowsQuery}. */
  public static String batchRowsFrom(
      SourceDefinition source,
      String orderingField,
      Instant olderThan,
      List<String> primaryKey,
      OptionalLong maxRows) {
    return " FROM "
        + PostgresTableName.of(source).qualified()
        + batchCondition(source, orderingField, olderThan, primaryKey, maxRows);
  }

  /** The WHERE clause that picks the batch's rows from the current table (or nothing). */
  private static String batchCondition(
      SourceDefinition source,
      String orderingField,
      Instant olderThan,
      List<String> primaryKey,
      OptionalLong maxRows) {
    if (maxRows.isEmpty()) {
      return olderThan(source, orderingField, olderThan);
    }
    String keys =
        primaryKey.stream()
            .map(field -> quote(source.sourceColumn(field)))
            .collect(Collectors.joining(", "));
    return " WHERE ("
        + keys
        + ") IN ("
        + batchKeys(source, orderingField, olderThan, primaryKey, maxRows)
        + ")";
  }

  /** An exported snapshot ({@code pg_export_snapshot()}) and the exporting transaction's id. */
  public record ExportedSnapshot(String id, String xid) {}

  /**
   * Exports the snapshot of the caller's open repeatable-read transaction for other sessions to
   * import ({@code SET TRANSACTION SNAPSHOT}) while it stays open.
   */
  public static ExportedSnapshot exportSnapshot(Connection jdbc) throws SQLException {
    try (Statement statement = jdbc.createStatement();
        ResultSet result =
            statement.executeQuery("SELECT pg_export_snapshot(), pg_current_xact_id()::text")) {
      result.next();
      return new ExportedSnapshot(result.getString(1), result.getString(2));
    }
  }

  /** The primary key columns of the current rows in the batch, in batch order. */
  private static String batchKeys(
      SourceDefinition source,
      String orderingField,
      Instant olderThan,
      List<String> primaryKey,
      OptionalLong maxRows) {
    PostgresTableName table = PostgresTableName.of(source);
    String keys =
        primaryKey.stream()
            .map(field -> quote(source.sourceColumn(field)))
            .collect(Collectors.joining(", "));
    StringBuilder sql =
        new StringBuilder("SELECT ")
            .append(keys)
            .append(" FROM ")
            .append(table.qualified())
            .append(olderThan(source, orderingField, olderThan));
    if (maxRows.isPresent()) {
      sql.append(" ORDER BY ")
          .append(orderingField == null ? "" : quote(source.sourceColumn(orderingField)) + ", ")
          .append(keys)
          .append(" LIMIT ")
          .append(maxRows.getAsLong());
    }
    return sql.toString();
  }

  /** {@code WHERE <ordering column> < olderThan}, or nothing without {@code olderThan}. */
  private static String olderThan(
      SourceDefinition source, String orderingField, Instant olderThan) {
    return olderThan == null
        ? ""
        : " WHERE "
            + quote(source.sourceColumn(orderingField))
            + " < "
            + PostgresSources.timestampLiteral(olderThan);
  }
}
