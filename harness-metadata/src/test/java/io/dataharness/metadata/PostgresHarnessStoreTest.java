package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The production store on a real PostgreSQL server meets the store contract. */
class PostgresHarnessStoreTest extends HarnessStoreConformanceTest {
  TestingDatabase database;

  @Override
  protected HarnessStore openStore() {
    database = TestingPostgres.shared().createDatabase("harness_store");
    return HarnessStores.open(database.jdbcUrl(), database.user(), database.password());
  }

  @Test
  void connectionKilledMidCommitLeavesNoPartialVersionAndTheRetryLandsOnce() throws Exception {
    TableIdentifier table = newTable();
    Transaction retried =
        store
            .newTransaction(table)
            .idempotencyKey("move:hot:0-10")
            .setSourceState("hot", kafka(0, 10), kafka(10, 10))
            .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(42));
    CompletableFuture<VersionInfo> commit;
    try (Connection admin = database.connect();
        Statement statement = admin.createStatement()) {
      // stall the commit after it has written its version row, then kill its connection
      statement.execute(
          "CREATE FUNCTION stall_commit() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(60);"
              + " RETURN NEW; END $$ LANGUAGE plpgsql");
      statement.execute(
          "CREATE TRIGGER stall_commit BEFORE INSERT ON harness_source_states FOR EACH ROW"
              + " EXECUTE FUNCTION stall_commit()");
      commit = CompletableFuture.supplyAsync(retried::commit);
      int pid = awaitStalledCommit(statement);
      statement.execute("SELECT pg_terminate_backend(" + pid + ")");
      statement.execute("DROP TRIGGER stall_commit ON harness_source_states");
    }
    ExecutionException failure =
        assertThrows(ExecutionException.class, () -> commit.get(30, TimeUnit.SECONDS));
    assertTrue(failure.getCause() instanceof MetadataStoreException, failure.getCause().toString());
    assertTrue(
        failure.getCause().getMessage().contains("same idempotency key")
            || failure.getCause().getMessage().contains("commit to " + table),
        failure.getCause().getMessage());

    assertEquals(1, store.loadTable(table).currentVersion());
    assertThrows(NoSuchVersionException.class, () -> store.readVersion(table, 2));
    assertEquals(kafka(0, 10), store.readLatest(table).state("hot"));

    VersionInfo landed =
        store
            .newTransaction(table)
            .idempotencyKey("move:hot:0-10")
            .setSourceState("hot", kafka(0, 10), kafka(10, 10))
            .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(42))
            .commit();
    assertEquals(2, landed.version());
    VersionInfo replayed =
        store
            .newTransaction(table)
            .idempotencyKey("move:hot:0-10")
            .setSourceState("hot", kafka(10, 10), kafka(10, 10))
            .setSourceState("cold", SourceState.Iceberg.of(42), SourceState.Iceberg.of(42))
            .commit();
    assertEquals(landed, replayed);
    assertEquals(2, store.loadTable(table).currentVersion());
  }

  private static int awaitStalledCommit(Statement statement) throws Exception {
    Instant deadline = Instant.now().plus(Duration.ofSeconds(30));
    while (Instant.now().isBefore(deadline)) {
      try (ResultSet rows =
          statement.executeQuery(
              "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND pid <>"
                  + " pg_backend_pid()")) {
        if (rows.next()) {
          return rows.getInt(1);
        }
      }
      Thread.sleep(20);
    }
    StringBuilder activity = new StringBuilder();
    try (ResultSet rows =
        statement.executeQuery(
            "SELECT pid, state, wait_event_type, query FROM pg_stat_activity WHERE datname ="
                + " current_database()")) {
      while (rows.next()) {
        activity
            .append(rows.getString(1))
            .append(' ')
            .append(rows.getString(2))
            .append(' ')
            .append(rows.getString(3))
            .append(' ')
            .append(rows.getString(4))
            .append('\n');
      }
    }
    throw new AssertionError(
        "The commit never reached the stalled insert into source states:\n" + activity);
  }
}
