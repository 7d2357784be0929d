package io.dataharness.spark.source;

import static io.dataharness.spark.source.PostgresTableName.quote;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes rows into a system-versioned PostgreSQL source in <b>one</b> database transaction, as
 * upserts by the table's primary key (or plain inserts for a table without one).
 *
 * <p>Spark's JDBC writer first fills a private unlogged staging table {@code
 * <schema>.harness_stage_<hash of the idempotency key>} in parallel (its own transactions,
 * invisible to readers of the source). Then one transaction merges it into the table and drops it:
 *
 * <ul>
 *   <li>within the rows, the latest image per key wins: larger ordering column, then larger {@code
 *       harness_seq} (the Kafka offset for a mover);
 *   <li>an existing row is replaced only by a newer image (larger ordering value; with equal
 *       ordering values, or without an ordering column, by a different image), so applying the same
 *       rows twice changes nothing: a rerun after a crash is idempotent;
 *   <li>keys the table does not have are inserted.
 * </ul>
 *
 * The versioning trigger keeps the old images, so readers at earlier read timestamps are not
 * affected. Callers hold the harness lock on the source and advance its read timestamp only after
 * {@link #merge} returned (see {@link #stateCovering}).
 */
public final class PostgresUpserts {
  private static final Logger LOG = LoggerFactory.getLogger(PostgresUpserts.class);

  /** Column of the staging table: the order of rows with the same key and ordering value. */
  public static final String SEQUENCE = "harness_seq";

  private PostgresUpserts() {}

  /** What a merge did. */
  public record Outcome(long stagedRows, long insertedRows, long updatedRows) {}

  /**
   * Stages and merges {@code rows} (harness columns named as in {@code harnessSchema}, plus a
   * {@link #SEQUENCE} column) into the source's table in one transaction.
   *
   * @param primaryKey the harness primary key columns (empty: plain inserts)
   * @param orderingColumn the harness ordering column, or null
   */
  public static Outcome upsert(
      ConnectionConfig connection,
      SourceDefinition source,
      StructType harnessSchema,
      List<String> primaryKey,
      String orderingColumn,
      Dataset<Row> rows,
      String idempotencyKey) {
    PostgresTableName table = PostgresTableName.of(source);
    Set<String> existing = Set.copyOf(PostgresSources.sourceColumns(connection, source));
    List<String> columns = new ArrayList<>();
    List<Column> selected = new ArrayList<>();
    for (StructField field : harnessSchema.fields()) {
      String column = source.sourceColumn(field.name());
      if (existing.contains(column)) {
        columns.add(column);
        selected.add(rows.col("`" + field.name() + "`").as(column));
      } else if (primaryKey.contains(field.name()) || field.name().equals(orderingColumn)) {
        throw new ValidationException(
            "Cannot write to source '%s': PostgreSQL table %s has no column %s for the key or"
                + " ordering column %s",
            source.id(), table, column, field.name());
      }
    }
    selected.add(rows.col(SEQUENCE));
    List<String> keyColumns = primaryKey.stream().map(source::sourceColumn).toList();
    String ordering = orderingColumn == null ? null : source.sourceColumn(orderingColumn);
    String stage = stageName(idempotencyKey);
    String qualifiedStage = quote(table.schema()) + "." + quote(stage);
    try (Connection jdbc = PostgresSources.connect(connection)) {
      jdbc.setAutoCommit(true);
      Optional<Outcome> merged = merged(jdbc, table, idempotencyKey);
      if (merged.isPresent()) {
        LOG.info(
            "Not merging into PostgreSQL table {} of source '{}' again: write {} merged {} rows"
                + " before ({} inserted, {} updated)",
            table,
            source.id(),
            idempotencyKey,
            merged.get().stagedRows(),
            merged.get().insertedRows(),
            merged.get().updatedRows());
        return merged.get();
      }
      execute(jdbc, "DROP TABLE IF EXISTS " + qualifiedStage);
      execute(
          jdbc,
          "CREATE UNLOGGED TABLE "
              + qualifiedStage
              + " AS SELECT "
              + columns.stream().map(PostgresTableName::quote).collect(Collectors.joining(", "))
              + " FROM "
              + table.qualified()
              + " WITH NO DATA");
      execute(jdbc, "ALTER TABLE " + qualifiedStage + " ADD COLUMN " + quote(SEQUENCE) + " bigint");
    } catch (SQLException e) {
      throw failed(source, table, "create the staging table " + qualifiedStage, e);
    }
    var writer =
        rows.select(selected.toArray(Column[]::new))
            .write()
            .format("jdbc")
            .mode(SaveMode.Append)
            .options(connection.sparkJdbcOptions())
            .option("dbtable", qualifiedStage)
            .option("batchsize", "5000")
            .option("isolationLevel", "READ_COMMITTED");
    writer.save();
    return merge(
        connection, source, table, qualifiedStage, columns, keyColumns, ordering, idempotencyKey);
  }

  /**
   * The merge of the write {@code idempotencyKey}, if one committed: recorded in {@value
   * PostgresSources#MOVES_TABLE} by the merge's own transaction.
   */
  static Optional<Outcome> merged(Connection jdbc, PostgresTableName table, String idempotencyKey)
      throws SQLException {
    return PostgresMoves.recorded(jdbc, table, idempotencyKey)
        .map(row -> new Outcome(row.rows(), row.inserted(), row.updated()));
  }

  private static Outcome merge(
      ConnectionConfig connection,
      SourceDefinition source,
      PostgresTableName table,
      String stage,
      List<String> columns,
      List<String> keyColumns,
      String ordering,
      String idempotencyKey) {
    String columnList =
        columns.stream().map(PostgresTableName::quote).collect(Collectors.joining(", "));
    try (Connection jdbc = PostgresSources.connect(connection)) {
      jdbc.setAutoCommit(false);
      try {
        // first, so that a merge still running for a killed writer makes this one wait for it
        if (!PostgresMoves.claim(jdbc, table, idempotencyKey)) {
          jdbc.rollback();
          jdbc.setAutoCommit(true);
          execute(jdbc, "DROP TABLE IF EXISTS " + stage);
          Outcome merged = merged(jdbc, table, idempotencyKey).orElseThrow();
          LOG.info(
              "Not merging into PostgreSQL table {} of source '{}' again: write {} merged {} rows"
                  + " meanwhile",
              table,
              source.id(),
              idempotencyKey,
              merged.stagedRows());
          return merged;
        }
        long staged = count(jdbc, "SELECT count(*) FROM " + stage);
        long inserted;
        long updated = 0;
        if (keyColumns.isEmpty()) {
          inserted =
              update(
                  jdbc,
                  "INSERT INTO "
                      + table.qualified()
                      + " ("
                      + columnList
                      + ") SELECT "
                      + columnList
                      + " FROM "
                      + stage
                      + " ORDER BY "
                      + quote(SEQUENCE));
        } else {
          String keys =
              keyColumns.stream().map(PostgresTableName::quote).collect(Collectors.joining(", "));
          String order =
              keys
                  + (ordering == null ? "" : ", " + quote(ordering) + " DESC NULLS LAST")
                  + ", "
                  + quote(SEQUENCE)
                  + " DESC";
          execute(
              jdbc,
              "CREATE TEMP TABLE harness_latest ON COMMIT DROP AS SELECT DISTINCT ON ("
                  + keys
                  + ") "
                  + columnList
                  + " FROM "
                  + stage
                  + " ORDER BY "
                  + order);
          String sameKey =
              keyColumns.stream()
                  .map(k -> "t." + quote(k) + " = s." + quote(k))
                  .collect(Collectors.joining(" AND "));
          String differs =
              "ROW("
                  + columns.stream().map(c -> "t." + quote(c)).collect(Collectors.joining(", "))
                  + ") IS DISTINCT FROM ROW("
                  + columns.stream().map(c -> "s." + quote(c)).collect(Collectors.joining(", "))
                  + ")";
          String newer =
              ordering == null
                  ? differs
                  : "(s."
                      + quote(ordering)
                      + " > t."
                      + quote(ordering)
                      + " OR (t."
                      + quote(ordering)
                      + " IS NULL AND s."
                      + quote(ordering)
                      + " IS NOT NULL) OR (s."
                      + quote(ordering)
                      + " IS NOT DISTINCT FROM t."
                      + quote(ordering)
                      + " AND "
                      + differs
                      + "))";
          updated =
              update(
                  jdbc,
                  "UPDATE "
                      + table.qualified()
                      + " t SET "
                      + columns.stream()
                          .map(c -> quote(c) + " = s." + quote(c))
                          .collect(Collectors.joining(", "))
                      + " FROM harness_latest s WHERE "
                      + sameKey
                      + " AND "
                      + newer);
          inserted =
              update(
                  jdbc,
                  "INSERT INTO "
                      + table.qualified()
                      + " ("
                      + columnList
                      + ") SELECT "
                      + columnList
                      + " FROM harness_latest s WHERE NOT EXISTS (SELECT 1 FROM "
                      + table.qualified()
                      + " t WHERE "
                      + sameKey
                      + ")");
        }
        recordMerge(jdbc, table, idempotencyKey, new Outcome(staged, inserted, updated));
        execute(jdbc, "DROP TABLE " + stage);
        jdbc.commit();
        LOG.info(
            "Merged {} staged rows into PostgreSQL table {} of source '{}': {} inserted, {}"
                + " updated",
            staged,
            table,
            source.id(),
            inserted,
            updated);
        return new Outcome(staged, inserted, updated);
      } catch (SQLException | RuntimeException e) {
        jdbc.rollback();
        throw e;
      }
    } catch (SQLException e) {
      throw failed(source, table, "merge staged rows into it", e);
    }
  }

  /**
   * Records what the merge of {@code key} did, in its transaction (claimed by {@link
   * PostgresMoves#claim}). A rerun of the write finds it and leaves the table alone: applying the
   * rows again would bring back rows the application deleted since, and undo its updates of rows
   * without a newer ordering value.
   */
  private static void recordMerge(
      Connection jdbc, PostgresTableName table, String key, Outcome outcome) throws SQLException {
    try (PreparedStatement record =
        jdbc.prepareStatement(
            "UPDATE "
                + table.qualifiedMoves()
                + " SET rows = ?, inserted = ?, updated = ?, moved_at = clock_timestamp()"
                + " WHERE intent_id = ?")) {
      record.setLong(1, outcome.stagedRows());
      record.setLong(2, outcome.insertedRows());
      record.setLong(3, outcome.updatedRows());
      record.setString(4, key);
      record.executeUpdate();
    }
  }

  /**
   * The state to record after a merge this session committed: a snapshot taken now shows it whole
   * (see {@link PostgresSources#currentState}); never behind {@code recorded}.
   */
  public static io.dataharness.metadata.SourceState.Jdbc stateCovering(
      ConnectionConfig connection,
      SourceDefinition source,
      io.dataharness.metadata.SourceState.Jdbc recorded) {
    return PostgresSources.currentState(connection, source, recorded);
  }

  static String stageName(String idempotencyKey) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256")
              .digest(idempotencyKey.getBytes(StandardCharsets.UTF_8));
      return "harness_stage_" + HexFormat.of().formatHex(digest, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static HarnessException failed(
      SourceDefinition source, PostgresTableName table, String action, SQLException e) {
    return new SourceUnavailableException(
        e,
        "Cannot write to source '%s': PostgreSQL table %s: cannot %s: %s",
        source.id(),
        table,
        action,
        e.getMessage());
  }

  private static void execute(Connection jdbc, String sql) throws SQLException {
    try (Statement statement = jdbc.createStatement()) {
      statement.execute(sql);
    }
  }

  private static long update(Connection jdbc, String sql) throws SQLException {
    try (Statement statement = jdbc.createStatement()) {
      return statement.executeUpdate(sql);
    }
  }

  private static long count(Connection jdbc, String sql) throws SQLException {
    try (Statement statement = jdbc.createStatement();
        ResultSet result = statement.executeQuery(sql)) {
      result.next();
      return result.getLong(1);
    }
  }
}
