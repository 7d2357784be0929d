package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.LockHeldException;
import io.dataharness.metadata.SourceState;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * {@code compact} on real services: Iceberg's rewrite of an Iceberg source's small files, under the
 * source's lock and recorded in one version, leaves every version's rows unchanged, reduces the
 * file count, never conflicts with a mover running at the same time, and does nothing (no version)
 * when there is nothing to rewrite.
 */
class CompactTest {

  private static long dataFiles(MoveFixture fixture) {
    return fixture
        .spark
        .sql("SELECT count(*) FROM " + fixture.icebergTable + ".files")
        .collectAsList()
        .get(0)
        .getLong(0);
  }

  private static Map<Long, List<Long>> everyVersion(MoveFixture fixture) {
    Map<Long, List<Long>> ids = new TreeMap<>();
    long latest = fixture.catalog().store().readLatest(fixture.table).version();
    for (long version = 1; version <= latest; version++) {
      ids.put(version, fixture.idsAt(version));
    }
    return ids;
  }

  private static List<Row> compact(MoveFixture fixture, String options) {
    return fixture
        .spark
        .sql(
            "CALL harness.system.compact(table => '"
                + fixture.table
                + "', source => 'cold'"
                + (options == null ? "" : ", options => " + options)
                + ")")
        .collectAsList();
  }

  @Test
  void compactionRewritesSmallFilesInOneVersionAndEveryVersionReadsTheSame() {
    MoveFixture fixture = new MoveFixture(1, "");
    fixture.produce(0, 30);
    for (int batch = 0; batch < 6; batch++) {
      fixture.move("hot", "cold", 5L);
    }
    long filesBefore = dataFiles(fixture);
    assertTrue(filesBefore >= 6, "small files: " + filesBefore);
    Map<Long, List<Long>> before = everyVersion(fixture);
    long latest = fixture.catalog().store().readLatest(fixture.table).version();

    Row result = compact(fixture, "map('min-input-files', '2')").get(0);
    assertEquals(latest + 1, result.getLong(0), result.toString());
    assertTrue(result.getBoolean(1), result.toString());
    assertEquals(filesBefore, result.getLong(2), result.toString());
    assertTrue(result.getLong(3) < filesBefore, result.toString());
    assertTrue(dataFiles(fixture) < filesBefore, "files after: " + dataFiles(fixture));
    // the rewritten snapshot is what the new version records and what main shows
    long recorded =
        ((SourceState.Iceberg)
                fixture.catalog().store().readVersion(fixture.table, latest + 1).state("cold"))
            .snapshotId()
            .getAsLong();
    assertEquals(recorded, result.getLong(5));
    assertEquals(
        recorded,
        fixture
            .spark
            .sql("SELECT snapshot_id FROM " + fixture.icebergTable + ".refs WHERE name = 'main'")
            .collectAsList()
            .get(0)
            .getLong(0));
    Map<Long, List<Long>> after = everyVersion(fixture);
    assertEquals(before.get(latest), after.get(latest + 1));
    after.remove(latest + 1);
    assertEquals(before, after);
    assertEquals(30, fixture.icebergMainCount());

    // nothing left to rewrite: no version
    Row nothing = compact(fixture, null).get(0);
    assertFalse(nothing.getBoolean(1), nothing.toString());
    assertEquals(latest + 1, fixture.catalog().store().readLatest(fixture.table).version());
    assertThrows(
        org.apache.spark.sql.AnalysisException.class,
        () ->
            fixture
                .spark
                .sql(
                    "CALL harness.system.compact(table => '"
                        + fixture.table
                        + "', source => 'hot')")
                .collect());
  }

  @Test
  void compactionDuringMovesAndReadsNeverConflictsAndLosesNothing() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    fixture.produce(0, 100);
    for (int batch = 0; batch < 4; batch++) {
      fixture.move("hot", "cold", 5L);
    }
    AtomicBoolean stop = new AtomicBoolean();
    ExecutorService background = Executors.newFixedThreadPool(2);
    try {
      Future<Integer> mover =
          background.submit(
              () -> {
                int moved = 0;
                while (moved < 80) {
                  try {
                    moved += fixture.move("hot", "cold", 5L).rowsMoved();
                  } catch (RuntimeException e) {
                    if (!(rootCause(e) instanceof LockHeldException)) {
                      throw e;
                    }
                    Thread.sleep(50); // the compaction holds the lock: retry, as a scheduler does
                  }
                }
                return moved;
              });
      Future<Integer> reader =
          background.submit(
              () -> {
                int reads = 0;
                while (!stop.get()) {
                  List<Long> ids = fixture.ids();
                  assertEquals(MoveFixture.range(0, 100), ids, "a read during compaction");
                  reads++;
                }
                return reads;
              });
      List<Row> compactions = new ArrayList<>();
      while (!mover.isDone()) {
        compactions.addAll(compact(fixture, "map('min-input-files', '2')"));
      }
      assertEquals(80, mover.get());
      stop.set(true);
      assertTrue(reader.get() > 0);
      assertTrue(compactions.stream().anyMatch(row -> row.getBoolean(1)), compactions.toString());
    } finally {
      stop.set(true);
      background.shutdownNow();
    }
    // version 1 registered the empty topic; the first move recorded all 100 messages
    everyVersion(fixture)
        .forEach(
            (version, ids) ->
                assertEquals(
                    version == 1 ? List.of() : MoveFixture.range(0, 100),
                    ids,
                    "version " + version));
    assertEquals(100, fixture.icebergMainCount());
    assertEquals(
        List.of(),
        fixture
            .spark
            .sql("CALL harness.system.audit(table => '" + fixture.table + "')")
            .collectAsList());
  }

  private static Throwable rootCause(Throwable error) {
    Throwable cause = error;
    while (cause.getCause() != null && cause.getCause() != cause) {
      cause = cause.getCause();
    }
    return cause;
  }
}
