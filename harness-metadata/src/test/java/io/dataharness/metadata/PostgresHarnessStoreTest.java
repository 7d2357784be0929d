package io.dataharness.metadata;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingPostgres;

/** The production store on a real PostgreSQL server meets the store contract. */
class PostgresHarnessStoreTest extends HarnessStoreConformanceTest {
  TestingDatabase database;

  @Override
  protected HarnessStore openStore() {
    database = TestingPostgres.shared().createDatabase("harness_store");
    return HarnessStores.open(database.jdbcUrl(), database.user(), database.password());
  }
}
