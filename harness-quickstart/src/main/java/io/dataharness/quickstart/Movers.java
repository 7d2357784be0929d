package io.dataharness.quickstart;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.ConnectionConfig;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.spark.jobs.MoveResult;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.source.PostgresSources;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.CatalogPlugin;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.ProcedureCatalog;
import org.apache.spark.sql.connector.catalog.TableCatalog;

/**
 * The move and sync steps of the quick start and the notebooks, in one place.
 *
 * <p><b>Switch-over point for the movers.</b> {@link #move} and {@link #sync} run {@code CALL
 * <catalog>.system.move(...)} and {@code CALL <catalog>.system.sync(...)} as soon as the harness
 * catalog serves those procedures (detected by {@link #procedureAvailable}). Until the movers are
 * merged they fall back to {@link #interimMove} and {@link #interimSync}: small stand-ins that take
 * the source locks, copy the rows pinned at the latest version with plain Spark SQL, and commit the
 * new source states through the public Java store API ({@link Transaction} with locks and an
 * idempotency key), as any non-Spark writer would. Delete them (and {@link #FORCE_INTERIM}) once
 * {@code harness.system.move} and {@code harness.system.sync} are merged.
 *
 * <p>The stand-ins are demos, not the product's movers: they handle a Kafka or PostgreSQL source
 * moving to an Iceberg target, collect PostgreSQL batches on the driver, and are not crash-safe
 * between the Iceberg append and the harness commit.
 */
public final class Movers {
  /** Set {@code -Ddataharness.quickstart.interim-movers=true} to skip the procedures. */
  static final boolean FORCE_INTERIM = Boolean.getBoolean("dataharness.quickstart.interim-movers");

  private static final Duration LEASE = Duration.ofMinutes(5);
  private static final String OWNER = "quickstart";

  private Movers() {}

  /** True when {@code CALL <catalog>.system.<procedure>} resolves. */
  public static boolean procedureAvailable(SparkSession spark, String catalog, String procedure) {
    CatalogPlugin plugin = catalogPlugin(spark, catalog);
    if (FORCE_INTERIM || !(plugin instanceof ProcedureCatalog procedures)) {
      return false;
    }
    try {
      return procedures.loadProcedure(Identifier.of(new String[] {"system"}, procedure)) != null;
    } catch (RuntimeException e) {
      return false;
    }
  }

  /** How the next {@link #move} will run, for the quick start's output. */
  public static String movePath(SparkSession spark, String catalog) {
    return procedureAvailable(spark, catalog, "move")
        ? "CALL " + catalog + ".system.move"
        : "interim mover of the quick start (Java store API; CALL "
            + catalog
            + ".system.move is not merged yet)";
  }

  /**
   * Moves at most {@code maxRows} rows of {@code table} from {@code source} to {@code target}.
   *
   * @param table {@code namespace.table} in the harness catalog {@code catalog}
   */
  public static MoveResult move(
      SparkSession spark,
      String catalog,
      String table,
      String source,
      String target,
      long maxRows) {
    if (procedureAvailable(spark, catalog, "move")) {
      List<Row> rows =
          spark
              .sql(
                  String.format(
                      "CALL %s.system.move(table => '%s', source => '%s', target => '%s',"
                          + " max_rows => %d)",
                      catalog, table, source, target, maxRows))
              .collectAsList();
      return resultOfProcedure(spark, catalog, table, rows);
    }
    return interimMove(spark, catalog, table, source, target, maxRows);
  }

  /** Records the sources' current ends (Kafka end offsets, PostgreSQL read timestamp). */
  public static long sync(SparkSession spark, String catalog, String table) {
    if (procedureAvailable(spark, catalog, "sync")) {
      spark.sql(String.format("CALL %s.system.sync(table => '%s')", catalog, table)).collect();
      return harness(spark, catalog)
          .store()
          .loadTable(TableIdentifier.parse(table))
          .currentVersion();
    }
    return interimSync(spark, catalog, table);
  }

  private static MoveResult resultOfProcedure(
      SparkSession spark, String catalog, String table, List<Row> rows) {
    HarnessStore store = harness(spark, catalog).store();
    TableVersion latest = store.readLatest(TableIdentifier.parse(table));
    long rowsMoved = -1;
    if (!rows.isEmpty()) {
      Row row = rows.get(0);
      List<String> names = List.of(row.schema().fieldNames());
      if (names.contains("rows_moved")) {
        rowsMoved = ((Number) row.getAs("rows_moved")).longValue();
      }
    }
    return new MoveResult(latest.version(), rowsMoved, false, latest.commit().summary());
  }

  // ---- interim stand-ins: delete once harness.system.move / sync are merged -------------------

  static MoveResult interimMove(
      SparkSession spark,
      String catalog,
      String table,
      String source,
      String target,
      long maxRows) {
    HarnessCatalog harness = harness(spark, catalog);
    HarnessStore store = harness.store();
    TableIdentifier identifier = TableIdentifier.parse(table);
    SourceLock sourceLock = store.acquireLock(identifier, source, OWNER, LEASE);
    try {
      SourceLock targetLock = store.acquireLock(identifier, target, OWNER, LEASE);
      try {
        TableVersion pinned = store.readLatest(identifier);
        SourceDefinition targetDefinition = pinned.source(target);
        if (!(pinned.state(target) instanceof SourceState.Iceberg)) {
          throw new IllegalArgumentException(
              "Cannot move to source '"
                  + target
                  + "' of "
                  + table
                  + ": the interim mover writes"
                  + " only to Iceberg sources");
        }
        ConnectionConfig targetConnection = harness.connection(identifier, targetDefinition);
        TableCatalog lake = IcebergSources.catalog(spark, targetConnection);
        Identifier lakeTable = IcebergSources.identifier(targetDefinition);
        String lakeName =
            targetConnection.sparkCatalog()
                + "."
                + String.join(".", lakeTable.namespace())
                + "."
                + lakeTable.name();
        String projection =
            pinned.schema().fields().stream()
                .map(Field::name)
                .map(name -> "`" + name + "` AS `" + targetDefinition.sourceColumn(name) + "`")
                .collect(Collectors.joining(", "));
        String pinnedRead =
            "SELECT "
                + projection
                + " FROM "
                + catalog
                + "."
                + table
                + " VERSION AS OF "
                + pinned.version()
                + " WHERE _source = '"
                + source
                + "'";

        Transaction transaction =
            store
                .newTransaction(identifier)
                .operation("move")
                .withLock(sourceLock)
                .withLock(targetLock);
        long moved;
        SourceState sourceState = pinned.state(source);
        if (sourceState instanceof SourceState.Kafka kafka) {
          SourceState.Kafka next = kafka;
          List<String> ranges = new ArrayList<>();
          long budget = maxRows;
          for (Map.Entry<Integer, SourceState.OffsetRange> partition :
              kafka.partitions().entrySet()) {
            long take = Math.min(budget, partition.getValue().count());
            if (take == 0) {
              continue;
            }
            long start = partition.getValue().start();
            next =
                next.with(
                    partition.getKey(),
                    new SourceState.OffsetRange(start + take, partition.getValue().end()));
            ranges.add(
                "(_kafka_partition = "
                    + partition.getKey()
                    + " AND _kafka_offset < "
                    + (start + take)
                    + ")");
            budget -= take;
          }
          moved = maxRows - budget;
          if (moved == 0) {
            return new MoveResult(pinned.version(), 0, false, Map.of());
          }
          Dataset<Row> batch = spark.sql(pinnedRead + " AND (" + String.join(" OR ", ranges) + ")");
          // collected first: a write planned over a harness read fails Spark's plan validation
          append(spark.createDataFrame(batch.collectAsList(), batch.schema()), lakeName);
          transaction.setSourceState(source, next);
        } else if (sourceState instanceof SourceState.Jdbc) {
          HarnessTable definition = store.loadTable(identifier);
          if (definition.primaryKey().size() != 1) {
            throw new IllegalArgumentException(
                "Cannot move rows out of PostgreSQL source '"
                    + source
                    + "' of "
                    + table
                    + ": the interim mover needs a one-column primary-key");
          }
          String key = definition.primaryKey().get(0);
          SourceDefinition sourceDefinition = pinned.source(source);
          String keyAlias = targetDefinition.sourceColumn(key);
          Dataset<Row> batch =
              spark.sql(pinnedRead + " ORDER BY `" + keyAlias + "` LIMIT " + maxRows);
          List<Row> rows = batch.collectAsList();
          moved = rows.size();
          if (moved == 0) {
            return new MoveResult(pinned.version(), 0, false, Map.of());
          }
          append(spark.createDataFrame(rows, batch.schema()), lakeName);
          ConnectionConfig postgres = harness.connection(identifier, sourceDefinition);
          deleteRows(
              postgres, sourceDefinition, sourceDefinition.sourceColumn(key), keyAlias, rows);
          transaction.setSourceState(
              source, new SourceState.Jdbc(PostgresSources.safeReadTimestamp(postgres)));
        } else {
          throw new IllegalArgumentException(
              "Cannot move out of source '"
                  + source
                  + "' of "
                  + table
                  + ": the interim mover"
                  + " moves only Kafka and PostgreSQL sources");
        }
        SourceState.Iceberg snapshot = IcebergSources.currentState(loadTable(lake, lakeTable));
        Map<String, String> summary = new LinkedHashMap<>();
        summary.put("source", source);
        summary.put("target", target);
        summary.put("rows-moved", String.valueOf(moved));
        summary.put("from-version", String.valueOf(pinned.version()));
        summary.put("mover", "quickstart-interim");
        summary.forEach(transaction::summary);
        VersionInfo version =
            transaction
                .setSourceState(target, snapshot)
                .externalIds(
                    target, Map.of("snapshot-id", String.valueOf(snapshot.snapshotId().orElse(-1))))
                .idempotencyKey(
                    "quickstart-move:"
                        + table
                        + ":"
                        + source
                        + ":"
                        + target
                        + ":"
                        + pinned.version())
                .commit();
        return new MoveResult(version.version(), moved, false, summary);
      } finally {
        store.releaseLock(targetLock);
      }
    } finally {
      store.releaseLock(sourceLock);
    }
  }

  private static void deleteRows(
      ConnectionConfig postgres,
      SourceDefinition source,
      String keyColumn,
      String keyAlias,
      List<Row> rows) {
    String sql =
        "DELETE FROM " + source.option("table").orElseThrow() + " WHERE \"" + keyColumn + "\" = ?";
    try (Connection connection =
            DriverManager.getConnection(
                postgres.jdbcUrl(), postgres.jdbcUser(), postgres.jdbcPassword());
        PreparedStatement delete = connection.prepareStatement(sql)) {
      connection.setAutoCommit(false);
      for (Row row : rows) {
        delete.setObject(1, row.getAs(keyAlias));
        delete.addBatch();
      }
      delete.executeBatch();
      connection.commit();
    } catch (SQLException e) {
      throw new IllegalStateException(
          "Cannot delete moved rows from "
              + source.option("table").orElse("?")
              + ": "
              + e.getMessage(),
          e);
    }
  }

  static long interimSync(SparkSession spark, String catalog, String table) {
    HarnessCatalog harness = harness(spark, catalog);
    HarnessStore store = harness.store();
    TableIdentifier identifier = TableIdentifier.parse(table);
    TableVersion latest = store.readLatest(identifier);
    Transaction transaction = store.newTransaction(identifier).operation("sync");
    boolean changed = false;
    for (Map.Entry<String, SourceState> entry : latest.sourceStates().entrySet()) {
      SourceDefinition source = latest.source(entry.getKey());
      ConnectionConfig connection = harness.connection(identifier, source);
      SourceState next;
      if (entry.getValue() instanceof SourceState.Kafka kafka) {
        Map<Integer, Long> ends =
            KafkaSources.endOffsets(
                connection,
                source.option("topic").orElseThrow(),
                List.copyOf(kafka.partitions().keySet()));
        SourceState.Kafka grown = kafka;
        for (Map.Entry<Integer, Long> end : ends.entrySet()) {
          long start = kafka.partition(end.getKey()).start();
          grown = grown.with(end.getKey(), new SourceState.OffsetRange(start, end.getValue()));
        }
        next = grown;
      } else if (entry.getValue() instanceof SourceState.Jdbc) {
        next = new SourceState.Jdbc(PostgresSources.safeReadTimestamp(connection));
      } else {
        next =
            IcebergSources.currentState(
                loadTable(
                    IcebergSources.catalog(spark, connection), IcebergSources.identifier(source)));
      }
      if (!next.equals(entry.getValue())) {
        transaction.setSourceState(entry.getKey(), entry.getValue(), next);
        changed = true;
      }
    }
    if (!changed) {
      return latest.version();
    }
    return transaction.summary("mover", "quickstart-interim").commit().version();
  }

  private static void append(Dataset<Row> rows, String icebergTable) {
    try {
      rows.writeTo(icebergTable).append();
    } catch (org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
      throw new IllegalStateException("Cannot find Iceberg table " + icebergTable, e);
    }
  }

  private static org.apache.spark.sql.connector.catalog.Table loadTable(
      TableCatalog catalog, Identifier identifier) {
    try {
      return catalog.loadTable(identifier);
    } catch (org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
      throw new IllegalStateException("Cannot find Iceberg table " + identifier, e);
    }
  }

  private static HarnessCatalog harness(SparkSession spark, String catalog) {
    CatalogPlugin plugin = catalogPlugin(spark, catalog);
    if (!(plugin instanceof HarnessCatalog harness)) {
      throw new IllegalArgumentException(
          "Spark catalog '" + catalog + "' is not io.dataharness.spark.HarnessCatalog");
    }
    return harness;
  }

  private static CatalogPlugin catalogPlugin(SparkSession spark, String catalog) {
    return ((org.apache.spark.sql.classic.SparkSession) spark)
        .sessionState()
        .catalogManager()
        .catalog(catalog);
  }
}
