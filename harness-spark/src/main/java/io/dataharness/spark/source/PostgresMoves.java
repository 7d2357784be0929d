package io.dataharness.spark.source;

import static io.dataharness.spark.source.PostgresTableName.quote;

import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.spark.ConnectionConfig;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Collectors;

/**
 * The PostgreSQL side of moving rows out of a system-versioned jdbc source: which rows a batch is,
 * and deleting exactly those rows whose current image is still the one moved.
 *
 * <p>A batch is defined at a read timestamp, so it is the same set of row images however often it
 * is evaluated: rows that a crashed mover already deleted are still valid at that timestamp through
 * the history table.
 */
public final class PostgresMoves {
  private PostgresMoves() {}

  /**
   * The rows of a batch, one column per harness field (named by the field): the rows valid at
   * {@code readTimestamp} whose ordering column is older than {@code olderThan} (when given),
   * ordered by the ordering column (when given) and then the primary key, at most {@code maxRows}.
   */
  public static String batchQuery(
      ConnectionConfig connection,
      SourceDefinition source,
      Schema schema,
      Instant readTimestamp,
      String orderingField,
      Instant olderThan,
      List<String> primaryKey,
      OptionalLong maxRows) {
    String asOf =
        PostgresSources.asOfQuery(
            source,
            schema,
            readTimestamp,
            new HashSet<>(PostgresSources.sourceColumns(connection, source)));
    StringBuilder sql = new StringBuilder("SELECT * FROM (").append(asOf).append(") AS rows_as_of");
    if (olderThan != null) {
      sql.append(" WHERE ")
          .append(quote(orderingField))
          .append(" < ")
          .append(PostgresSources.timestampLiteral(olderThan));
    }
    String keyOrder = primaryKey.stream().map(PostgresTableName::quote).collect(joining());
    sql.append(" ORDER BY ")
        .append(orderingField == null ? "" : quote(orderingField) + ", ")
        .append(keyOrder);
    if (maxRows.isPresent()) {
      sql.append(" LIMIT ").append(maxRows.getAsLong());
    }
    return sql.toString();
  }

  /** The number of rows of a batch. */
  public static long count(Connection jdbc, String batchQuery) throws SQLException {
    try (Statement statement = jdbc.createStatement();
        ResultSet result =
            statement.executeQuery("SELECT count(*) FROM (" + batchQuery + ") AS batch")) {
      result.next();
      return result.getLong(1);
    }
  }

  /**
   * Deletes the batch's rows from the source table, in the caller's transaction, where the current
   * image is still the one valid at {@code readTimestamp} (primary key match and {@value
   * PostgresSources#VALID_FROM} at or before it): a row updated since keeps its newer image, a row
   * deleted since stays deleted. Deleting again deletes nothing, so a retried move may repeat it.
   *
   * @return the rows deleted
   */
  public static long deleteMoved(
      Connection jdbc,
      SourceDefinition source,
      String batchQuery,
      List<String> primaryKey,
      Instant readTimestamp)
      throws SQLException {
    PostgresTableName table = PostgresTableName.of(source);
    String tableKey =
        primaryKey.stream()
            .map(field -> "live." + quote(source.sourceColumn(field)))
            .collect(joining());
    String batchKey = primaryKey.stream().map(field -> "batch." + quote(field)).collect(joining());
    String sql =
        "DELETE FROM "
            + table.qualified()
            + " AS live WHERE live."
            + quote(PostgresSources.VALID_FROM)
            + " <= "
            + PostgresSources.timestampLiteral(readTimestamp)
            + " AND ("
            + tableKey
            + ") IN (SELECT "
            + batchKey
            + " FROM ("
            + batchQuery
            + ") AS batch)";
    try (Statement statement = jdbc.createStatement()) {
      return statement.executeUpdate(sql);
    }
  }

  /** A new connection to the source's database (auto-commit on); the caller closes it. */
  public static Connection connect(ConnectionConfig connection) {
    return PostgresSources.connect(connection);
  }

  private static java.util.stream.Collector<CharSequence, ?, String> joining() {
    return Collectors.joining(", ");
  }
}
