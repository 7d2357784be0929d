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
