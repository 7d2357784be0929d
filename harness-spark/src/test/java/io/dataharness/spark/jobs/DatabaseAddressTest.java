package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Basement mode is chosen when the metadata store and a jdbc source share one database. */
class DatabaseAddressTest {
  @Test
  void theSameDatabaseIsRecognisedWhateverTheSpellingOfHostAndParameters() {
    assertTrue(
        DatabaseAddress.sameDatabase(
            "jdbc:postgresql://localhost:5432/app?ApplicationName=harness",
            "jdbc:postgresql://127.0.0.1/app"));
    assertTrue(
        DatabaseAddress.sameDatabase(
            "jdbc:postgresql://DB.example.com:6543/app",
            "jdbc:postgresql://db.example.com:6543/app"));
    assertTrue(
        DatabaseAddress.sameDatabase("jdbc:postgresql:app", "jdbc:postgresql://localhost/app"));
  }

  @Test
  void otherDatabasesPortsHostsAndStoresAreNotTheBasement() {
    assertFalse(
        DatabaseAddress.sameDatabase(
            "jdbc:postgresql://localhost:5432/metadata", "jdbc:postgresql://localhost:5432/app"));
    assertFalse(
        DatabaseAddress.sameDatabase(
            "jdbc:postgresql://localhost:5433/app", "jdbc:postgresql://localhost:5432/app"));
    assertFalse(
        DatabaseAddress.sameDatabase("jdbc:postgresql://db1/app", "jdbc:postgresql://db2/app"));
    assertFalse(
        DatabaseAddress.sameDatabase("jdbc:h2:file:/tmp/harness", "jdbc:postgresql://db1/app"));
    assertEquals(Optional.empty(), DatabaseAddress.of("jdbc:h2:file:/tmp/harness"));
  }
}
