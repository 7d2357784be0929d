package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Kafka to PostgreSQL upserts by primary key with an ordering column, on real services. */
class KafkaToPostgresMoverTest {

  @AfterEach
  void resetCrashPoints() {
    CrashPoints.hook = point -> {};
  }

  /** Runs a hot -> warm move that crashes after its upsert committed, before the harness commit. */
  private static void crashAfterTheUpsert(MoveFixture fixture) {
    CrashPoints.hook =
        point -> {
          if (point.equals(CrashPoints.AFTER_TARGET_WRITE)) {
            throw new IllegalStateException("injected crash " + point);
          }
        };
    assertThrows(IllegalStateException.class, () -> fixture.move("hot", "warm", null));
    CrashPoints.hook = point -> {};
  }

  private static List<String> rows(MoveFixture fixture) {
    return fixture.rows(
        "SELECT id, message, version, _source FROM " + fixture.qualified + " ORDER BY id");
  }

  @Test
  void upsertsKeepTheNewestImageOfEachKey() {
    MoveFixture fixture =
        new MoveFixture(1, ", 'primary-key' = 'id', 'ordering-column' = 'version'");
    fixture.kafka.produceJson(
        fixture.topic,
        0,
        List.of(
            MoveFixture.event(1, "a", 1),
            MoveFixture.event(2, "x", 1),
            MoveFixture.event(1, "b", 2),
            MoveFixture.event(3, "newest", 5),
            MoveFixture.event(3, "older but later", 4)));
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    List<Row> result =
        fixture
            .spark
            .sql(
                "CALL harness.system.move(table => '"
                    + fixture.table
                    + "', source => 'hot', target => 'warm')")
            .collectAsList();
    assertEquals(3L, result.get(0).getLong(1)); // three keys staged after dedup in the batch
    assertEquals(false, result.get(0).getBoolean(2));
    assertEquals(List.of("[1,b,2,warm]", "[2,x,1,warm]", "[3,newest,5,warm]"), rows(fixture));

    // a later message with a newer ordering value wins; an older one loses even if it comes later
    fixture.kafka.produceJson(
        fixture.topic, 0, List.of(MoveFixture.event(1, "c", 3), MoveFixture.event(2, "stale", 0)));
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    // crash after the PostgreSQL commit, before the harness commit: the rerun completes the batch
    crashAfterTheUpsert(fixture);
    // the harness still reads the old PostgreSQL state plus the Kafka messages
    assertEquals(
        List.of(
            "[1,b,2,warm]", "[1,c,3,hot]", "[2,stale,0,hot]", "[2,x,1,warm]", "[3,newest,5,warm]"),
        rows(fixture));
    MoveResult rerun = fixture.move("hot", "warm", null);
    assertEquals(2, rerun.rowsMoved());
    assertEquals(List.of("[1,c,3,warm]", "[2,x,1,warm]", "[3,newest,5,warm]"), rows(fixture));
    // the version before still reads the old images (system-versioned PostgreSQL)
    assertEquals(
        List.of("[1,b,2]"),
        fixture.rows(
            "SELECT id, message, version FROM "
                + fixture.qualified
                + " VERSION AS OF "
                + (rerun.version() - 1)
                + " WHERE id = 1 AND _source = 'warm'"));
  }

  @Test
  void aCrashAfterTheUpsertNeverShowsRowsTwiceWhateverRunsBeforeTheRerun() {
    MoveFixture fixture =
        new MoveFixture(2, ", 'primary-key' = 'id', 'ordering-column' = 'version'");
    fixture.produce(0, 100);
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    assertEquals(40, fixture.move("hot", "warm", 40L).rowsMoved());
    fixture.produce(100, 150);
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    crashAfterTheUpsert(fixture);
    TableVersion intent = fixture.catalog().store().readLatest(fixture.table);

    // what runs before the rerun cannot expose the upserted rows a second time
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    fixture.produce(150, 170);
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    TableVersion synced = fixture.catalog().store().readLatest(fixture.table);
    // the open intent covers both sources: sync leaves them as they were (no id twice)
    assertEquals(MoveFixture.range(0, 150), fixture.idsAt(synced.version()));
    assertEquals(intent.state("warm"), synced.state("warm"));
    assertEquals(intent.state("hot"), synced.state("hot"));
    assertEquals("intent", intent.commit().operation());
    assertEquals(1, intent.openIntents().size());
    String payload = intent.openIntents().get(0).payload();
    CommitConflictException elsewhere =
        assertThrows(CommitConflictException.class, () -> fixture.move("hot", "cold", null));
    assertTrue(
        elsewhere.getMessage().contains(intent.openIntents().get(0).id()), elsewhere.getMessage());
    assertThrows(CommitConflictException.class, () -> fixture.move("warm", "cold", 1000L));

    // the rerun completes exactly the recorded batch, not what arrived since
    MoveResult rerun = fixture.move("hot", "warm", null);
    assertEquals(110, rerun.rowsMoved());
    assertTrue(payload.contains("\"offsets\":\"" + rerun.summary().get("ranges") + "\""), payload);
    TableVersion done = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(List.of(), done.openIntents());
    assertEquals(20, ((SourceState.Kafka) done.state("hot")).offsetCount());
    for (long version = 1; version <= done.version(); version++) {
      List<Long> ids = fixture.idsAt(version);
      assertEquals(new java.util.TreeSet<>(ids).size(), ids.size(), "duplicates at " + version);
    }
    assertEquals(MoveFixture.range(0, 170), fixture.idsAt(done.version()));
    assertEquals(MoveFixture.range(0, 170), fixture.ids());
    assertEquals(
        150, fixture.ids("SELECT id FROM " + fixture.qualified + " WHERE _source = 'warm'").size());
  }

  @Test
  void fortyPartitionsKeepTheIdempotencyKeyShortAndValidBeforeTheUpsert() {
    MoveFixture fixture =
        new MoveFixture(40, ", 'primary-key' = 'id', 'ordering-column' = 'version'");
    fixture.produce(0, 40 * 110);
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    assertEquals(4000, fixture.move("hot", "warm", 4000L).rowsMoved());
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    crashAfterTheUpsert(fixture);
    MoveResult rerun = fixture.move("hot", "warm", null);
    assertEquals(400, rerun.rowsMoved());
    TableVersion latest = fixture.catalog().store().readLatest(fixture.table);
    String key = latest.commit().idempotencyKey();
    assertTrue(key.length() < 300, key);
    assertEquals(MoveFixture.range(0, 40 * 110), fixture.idsAt(rerun.version()));
    assertEquals(rerun.version(), fixture.move("hot", "warm", null).version());
  }

  @Test
  void aRerunAfterTheUpsertCommittedKeepsTheApplicationsDeletesAndUpdates() throws Exception {
    // no ordering column: re-applying an image would also undo the application's update
    MoveFixture fixture = new MoveFixture(1, ", 'primary-key' = 'id'");
    fixture.produce(0, 10);
    fixture.sync();
    crashAfterTheUpsert(fixture);
    // the application changes the upserted rows before the rerun
    TestSql.postgres(
        "DELETE FROM " + fixture.pgTable + " WHERE id IN (3, 4)",
        "UPDATE " + fixture.pgTable + " SET message = 'changed by the application' WHERE id = 5");

    MoveResult rerun = fixture.move("hot", "warm", null);
    assertEquals(10, rerun.rowsMoved());
    List<Long> expected = new java.util.ArrayList<>(MoveFixture.range(0, 10));
    expected.removeAll(List.of(3L, 4L));
    assertEquals(expected, fixture.idsAt(rerun.version()));
    assertEquals(expected, fixture.ids());
    assertEquals(
        List.of("changed by the application"),
        TestSql.postgresStrings("SELECT message FROM " + fixture.pgTable + " WHERE id = 5"));
    assertEquals(List.of(), fixture.catalog().store().readLatest(fixture.table).openIntents());
  }
}
