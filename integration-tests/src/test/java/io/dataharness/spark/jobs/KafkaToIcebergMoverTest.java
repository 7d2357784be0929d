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
    assertEquals(0, ((SourceState.Kafka) latest.state("hot")).rowCount());
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
        names.contains(IcebergStaging.tagName(fixture.table, second.version())), names.toString());
    assertTrue(
        names.stream().noneMatch(n -> n.startsWith(IcebergStaging.STAGE_PREFIX)), names.toString());

    MoveResult nothing = fixture.move("hot", "cold", null);
    assertEquals(0, nothing.rowsMoved());
    assertEquals(second.version(), nothing.version());
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
}
