package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceState;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * {@code rollback_to_version} on real services: a new version reads exactly the restored version's
 * rows, Iceberg's main follows, the undone moves can run again without duplicates, every earlier
 * version still reads as before, the audit is clean; and what cannot be restored is refused,
 * changing nothing.
 */
class RollbackTest {

  private static Map<Long, List<Long>> everyVersion(MoveFixture fixture, long to) {
    Map<Long, List<Long>> ids = new TreeMap<>();
    for (long version = 1; version <= to; version++) {
      ids.put(version, fixture.idsAt(version));
    }
    return ids;
  }

  private static Row rollback(MoveFixture fixture, long version) {
    return fixture
        .spark
        .sql(
            "CALL harness.system.rollback_to_version(table => '"
                + fixture.table
                + "', version => "
                + version
                + ")")
        .collectAsList()
        .get(0);
  }

  private static String failure(MoveFixture fixture, long version) {
    Throwable error = assertThrows(Exception.class, () -> rollback(fixture, version));
    StringBuilder messages = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      messages.append(cause.getMessage()).append(" | ");
    }
    return messages.toString();
  }

  @Test
  void aRollbackRestoresAVersionAndTheUndoneMovesRunAgainWithoutDuplicates() {
    MoveFixture fixture = new MoveFixture(1, "");
    HarnessStore store = fixture.catalog().store();
    fixture.produce(0, 20);
    long target = fixture.move("hot", "cold", 10L).version(); // ids 0-9 in Iceberg
    fixture.produce(20, 30);
    fixture.move("hot", "cold", 10L); // ids 10-19 in Iceberg
    fixture.sync();
    long latest = store.readLatest(fixture.table).version();
    Map<Long, List<Long>> before = everyVersion(fixture, latest);

    Row result = rollback(fixture, target);
    long rolledBack = result.getLong(0);
    assertEquals(latest + 1, rolledBack, result.toString());
    assertEquals(List.of("cold", "hot", "warm"), result.getList(2), result.toString());
    assertEquals(before.get(target), fixture.idsAt(rolledBack));
    assertEquals(
        store.readVersion(fixture.table, target).sourceStates(),
        store.readLatest(fixture.table).sourceStates());
    assertEquals(10, fixture.icebergMainCount(), "Iceberg's main is back at the target's snapshot");
    assertEquals(before, everyVersion(fixture, latest), "earlier versions read as before");

    // the undone move runs again (its idempotency key was forgotten), and a sync brings Kafka's
    // later messages back: every id exactly once
    assertEquals(10, fixture.move("hot", "cold", 10L).rowsMoved());
    fixture.sync();
    assertEquals(MoveFixture.range(0, 30), fixture.ids());
    assertEquals(20, fixture.icebergMainCount());
    long cold =
        ((SourceState.Iceberg) store.readLatest(fixture.table).state("cold"))
            .snapshotId()
            .getAsLong();
    assertEquals(
        cold,
        fixture
            .spark
            .sql("SELECT snapshot_id FROM " + fixture.icebergTable + ".refs WHERE name = 'main'")
            .collectAsList()
            .get(0)
            .getLong(0));
    assertEquals(
        List.of(),
        fixture
            .spark
            .sql("CALL harness.system.audit(table => '" + fixture.table + "')")
            .collectAsList());
  }

  @Test
  void whatTheSourcesNoLongerHoldIsRefusedAndNothingChanges() throws Exception {
    MoveFixture fixture =
        new MoveFixture(1, ", 'primary-key' = 'id', 'ordering-column' = 'version'");
    HarnessStore store = fixture.catalog().store();
    fixture.produce(0, 20);
    fixture.move("hot", "cold", 5L);
    long beforePostgres = fixture.move("hot", "cold", 5L).version();
    long intoPostgres = fixture.move("hot", "warm", null).version();
    long latest = store.readLatest(fixture.table).version();

    assertTrue(failure(fixture, latest).contains("not an earlier version"));
    String postgres = failure(fixture, beforePostgres);
    assertTrue(postgres.contains("versions [" + intoPostgres + "]"), postgres);
    assertTrue(postgres.contains("PostgreSQL source"), postgres);
    assertEquals(latest, store.readLatest(fixture.table).version());

    // Kafka retention deleted offsets the target version reads
    MoveFixture other = new MoveFixture(1, "");
    other.produce(0, 10);
    long start = other.move("hot", "cold", 5L).version();
    other.move("hot", "cold", 5L);
    other.kafka.deleteRecordsBefore(other.topic, 0, 7);
    long otherLatest = other.catalog().store().readLatest(other.table).version();
    String retention = failure(other, start);
    assertTrue(retention.contains("source 'hot' no longer holds its rows"), retention);
    assertEquals(otherLatest, other.catalog().store().readLatest(other.table).version());
  }
}
