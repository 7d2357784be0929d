package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * Versions of a jdbc source record PostgreSQL snapshots: while an application commits multi-row
 * transactions and sync commits versions concurrently, every version shows each application
 * transaction whole or not at all.
 */
class PostgresSnapshotVersionsTest {
  private static final int ROUNDS = 8;
  private static final int ROWS = 4;

  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();

  @Test
  void everyVersionShowsAllOrNoneOfEachApplicationTransaction() throws Exception {
    String suffix = UUID.randomUUID().toString().substring(0, 8);
    String pgTable = "public.snapshots_" + suffix;
    String namespace = "snapshots_" + suffix;
    TableIdentifier identifier = TableIdentifier.of(namespace, "events");
    String table = "harness." + namespace + ".events";
    execute(
        "CREATE TABLE " + pgTable + " (id bigint PRIMARY KEY, message text)",
        "INSERT INTO " + pgTable + " SELECT g, 'round 0' FROM generate_series(1, " + ROWS + ") g");
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT NOT NULL, message STRING) TBLPROPERTIES ('source.warm.kind' = 'jdbc',"
            + " 'source.warm.connection' = 'pg', 'source.warm.table' = '"
            + pgTable
            + "', 'primary-key' = 'id')");
    HarnessCatalog catalog =
        (HarnessCatalog)
            ((org.apache.spark.sql.classic.SparkSession) spark)
                .sessionState()
                .catalogManager()
                .catalog("harness");

    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> syncFailure = new AtomicReference<>();
    Thread syncing =
        new Thread(
            () -> {
              try {
                while (!stop.get()) {
                  SyncJob.run(catalog, identifier);
                }
              } catch (Throwable e) {
                syncFailure.set(e);
              }
            });
    syncing.start();
    try (Connection writer = testingSpark.sourceDatabase().connect()) {
      writer.setAutoCommit(false);
      for (int round = 1; round <= ROUNDS; round++) {
        // one transaction: each row updated by its own statement (stamped with its own clock),
        // a pause between them so that syncs land inside it, and one row inserted
        try (Statement statement = writer.createStatement()) {
          for (int id = 1; id <= ROWS; id++) {
            statement.execute(
                "UPDATE " + pgTable + " SET message = 'round " + round + "' WHERE id = " + id);
            Thread.sleep(30);
          }
          statement.execute(
              "INSERT INTO " + pgTable + " VALUES (" + (100 + round) + ", 'round " + round + "')");
        }
        writer.commit();
      }
    } finally {
      stop.set(true);
      syncing.join();
    }
    assertEquals(null, syncFailure.get());
    SyncJob.run(catalog, identifier);

    long latest = catalog.store().loadTable(identifier).currentVersion();
    assertTrue(latest > 2, "versions committed: " + latest);
    assertTrue(
        ((SourceState.Jdbc) catalog.store().readLatest(identifier).state("warm"))
            .pgSnapshot()
            .isPresent());
    Set<Integer> roundsSeen = new TreeSet<>();
    for (long version = 1; version <= latest; version++) {
      List<Row> rows =
          spark
              .sql("SELECT id, message FROM " + table + " VERSION AS OF " + version)
              .collectAsList();
      Set<String> messages = new TreeSet<>();
      List<Long> inserted = new ArrayList<>();
      for (Row row : rows) {
        if (row.getLong(0) <= ROWS) {
          messages.add(row.getString(1));
        } else {
          inserted.add(row.getLong(0));
        }
      }
      assertEquals(1, messages.size(), "version " + version + " shows part of a round: " + rows);
      int round = Integer.parseInt(messages.iterator().next().substring("round ".length()));
      assertEquals(round, inserted.size(), "version " + version + ": " + rows);
      roundsSeen.add(round);
    }
    assertTrue(roundsSeen.contains(ROUNDS), "rounds seen: " + roundsSeen);
  }

  private void execute(String... statements) throws Exception {
    try (Connection connection = testingSpark.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }
}
