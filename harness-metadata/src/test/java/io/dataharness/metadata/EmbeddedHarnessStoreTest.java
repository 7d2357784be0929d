package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The embedded store (H2 in a file) meets the store contract. */
class EmbeddedHarnessStoreTest extends HarnessStoreConformanceTest {
  private Path directory;

  @Override
  protected HarnessStore openStore() {
    Path created;
    try {
      created = Files.createTempDirectory("harness-embedded");
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    if (directory == null) {
      directory = created; // the directory of the store the tests share
    }
    return HarnessStores.openEmbedded(created);
  }

  @Override
  protected HarnessStore openAnotherProcess() {
    return HarnessStores.openEmbedded(directory);
  }

  @Test
  void reopeningTheFileKeepsEverything() {
    TableIdentifier table = newTable();
    try (HarnessStore second = HarnessStores.openEmbedded(directory)) {
      assertEquals(store.readLatest(table), second.readLatest(table));
    }
  }

  /** A store of schema version 6 (leases in harness_locks) migrates with its leases held. */
  @Test
  void aStoreOfSchemaVersionSixMigratesWithItsLeases() throws Exception {
    Path old = Files.createTempDirectory("harness-embedded-v6");
    TableIdentifier table = TableIdentifier.of("logs", "before_leases");
    SourceLock held;
    try (HarnessStore first = HarnessStores.openEmbedded(old)) {
      first.createNamespace("logs", java.util.Map.of());
      first.createTable(definition(table));
      first.releaseLock(
          first.acquireLock(table, "hot", "earlier", java.time.Duration.ofMinutes(1)));
      held = first.acquireLock(table, "hot", "old-mover", java.time.Duration.ofMinutes(10));
    }
    String url =
        "jdbc:h2:file:"
            + old.toAbsolutePath().resolve("harness")
            + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH;AUTO_SERVER=TRUE";
    try (java.sql.Connection connection = java.sql.DriverManager.getConnection(url, "sa", "");
        java.sql.Statement statement = connection.createStatement()) {
      leasesInTheirOwnTable(statement);
      statement.execute("UPDATE harness_schema_version SET version = 6");
    }
    try (HarnessStore migrated = HarnessStores.openEmbedded(old)) {
      assertEquals(java.util.List.of(held), migrated.listLocks(table));
      assertThrows(
          LockHeldException.class,
          () -> migrated.acquireLock(table, "hot", "new-mover", java.time.Duration.ofMinutes(1)));
      migrated
          .newTransaction(table)
          .withLock(held)
          .setSourceState("hot", kafka(0, 10), kafka(0, 20))
          .commit();
      migrated.releaseLock(held);
      assertEquals(
          3,
          migrated
              .acquireLock(table, "hot", "new-mover", java.time.Duration.ofMinutes(1))
              .fencingToken());
    }
  }

  @Test
  void committingInsideACallersDatabaseTransactionIsRefusedClearly() throws Exception {
    TableIdentifier table = newTable();
    try (java.sql.Connection connection =
        java.sql.DriverManager.getConnection("jdbc:h2:mem:caller", "sa", "")) {
      connection.setAutoCommit(false);
      ValidationException refused =
          assertThrows(
              ValidationException.class,
              () ->
                  store
                      .newTransaction(table)
                      .setSourceState("hot", kafka(0, 10), kafka(10, 10))
                      .commitUsing(connection));
      assertTrue(refused.getMessage().contains("not PostgreSQL"), refused.getMessage());
    }
    assertEquals(1, store.loadTable(table).currentVersion());
  }
}
