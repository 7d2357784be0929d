package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The production store on a real PostgreSQL server meets the store contract. */
class PostgresHarnessStoreTest extends HarnessStoreConformanceTest {
  TestingDatabase database;

  @Override
  protected HarnessStore openStore() {
    TestingDatabase created = TestingPostgres.shared().createDatabase("harness_store");
    if (database == null) {
      database = created; // the database of the store the tests share
    }
    return HarnessStores.open(created.jdbcUrl(), created.user(), created.password());
  }

  @Override
  protected HarnessStore openAnotherProcess() {
    return HarnessStores.open(database.jdbcUrl(), database.user(), database.password());
  }

  /**
   * The one-statement commit of one source writes the source's row before it takes the table's
   * version. If it ever wrote the first without the second, the statement fails and writes nothing,
   * and so does the statement-by-statement commit that runs after it: a trigger that skips the
   * table row's update stands in for whatever could cause that.
   */
  @Test
  void aCommitThatCannotTakeTheTablesNextVersionWritesNothing() throws Exception {
    TableIdentifier table = newTable();
    SourceLock lock = store.acquireLock(table, "hot", "writer", Duration.ofMinutes(1));
    store.newTransaction(table).withLock(lock).setSourceState("hot", kafka(0, 20)).commit();
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE FUNCTION skip_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL;"
              + " END $$");
      statement.execute(
          "CREATE TRIGGER skip_version BEFORE UPDATE ON harness_tables FOR EACH ROW WHEN"
              + " (OLD.table_name = '"
              + table.name()
              + "') EXECUTE FUNCTION skip_version()");
      try {
        RuntimeException failed =
            assertThrows(
                RuntimeException.class,
                () ->
                    store
                        .newTransaction(table)
                        .withLock(lock)
                        .setSourceState("hot", kafka(0, 30))
                        .commit());
        assertTrue(
            failed.getMessage().contains(table.toString())
                && failed.getMessage().contains("its next version could not be taken"),
            failed.getMessage());
      } finally {
        statement.execute("DROP TRIGGER skip_version ON harness_tables");
        statement.execute("DROP FUNCTION skip_version()");
      }
    }
    TableVersion latest = store.readLatest(table);
    assertEquals(2, latest.version());
    assertEquals(kafka(0, 20), latest.state("hot"));
    store.newTransaction(table).withLock(lock).setSourceState("hot", kafka(0, 30)).commit();
    assertEquals(kafka(0, 30), store.readLatest(table).state("hot"));
  }

  /**
   * A plain commit of one source finds its source by the table id this process last saw. Renamed by
   * another process since, the table keeps its id: the commit under the old name must not land in
   * it, and the error is the one a commit by name gives.
   */
  @Test
  void aCommitUnderANameAnotherProcessRenamedWritesNothing() {
    TableIdentifier table = newTable();
    TableIdentifier renamed = TableIdentifier.of("logs", table.name() + "_renamed");
    store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 20)).commit();
    try (HarnessStore other = openAnotherProcess()) {
      other.renameTable(table, renamed);
    }
    assertThrows(
        NoSuchTableException.class,
        () ->
            store.newTransaction(table).setSourceState("hot", kafka(0, 20), kafka(0, 30)).commit());
    TableVersion latest = store.readLatest(renamed);
    assertEquals(2, latest.version());
    assertEquals(kafka(0, 20), latest.state("hot"));
    store.newTransaction(renamed).setSourceState("hot", kafka(0, 20), kafka(0, 30)).commit();
    assertEquals(kafka(0, 30), store.readLatest(renamed).state("hot"));
  }

  @Test
  void aCheckpointThatCannotBeReadIsSkippedAndTheVersionReadSourceBySource() throws Exception {
    TableIdentifier table = newTable();
    try (HarnessStore other = openAnotherProcess()) {
      JdbcHarnessStore checkpointing = (JdbcHarnessStore) other;
      checkpointing.checkpointEvery(2);
      checkpointing
          .newTransaction(table)
          .setSourceState("hot", kafka(0, 10), kafka(0, 20))
          .commit();
      checkpointing
          .newTransaction(table)
          .setSourceState("hot", kafka(0, 20), kafka(0, 30))
          .commit();
      assertEquals(List.of(2L), checkpointing.checkpoints(table));
      try (Connection connection = database.connect();
          Statement statement = connection.createStatement()) {
        statement.execute(
            "UPDATE harness_state_checkpoints SET states = '{\"hot\": {\"kind\"' WHERE table_id ="
                + " (SELECT table_id FROM harness_tables WHERE table_name = '"
                + table.name()
                + "')");
      }
      long before = checkpointing.checkpointedReads();
      assertEquals(store.readVersion(table, 3), checkpointing.readVersion(table, 3));
      assertEquals(kafka(0, 30), checkpointing.readVersion(table, 3).state("hot"));
      assertEquals(before, checkpointing.checkpointedReads());
    }
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

  /**
   * The server terminates every connection of the store's pool (as a restart, a failover or an
   * administrator would) right after they were used: reads retry on a new connection instead of
   * failing with "terminating connection due to administrator command".
   */
  @Test
  void readsRetryWhenTheServerTerminatedThePoolsConnections() throws Exception {
    TableIdentifier table = newTable();
    store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(10, 10)).commit();
    for (int round = 0; round < 3; round++) {
      assertEquals(2, store.readLatest(table).version());
      try (Connection admin = database.connect();
          Statement statement = admin.createStatement();
          ResultSet terminated =
              statement.executeQuery(
                  "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                      + " WHERE datname = current_database() AND pid <> pg_backend_pid()")) {
        terminated.next();
        assertTrue(terminated.getLong(1) > 0, "no connection of the store's pool to terminate");
      }
      Thread.sleep(50); // the backends exit; well within the pool's 500 ms validation bypass
      assertEquals(kafka(10, 10), store.readLatest(table).state("hot"));
      assertEquals(2, store.readVersion(table, 2).version());
    }
  }

  @Test
  void aCommitInTheCallersRolledBackTransactionLeavesNoVersion() throws Exception {
    TableIdentifier table = newTable();
    try (Connection caller = database.connect();
        Statement statement = caller.createStatement()) {
      statement.execute("CREATE TABLE basement_rows_rolled_back (id bigint)");
      caller.setAutoCommit(false);
      statement.execute("INSERT INTO basement_rows_rolled_back VALUES (1)");
      VersionInfo pending =
          store
              .newTransaction(table)
              .idempotencyKey("basement:rolled-back")
              .setSourceState("hot", kafka(0, 10), kafka(10, 10))
              .commitUsing(caller);
      assertEquals(2, pending.version());
      // not visible to others before the caller commits
      assertEquals(1, store.loadTable(table).currentVersion());
      caller.rollback();
      try (ResultSet rows =
          statement.executeQuery("SELECT count(*) FROM basement_rows_rolled_back")) {
        rows.next();
        assertEquals(0, rows.getLong(1));
      }
    }
    assertEquals(1, store.loadTable(table).currentVersion());
    assertEquals(kafka(0, 10), store.readLatest(table).state("hot"));
    // the key is free again: a later commit with it lands
    VersionInfo landed =
        store
            .newTransaction(table)
            .idempotencyKey("basement:rolled-back")
            .setSourceState("hot", kafka(0, 10), kafka(10, 10))
            .commit();
    assertEquals(2, landed.version());
  }

  @Test
  void aCommitInTheCallersCommittedTransactionLandsExactlyOnceWithTheCallersRows()
      throws Exception {
    TableIdentifier table = newTable();
    SourceLock lock = store.acquireLock(table, "warm", "basement-mover", Duration.ofMinutes(1));
    SourceState.Jdbc next = new SourceState.Jdbc(Instant.parse("2026-02-01T00:00:00Z"));
    VersionInfo first;
    try (Connection caller = database.connect();
        Statement statement = caller.createStatement()) {
      statement.execute("CREATE TABLE basement_rows_committed (id bigint)");
      caller.setAutoCommit(false);
      statement.execute("INSERT INTO basement_rows_committed VALUES (1), (2)");
      first =
          store
              .newTransaction(table)
              .operation("move")
              .idempotencyKey("basement:committed")
              .withLock(lock)
              .setSourceState("warm", next)
              .commitUsing(caller);
      caller.commit();
      // a retry in a new caller transaction replays the version and writes nothing
      statement.execute("DELETE FROM basement_rows_committed WHERE id = 2");
      VersionInfo replayed =
          store
              .newTransaction(table)
              .operation("move")
              .idempotencyKey("basement:committed")
              .withLock(lock)
              .setSourceState("warm", next)
              .commitUsing(caller);
      caller.commit();
      assertEquals(first, replayed);
    }
    assertEquals(2, first.version());
    assertEquals(2, store.loadTable(table).currentVersion());
    assertEquals(next, store.readLatest(table).state("warm"));
    assertEquals(first, store.readVersion(table, 2).info());
    store.releaseLock(lock);
  }

  @Test
  void aCommitInACallersTransactionNeedsTheStoresDatabaseAndAutoCommitOff() throws Exception {
    TableIdentifier table = newTable();
    TestingDatabase other = TestingPostgres.shared().createDatabase("not_the_store");
    try (Connection elsewhere = other.connect()) {
      elsewhere.setAutoCommit(false);
      ValidationException wrongDatabase =
          assertThrows(
              ValidationException.class,
              () ->
                  store
                      .newTransaction(table)
                      .setSourceState("hot", kafka(0, 10), kafka(10, 10))
                      .commitUsing(elsewhere));
      assertTrue(wrongDatabase.getMessage().contains(other.name()), wrongDatabase.getMessage());
    }
    try (Connection autoCommit = database.connect()) {
      ValidationException autoCommitOn =
          assertThrows(
              ValidationException.class,
              () ->
                  store
                      .newTransaction(table)
                      .setSourceState("hot", kafka(0, 10), kafka(10, 10))
                      .commitUsing(autoCommit));
      assertTrue(autoCommitOn.getMessage().contains("auto-commit"), autoCommitOn.getMessage());
    }
    assertEquals(1, store.loadTable(table).currentVersion());
  }

  @Test
  void aStoreOfSchemaVersionOneMigratesAndItsTablesTakeIntents() throws Exception {
    TestingDatabase old = TestingPostgres.shared().createDatabase("harness_v1");
    TableIdentifier table = TableIdentifier.of("logs", "before_intents");
    SourceLock held;
    try (HarnessStore first = HarnessStores.open(old.jdbcUrl(), old.user(), old.password())) {
      first.createNamespace("logs", Map.of());
      first.createTable(definition(table));
      first.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(3, 10)).commit();
      first.releaseLock(first.acquireLock(table, "cold", "earlier", Duration.ofMinutes(1)));
      held = first.acquireLock(table, "cold", "old-mover", Duration.ofMinutes(10));
    }
    // what a store written by the first release looks like (leases in harness_locks)
    try (Connection connection = old.connect();
        Statement statement = connection.createStatement()) {
      leasesInTheirOwnTable(statement);
      statement.execute("DROP INDEX harness_versions_idempotency_key");
      statement.execute(
          "CREATE UNIQUE INDEX harness_versions_idempotency ON harness_versions (table_id,"
              + " idempotency_key)");
      statement.execute("DROP TABLE harness_state_checkpoints");
      statement.execute("DROP TABLE harness_intents");
      statement.execute("ALTER TABLE harness_sources DROP COLUMN intent_id");
      statement.execute("ALTER TABLE harness_tables DROP COLUMN oldest_version");
      statement.execute("ALTER TABLE harness_tables DROP COLUMN expiry");
      statement.execute("UPDATE harness_schema_version SET version = 1");
    }
    try (HarnessStore migrated = HarnessStores.open(old.jdbcUrl(), old.user(), old.password())) {
      TableVersion latest = migrated.readLatest(table);
      assertEquals(2, latest.version());
      assertEquals(kafka(3, 10), latest.state("hot"));
      assertEquals(List.of(), latest.openIntents());
      // the lease held across the upgrade is still held, with its fencing token
      assertEquals(List.of(held), migrated.listLocks(table));
      assertEquals(2, held.fencingToken());
      assertThrows(
          LockHeldException.class,
          () -> migrated.acquireLock(table, "cold", "new-mover", Duration.ofMinutes(1)));
      migrated
          .newTransaction(table)
          .withLock(held)
          .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(42))
          .commit();
      migrated.releaseLock(held);
      assertEquals(
          3,
          migrated.acquireLock(table, "cold", "new-mover", Duration.ofMinutes(1)).fencingToken());
      SourceLock lock = migrated.acquireLock(table, "hot", "mover", Duration.ofMinutes(1));
      migrated
          .newTransaction(table)
          .withLock(lock)
          .openIntent("move-1", "move", List.of("hot"), "{}")
          .commit();
      migrated.releaseLock(lock);
      assertThrows(
          IntentPendingException.class,
          () ->
              migrated
                  .newTransaction(table)
                  .setSourceState("hot", kafka(3, 10), kafka(4, 10))
                  .commit());
      assertEquals("move-1", migrated.readLatest(table).openIntents().get(0).id());
    }
    try (Connection connection = old.connect();
        Statement statement = connection.createStatement()) {
      try (ResultSet rows = statement.executeQuery("SELECT version FROM harness_schema_version")) {
        rows.next();
        assertEquals(Migrations.latestVersion(), rows.getInt(1));
      }
      // the idempotency index of version 1 was replaced by one of the versions that have a key
      ResultSet rows =
          statement.executeQuery(
              "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'harness_versions'"
                  + " AND indexdef LIKE '%idempotency_key%'");
      assertTrue(rows.next());
      assertEquals("harness_versions_idempotency_key", rows.getString(1));
      assertTrue(
          rows.getString(2).startsWith("CREATE UNIQUE INDEX")
              && rows.getString(2).endsWith("WHERE (idempotency_key IS NOT NULL)"),
          rows.getString(2));
      assertFalse(rows.next(), "the index of version 1 is gone");
      assertFalse(
          statement
              .executeQuery("SELECT 1 FROM pg_tables WHERE tablename = 'harness_locks'")
              .next(),
          "the leases moved onto harness_sources");
    }
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
