package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.LockHeldException;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.StaleLockException;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingSpark;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** CALL harness.system.unlock: an operator frees the lock of a dead holder and fences it. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UnlockProcedureTest {
  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "unlock_" + suffix;
  private final TableIdentifier table = TableIdentifier.of(namespace, "events");
  private HarnessStore store;

  @BeforeAll
  void setUp() {
    TestingDatabase metadata = testingSpark.metadataDatabase();
    store = HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password(), 2);
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE harness."
            + table
            + " (id BIGINT) TBLPROPERTIES ('source.cold.kind' = 'iceberg',"
            + " 'source.cold.connection' = 'lake', 'source.cold.table' = 'unlock_lake_"
            + suffix
            + ".events')");
  }

  @AfterAll
  void closeStore() {
    store.close();
  }

  private Row unlock(String tableName, String source) {
    List<Row> rows =
        spark
            .sql(
                "CALL harness.system.unlock(table => '"
                    + tableName
                    + "', source => '"
                    + source
                    + "')")
            .collectAsList();
    assertEquals(1, rows.size());
    return rows.get(0);
  }

  private static String messages(Throwable error) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      text.append(cause.getMessage()).append('\n');
    }
    return text.toString();
  }

  @Test
  void breakingALongLeaseLetsANewWriterInAndFencesTheOldOne() {
    SourceLock dead = store.acquireLock(table, "cold", "killed-mover", Duration.ofHours(1));
    assertThrows(
        LockHeldException.class,
        () -> store.acquireLock(table, "cold", "rerun", Duration.ofMinutes(1)));

    Row broken = unlock(table.toString(), "cold");
    assertEquals(table.toString(), broken.getString(0));
    assertEquals("cold", broken.getString(1));
    assertEquals("killed-mover", broken.getString(2));
    assertEquals(dead.fencingToken(), broken.getLong(3));
    assertTrue(broken.getBoolean(4));
    assertEquals(0, spark.sql("SELECT * FROM harness." + table + ".locks").count());

    SourceLock rerun = store.acquireLock(table, "cold", "rerun", Duration.ofMinutes(1));
    assertTrue(rerun.fencingToken() > dead.fencingToken(), rerun + " after " + dead);

    SourceState current = store.readLatest(table).state("cold");
    StaleLockException fenced =
        assertThrows(
            StaleLockException.class,
            () ->
                store
                    .newTransaction(table)
                    .operation("append")
                    .withLock(dead)
                    .setSourceState("cold", current, SourceState.Iceberg.of(1))
                    .commit());
    assertTrue(fenced.getMessage().contains("killed-mover"), fenced.getMessage());
    assertEquals(1, store.readLatest(table).version());

    store.releaseLock(rerun);
    Row free = unlock(table.toString(), "cold");
    assertEquals(false, free.getBoolean(4));
    assertTrue(free.isNullAt(2), free.toString());
    assertTrue(free.isNullAt(3), free.toString());
  }

  @Test
  void unknownTablesAndSourcesAreNamed() {
    String missingTable = namespace + ".missing";
    String tableError = messages(assertThrows(Exception.class, () -> unlock(missingTable, "cold")));
    assertTrue(tableError.contains("Cannot unlock source 'cold' of " + missingTable), tableError);
    assertTrue(tableError.contains("does not exist"), tableError);

    String sourceError =
        messages(assertThrows(Exception.class, () -> unlock(table.toString(), "warm")));
    assertTrue(sourceError.contains("Cannot unlock source 'warm' of " + table), sourceError);
    assertTrue(sourceError.contains("[cold]"), sourceError);
  }
}
