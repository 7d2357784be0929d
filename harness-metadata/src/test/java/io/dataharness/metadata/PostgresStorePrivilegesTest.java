package io.dataharness.metadata;

import static io.dataharness.metadata.HarnessStoreConformanceTest.kafka;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The metadata store's grants of docs/postgresql-privileges.md, on a real PostgreSQL server: the
 * owner of a schema migrates the store; a runtime user with only SELECT, INSERT, UPDATE and DELETE
 * on its tables opens it and commits. PUBLIC's default rights are revoked, so nothing works by
 * accident.
 */
class PostgresStorePrivilegesTest {
  private static final String SUFFIX = UUID.randomUUID().toString().substring(0, 8);
  private static final String OWNER = "harness_owner_" + SUFFIX;
  private static final String RUNTIME = "harness_runtime_" + SUFFIX;
  private static final String PASSWORD = "secret-" + SUFFIX;
  private static final String SCHEMA = "harness";

  private static TestingDatabase database;
  private static TestingDatabase administration;

  @BeforeAll
  static void grantWhatTheDocsSay() throws SQLException {
    database = TestingPostgres.shared().createDatabase("store_privileges");
    administration = TestingPostgres.shared().createDatabase("store_privileges_administration");
    try (Connection admin = administration.connect();
        Statement statement = admin.createStatement()) {
      for (String role : List.of(OWNER, RUNTIME)) {
        statement.execute("CREATE ROLE " + role + " LOGIN PASSWORD '" + PASSWORD + "'");
      }
    }
    try (Connection admin = database.connect();
        Statement statement = admin.createStatement()) {
      statement.execute("REVOKE ALL ON DATABASE " + database.name() + " FROM PUBLIC");
      statement.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
      // docs/postgresql-privileges.md, the metadata store: its owner
      statement.execute("GRANT CONNECT ON DATABASE " + database.name() + " TO " + OWNER);
      statement.execute("CREATE SCHEMA " + SCHEMA + " AUTHORIZATION " + OWNER);
      statement.execute(
          "ALTER ROLE " + OWNER + " IN DATABASE " + database.name() + " SET search_path = harness");
      // and a runtime user
      statement.execute("GRANT CONNECT ON DATABASE " + database.name() + " TO " + RUNTIME);
      statement.execute("GRANT USAGE ON SCHEMA " + SCHEMA + " TO " + RUNTIME);
      statement.execute(
          "ALTER DEFAULT PRIVILEGES FOR ROLE "
              + OWNER
              + " IN SCHEMA "
              + SCHEMA
              + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "
              + RUNTIME);
      // a strict default: functions are not executable by PUBLIC, so the grant below is needed
      statement.execute(
          "ALTER DEFAULT PRIVILEGES FOR ROLE "
              + OWNER
              + " REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC");
      statement.execute(
          "ALTER DEFAULT PRIVILEGES FOR ROLE "
              + OWNER
              + " IN SCHEMA "
              + SCHEMA
              + " GRANT EXECUTE ON FUNCTIONS TO "
              + RUNTIME);
      statement.execute(
          "ALTER ROLE "
              + RUNTIME
              + " IN DATABASE "
              + database.name()
              + " SET search_path = harness");
    }
  }

  @AfterAll
  static void dropRoles() throws SQLException {
    try (Connection admin = administration.connect();
        Statement statement = admin.createStatement()) {
      statement.execute("DROP DATABASE IF EXISTS " + database.name() + " WITH (FORCE)");
      for (String role : List.of(OWNER, RUNTIME)) {
        statement.execute("DROP ROLE IF EXISTS " + role);
      }
    }
  }

  private static HarnessStore openAs(String user) {
    return HarnessStores.open(database.jdbcUrl(), user, PASSWORD);
  }

  private static TableIdentifier newTable(HarnessStore store) {
    TableIdentifier table = TableIdentifier.of("privileges", "events_" + UUID.randomUUID());
    if (!store.namespaceExists("privileges")) {
      store.createNamespace("privileges", Map.of());
    }
    store.createTable(HarnessStoreConformanceTest.definition(table));
    return table;
  }

  @Test
  void theOwnerMigratesAndARuntimeUserWithOnlyDmlGrantsCommits() throws Exception {
    TableIdentifier created;
    try (HarnessStore owner = openAs(OWNER)) {
      created = newTable(owner);
      owner.newTransaction(created).setSourceState("hot", kafka(0, 10), kafka(0, 20)).commit();
    }
    try (HarnessStore runtime = openAs(RUNTIME)) {
      // commits (plain ones go through the store's function), locks, new tables, expiry
      assertEquals(
          3,
          runtime
              .newTransaction(created)
              .setSourceState("hot", kafka(0, 20), kafka(0, 30))
              .commit()
              .version());
      SourceLock lock =
          runtime.acquireLock(created, "hot", "privileges-test", Duration.ofMinutes(1));
      runtime
          .newTransaction(created)
          .withLock(lock)
          .idempotencyKey("privileges:1")
          .setSourceState("hot", kafka(0, 40))
          .commit();
      runtime.releaseLock(lock);
      TableIdentifier another = newTable(runtime);
      runtime.newTransaction(another).setSourceState("hot", kafka(0, 10), kafka(5, 10)).commit();
      runtime.expireVersions(created, 2, "privileges test");
      assertEquals(kafka(0, 40), runtime.readLatest(created).state("hot"));
      assertEquals(kafka(0, 20), runtime.readVersion(created, 2).state("hot"));
      assertEquals(kafka(5, 10), runtime.readLatest(another).state("hot"));
    }
    // and the runtime user really has no more than DML: it cannot create or change tables
    try (Connection runtime = DriverManager.getConnection(database.jdbcUrl(), RUNTIME, PASSWORD);
        Statement statement = runtime.createStatement()) {
      for (String sql :
          List.of(
              "CREATE TABLE harness.forged (id int)",
              "ALTER TABLE harness.harness_versions ADD COLUMN forged int",
              "DROP TABLE harness.harness_versions")) {
        SQLException refused = assertThrows(SQLException.class, () -> statement.execute(sql));
        assertTrue(
            refused.getMessage().contains("permission denied")
                || refused.getMessage().contains("must be owner"),
            refused.getMessage());
      }
    }
  }

  @Test
  void aRuntimeUserCannotMigrateAndTheErrorSaysWhoCan() throws Exception {
    try (HarnessStore owner = openAs(OWNER)) {
      newTable(owner); // migrated
    }
    try (Connection admin = database.connect();
        Statement statement = admin.createStatement()) {
      // as after an upgrade that brings a new migration
      statement.execute("UPDATE harness.harness_schema_version SET version = version - 1");
    }
    MetadataStoreException refused =
        assertThrows(MetadataStoreException.class, () -> openAs(RUNTIME));
    assertTrue(
        refused.getMessage().contains("Cannot migrate the metadata store from schema version")
            && refused.getMessage().contains("open it once as the user that owns its tables"),
        refused.getMessage());
    // the owner migrates it (again), then the runtime user opens it
    openAs(OWNER).close();
    try (HarnessStore runtime = openAs(RUNTIME)) {
      assertTrue(runtime.namespaceExists("privileges"));
    }
  }
}
