package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The embedded store (H2 in a file) meets the store contract. */
class EmbeddedHarnessStoreTest extends HarnessStoreConformanceTest {
  private Path directory;

  @Override
  protected HarnessStore openStore() {
    try {
      directory = Files.createTempDirectory("harness-embedded");
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return HarnessStores.openEmbedded(directory);
  }

  @Test
  void reopeningTheFileKeepsEverything() {
    TableIdentifier table = newTable();
    try (HarnessStore second = HarnessStores.openEmbedded(directory)) {
      assertEquals(store.readLatest(table), second.readLatest(table));
    }
  }
}
