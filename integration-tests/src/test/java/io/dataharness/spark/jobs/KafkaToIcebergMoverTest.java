package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.write.IcebergStaging;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The Kafka to Iceberg mover against a real broker, Iceberg catalog and metadata store. */
class KafkaToIcebergMoverTest {

  @AfterEach
  void resetCrashPoints() {
    CrashPoints.hook = point -> {};
  }

  @Test
  void movesBatchesAndEveryIdIsReadExactlyOnceBeforeAndAfter() {
    MoveFixture fixture = new MoveFixture(3, "");
    fixture.produce(0, 300);
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    assertEquals(MoveFixture.range(0, 300), fixture.ids());
    assertEquals(0, fixture.icebergMainCount());

    MoveResult first = fixture.move("hot", "cold", 100L);
    assertEquals(100, first.rowsMoved());
    assertFalse(first.replayed());
    assertEquals(MoveFixture.range(0, 300), fixture.ids());
    assertEquals(100, fixture.icebergMainCount());
    assertEquals(
        100, fixture.ids("SELECT id FROM " + fixture.qualified + " WHERE _source = 'cold'").size());

    MoveResult second = fixture.move("hot", "cold", null);
    assertEquals(200, second.rowsMoved());
    assertEquals(MoveFixture.range(0, 300), fixture.ids());
    assertEquals(300, fixture.icebergMainCount());
    TableVersion latest = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(0, ((SourceState.Kafka) latest.state("hot")).offsetCount());
    assertEquals("move", latest.commit().operation());
    assertEquals("200", latest.commit().summary().get("rows"));
    // earlier versions still read exactly what they recorded
    assertEquals(
        MoveFixture.range(0, 300),
        fixture.ids("SELECT id FROM " + fixture.qualified + " VERSION AS OF " + first.version()));
    // every harness snapshot is tagged, so Iceberg snapshot expiry keeps it
    var refs = fixture.spark.sql("SELECT name FROM " + fixture.icebergTable + ".refs");
    List<String> names = refs.collectAsList().stream().map(r -> r.getString(0)).toList();
    assertTrue(
        names.contains(
            IcebergStaging.tagName(
                fixture.catalog().store().loadTable(fixture.table), second.version())),
        names.toString());
    assertTrue(
        names.stream().noneMatch(n -> n.startsWith(IcebergStaging.STAGE_PREFIX)), names.toString());

    MoveResult nothing = fixture.move("hot", "cold", null);
    assertEquals(0, nothing.rowsMoved());
    assertEquals(second.version(), nothing.version());
  }

  @Test
  void aMoveAfterAnAppendOutsideTheHarnessCherryPicksItsSnapshotOntoMainInOneStep() {
    MoveFixture fixture = new MoveFixture(2, "");
    fixture.produce(0, 10);
    MoveResult first = fixture.move("hot", "cold", null);
    assertEquals(10, first.rowsMoved());
    // main moves on without the harness
    fixture
        .spark
        .sql("INSERT INTO " + fixture.icebergTable + " VALUES (500, 'x', 1), (501, 'y', 1)")
        .collect();
    fixture.produce(10, 20);

    MoveResult second = fixture.move("hot", "cold", null);
    assertEquals(10, second.rowsMoved());
    // main holds both: the outside append and a cherry-picked copy of the staged snapshot
    assertEquals(22, fixture.icebergMainCount());
    // the harness reads the snapshot it recorded (staged on the snapshot it recorded before)
    assertEquals(MoveFixture.range(0, 20), fixture.ids());
    var refs = fixture.spark.sql("SELECT name, snapshot_id FROM " + fixture.icebergTable + ".refs");
    List<String> names = refs.collectAsList().stream().map(r -> r.getString(0)).toList();
    String tag =
        IcebergStaging.tagName(
            fixture.catalog().store().loadTable(fixture.table), second.version());
    assertTrue(names.contains(tag), names.toString());
    assertTrue(
        names.stream().noneMatch(n -> n.startsWith(IcebergStaging.STAGE_PREFIX)), names.toString());
    // publishing again (a rerun) changes nothing
    MoveResult nothing = fixture.move("hot", "cold", null);
    assertEquals(0, nothing.rowsMoved());
    assertEquals(22, fixture.icebergMainCount());
  }

  @Test
  void aCrashAtAnyStepNeitherLosesNorDuplicatesRows() {
    MoveFixture fixture = new MoveFixture(2, "");
    long produced = 0;
    for (String point :
        List.of(
            CrashPoints.BEFORE_TARGET_WRITE,
            CrashPoints.AFTER_TARGET_WRITE,
            CrashPoints.AFTER_HARNESS_COMMIT)) {
      fixture.produce(produced, produced + 50);
      produced += 50;
      fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
      long mainBefore = fixture.icebergMainCount();
      CrashPoints.hook =
          reached -> {
            if (reached.equals(point)) {
              throw new IllegalStateException("injected crash " + point);
            }
          };
      Exception crash =
          assertThrows(IllegalStateException.class, () -> fixture.move("hot", "cold", null));
      assertTrue(crash.getMessage().contains(point), crash.getMessage());
      CrashPoints.hook = reached -> {};
      // readers see every row exactly once; plain Iceberg readers see nothing new yet
      assertEquals(MoveFixture.range(0, produced), fixture.ids(), point);
      assertEquals(mainBefore, fixture.icebergMainCount(), point);

      MoveResult rerun = fixture.move("hot", "cold", null);
      assertEquals(MoveFixture.range(0, produced), fixture.ids(), point);
      assertEquals(produced, fixture.icebergMainCount(), point);
      assertEquals(50, rerun.rowsMoved(), point);
      assertEquals(point.equals(CrashPoints.AFTER_HARNESS_COMMIT), rerun.replayed(), point);
    }
    var refs = fixture.spark.sql("SELECT name FROM " + fixture.icebergTable + ".refs");
    assertTrue(
        refs.collectAsList().stream()
            .noneMatch(r -> r.getString(0).startsWith(IcebergStaging.STAGE_PREFIX)));
  }

  @Test
  void aMoveWithoutSyncTakesWhatIsInTheTopicAndPicksUpAddedPartitions() {
    MoveFixture fixture = new MoveFixture(3, "");
    fixture.produce(0, 300);
    // no sync: the move reads the live end and records it in its own version
    MoveResult first = fixture.move("hot", "cold", 120L);
    assertEquals(120, first.rowsMoved());
    SourceState.Kafka hot = fixture.kafkaState(first.version());
    assertEquals(fixture.kafka.stableEndOffsets(fixture.topic), ends(hot));
    assertEquals(180, hot.offsetCount());
    assertEquals(MoveFixture.range(0, 300), fixture.idsAt(first.version()));

    // partitions added to the topic: picked up from their earliest offset by moves and syncs
    fixture.kafka.addPartitions(fixture.topic, 5);
    fixture.kafka.produceJson(fixture.topic, 3, events(300, 330));
    fixture.kafka.produceJson(fixture.topic, 4, events(330, 340));
    MoveResult second = fixture.move("hot", "cold", null);
    assertEquals(220, second.rowsMoved());
    hot = fixture.kafkaState(second.version());
    assertEquals(fixture.kafka.stableEndOffsets(fixture.topic), ends(hot));
    assertEquals(0, hot.offsetCount());
    assertEquals(MoveFixture.range(0, 340), fixture.idsAt(second.version()));
    assertEquals(340, fixture.icebergMainCount());

    fixture.kafka.addPartitions(fixture.topic, 6);
    fixture.kafka.produceJson(fixture.topic, 5, events(340, 350));
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    TableVersion synced = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(
        new SourceState.OffsetRange(0, 10), ((SourceState.Kafka) synced.state("hot")).partition(5));
    assertEquals(MoveFixture.range(0, 350), fixture.idsAt(synced.version()));
  }

  @Test
  void aSourceWithAnExplicitPartitionListIgnoresAddedPartitions() {
    MoveFixture fixture = new MoveFixture(2, ", 'source.hot.partitions' = '0,1'");
    fixture.produce(0, 20);
    fixture.kafka.addPartitions(fixture.topic, 3);
    fixture.kafka.produceJson(fixture.topic, 2, events(100, 105));
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    TableVersion synced = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(
        java.util.Set.of(0, 1), ((SourceState.Kafka) synced.state("hot")).partitions().keySet());
    MoveResult moved = fixture.move("hot", "cold", null);
    assertEquals(20, moved.rowsMoved());
    assertEquals(java.util.Set.of(0, 1), fixture.kafkaState(moved.version()).partitions().keySet());
    assertEquals(MoveFixture.range(0, 20), fixture.idsAt(moved.version()));
  }

  @Test
  void fortyPartitionsKeepTheIdempotencyKeyShortAndARerunIsIdempotent() {
    MoveFixture fixture = new MoveFixture(40, "");
    fixture.produce(0, 40 * 110);
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    // 100 offsets per partition, so that the next batch's ranges are long to describe
    assertEquals(4000, fixture.move("hot", "cold", 4000L).rowsMoved());
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    CrashPoints.hook =
        reached -> {
          if (reached.equals(CrashPoints.AFTER_TARGET_WRITE)) {
            throw new IllegalStateException("injected crash " + reached);
          }
        };
    assertThrows(IllegalStateException.class, () -> fixture.move("hot", "cold", null));
    CrashPoints.hook = reached -> {};
    MoveResult rerun = fixture.move("hot", "cold", null);
    assertEquals(400, rerun.rowsMoved());
    assertFalse(rerun.replayed());
    TableVersion latest = fixture.catalog().store().readLatest(fixture.table);
    String key = latest.commit().idempotencyKey();
    assertTrue(key.length() < 300, key);
    assertTrue(key.startsWith("move:" + fixture.table + ":hot->cold:"), key);
    assertEquals(MoveFixture.range(0, 40 * 110), fixture.idsAt(rerun.version()));
    assertEquals(40 * 110, fixture.icebergMainCount());
    // and again: nothing left, the same version
    assertEquals(rerun.version(), fixture.move("hot", "cold", null).version());
  }

  private static java.util.Map<Integer, Long> ends(SourceState.Kafka state) {
    java.util.Map<Integer, Long> ends = new java.util.TreeMap<>();
    state.partitions().forEach((partition, range) -> ends.put(partition, range.end()));
    return ends;
  }

  private static List<String> events(long from, long to) {
    return MoveFixture.range(from, to).stream()
        .map(id -> MoveFixture.event(id, "m" + id, 1))
        .toList();
  }
}
