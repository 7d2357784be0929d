package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.LockHeldException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** Movers racing each other, and readers running while movers commit. */
class MoverConcurrencyTest {

  @Test
  void twoMoversRacingOnOneSourceLoseNothing() throws Exception {
    MoveFixture fixture = new MoveFixture(2, "");
    fixture.produce(0, 200);
    fixture.spark.sql("CALL harness.system.sync(table => '" + fixture.table + "')").collect();
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<long[]>> movers = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        movers.add(
            pool.submit(
                () -> {
                  long moved = 0;
                  long lost = 0;
                  for (int round = 0; round < 4; round++) {
                    try {
                      moved += fixture.move("hot", "cold", 40L).rowsMoved();
                    } catch (LockHeldException busy) {
                      lost++;
                    }
                  }
                  return new long[] {moved, lost};
                }));
      }
      long moved = 0;
      for (Future<long[]> mover : movers) {
        moved += mover.get(5, TimeUnit.MINUTES)[0];
      }
      assertEquals(MoveFixture.range(0, 200), fixture.ids());
      assertEquals(moved, fixture.icebergMainCount());
      assertEquals(
          moved,
          fixture.ids("SELECT id FROM " + fixture.qualified + " WHERE _source = 'cold'").size());
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void readersSeeEveryRowExactlyOnceWhileAMoverCommits() throws Exception {
    MoveFixture fixture = new MoveFixture(2, "");
    ExecutorService pool = Executors.newSingleThreadExecutor();
    AtomicBoolean stop = new AtomicBoolean();
    try {
      long produced = 0;
      fixture.produce(0, 40);
      produced = 40;
      Future<Integer> mover =
          pool.submit(
              () -> {
                int moves = 0;
                while (!stop.get()) {
                  SyncJob.run(fixture.catalog(), fixture.table);
                  if (fixture.move("hot", "cold", 25L).rowsMoved() > 0) {
                    moves++;
                  }
                }
                return moves;
              });
      for (int round = 0; round < 8; round++) {
        for (int read = 0; read < 3; read++) {
          List<Long> ids = fixture.ids();
          assertEquals(MoveFixture.range(0, produced), ids, "round " + round + " read " + read);
        }
        fixture.produce(produced, produced + 20);
        produced += 20;
      }
      stop.set(true);
      int moves = mover.get(5, TimeUnit.MINUTES);
      assertTrue(moves >= 2, "the mover committed only " + moves + " moves");
      assertEquals(MoveFixture.range(0, produced), fixture.ids());
      // and every version the mover committed reads exactly what was recorded, no duplicates
      long latest = fixture.catalog().store().readLatest(fixture.table).version();
      for (long version = 2; version <= latest; version += Math.max(1, latest / 6)) {
        List<Long> ids =
            fixture.ids("SELECT id FROM " + fixture.qualified + " VERSION AS OF " + version);
        assertEquals(ids.stream().distinct().count(), ids.size(), "version " + version);
      }
    } finally {
      stop.set(true);
      pool.shutdownNow();
    }
  }
}
