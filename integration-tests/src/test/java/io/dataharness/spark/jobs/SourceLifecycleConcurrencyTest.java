package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * Adding a source and retiring one while a mover commits batches and a reader re-reads the latest
 * version: every read and every version holds exactly its rows (no duplicate, no gap), and each
 * ALTER either succeeds or fails with a lock or conflict error that a retry resolves.
 */
class SourceLifecycleConcurrencyTest {
  private static final List<Long> ARCHIVE = List.of(500L, 501L);

  /**
   * The rows a version must hold: every Kafka message below the recorded end of each partition
   * ({@link MoveFixture#produce} writes id {@code 2 * offset + partition}; moved messages are in
   * the move's target, the others in the topic), and the archive's pinned rows while the archive is
   * a source.
   */
  private static List<Long> expected(TableVersion version) {
    List<Long> ids = new ArrayList<>();
    SourceState.Kafka hot = (SourceState.Kafka) version.state("hot");
    for (int partition = 0; partition < 2; partition++) {
      SourceState.OffsetRange range = hot.partition(partition);
      for (long offset = 0; range != null && offset < range.end(); offset++) {
        ids.add(2 * offset + partition);
      }
    }
    if (version.sources().containsKey("archive")) {
      ids.addAll(ARCHIVE);
    }
    Collections.sort(ids);
    return ids;
  }

  /**
   * Why a read of the latest version is not a whole table, or null: per Kafka partition the ids
   * must be a prefix of what was produced to it (no gap, no duplicate), the archive's rows both or
   * neither.
   */
  private static String inconsistency(List<Long> ids) {
    if (new TreeSet<>(ids).size() != ids.size()) {
      return "duplicates in " + ids;
    }
    long[] next = {0, 1};
    List<Long> archive = new ArrayList<>();
    for (long id : ids) {
      if (id >= 500) {
        archive.add(id);
      } else if (id != next[(int) (id % 2)]) {
        return "gap before " + id + " in " + ids;
      } else {
        next[(int) (id % 2)] += 2;
      }
    }
    return archive.isEmpty() || archive.equals(ARCHIVE) ? null : "archive rows " + archive;
  }

  /** Waits until {@code done}, failing at once with its error when a background thread ended. */
  private static void await(
      Future<?> mover, Future<?> reader, java.util.concurrent.Callable<Boolean> done) {
    Awaitility.await()
        .atMost(Duration.ofMinutes(3))
        .until(
            () -> {
              for (Future<?> thread : List.of(mover, reader)) {
                if (thread.isDone()) {
                  thread.get(); // throws what ended it
                  throw new AssertionError("a background thread ended early");
                }
              }
              return done.call();
            });
  }

  /** Runs an ALTER, retrying while a lock is held or a concurrent commit conflicts. */
  private static int alter(MoveFixture fixture, String statement) {
    for (int attempt = 1; ; attempt++) {
      try {
        fixture.spark.sql(statement);
        return attempt;
      } catch (CommitConflictException retryable) {
        // LockHeldException is one: a mover held a source longer than the ALTER waits
        if (attempt == 10) {
          throw retryable;
        }
        System.out.println("ALTER attempt " + attempt + " failed, retrying: " + retryable);
      }
    }
  }

  @Test
  void addingAndRetiringSourcesUnderConcurrentReadsAndMovesLosesNothing() throws Exception {
    MoveFixture fixture = new MoveFixture(2, "");
    String archive = "iceberg.lake_" + fixture.suffix + ".archive";
    fixture.spark.sql("CREATE TABLE " + archive + " (id BIGINT, message STRING, version BIGINT)");
    fixture.spark.sql("INSERT INTO " + archive + " VALUES (500, 'a500', 1), (501, 'a501', 1)");
    fixture.produce(0, 40);
    fixture.sync();

    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<String> target = new AtomicReference<>("cold");
    AtomicInteger moves = new AtomicInteger();
    AtomicInteger busy = new AtomicInteger();
    AtomicInteger reads = new AtomicInteger();
    List<String> inconsistencies = Collections.synchronizedList(new ArrayList<>());
    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      Future<?> mover =
          threads.submit(
              () -> {
                while (!stop.get()) {
                  try {
                    SyncJob.run(fixture.catalog(), fixture.table);
                    if (fixture.move("hot", target.get(), 15L).rowsMoved() > 0) {
                      moves.incrementAndGet();
                    } else {
                      Thread.sleep(200); // pacing only: nothing to move until the next produce
                    }
                  } catch (CommitConflictException held) {
                    busy.incrementAndGet(); // an ALTER holds every source: the next round moves
                  }
                }
                return null;
              });
      Future<?> reader =
          threads.submit(
              () -> {
                while (!stop.get()) {
                  String problem = inconsistency(fixture.ids());
                  reads.incrementAndGet();
                  if (problem != null) {
                    inconsistencies.add(problem);
                  }
                }
                return null;
              });

      fixture.produce(40, 80);
      await(mover, reader, () -> moves.get() >= 1);
      // add a source: an Iceberg table that already holds rows, pinned at registration
      alter(
          fixture,
          "ALTER TABLE "
              + fixture.qualified
              + " SET TBLPROPERTIES ('source.archive.kind' = 'iceberg',"
              + " 'source.archive.connection' = 'lake', 'source.archive.table' = 'lake_"
              + fixture.suffix
              + ".archive')");
      // the mover goes on into the new source
      target.set("archive");
      int movesBefore = moves.get();
      fixture.produce(80, 120);
      await(mover, reader, () -> moves.get() > movesBefore);
      // retire a source that holds no rows, while the mover and the reader go on
      alter(
          fixture,
          "ALTER TABLE " + fixture.qualified + " UNSET TBLPROPERTIES ('source.warm.kind')");
      fixture.produce(120, 160);
      int movesAfter = moves.get();
      await(mover, reader, () -> moves.get() > movesAfter);
      await(mover, reader, () -> reads.get() >= 5);
      stop.set(true);
      mover.get(5, TimeUnit.MINUTES);
      reader.get(5, TimeUnit.MINUTES);
    } finally {
      stop.set(true);
      threads.shutdownNow();
    }
    assertEquals(List.of(), inconsistencies, reads.get() + " reads of the latest version");

    // the rest: everything produced is in the table exactly once, archive included
    fixture.sync();
    List<Long> all = new ArrayList<>(MoveFixture.range(0, 160));
    all.addAll(ARCHIVE);
    assertEquals(all, fixture.ids());
    TableVersion latest = fixture.catalog().store().readLatest(fixture.table);
    assertFalse(latest.sources().containsKey("warm"));
    assertTrue(latest.sources().containsKey("archive"));
    assertFalse(
        fixture
            .ids("SELECT id FROM " + fixture.qualified + " WHERE _source = 'archive' AND id < 500")
            .isEmpty(),
        "the mover moved rows into the added source");
    // every version reads exactly its rows
    for (long version = 1; version <= latest.version(); version++) {
      TableVersion recorded = fixture.catalog().store().readVersion(fixture.table, version);
      assertEquals(expected(recorded), fixture.idsAt(version), "version " + version);
    }
  }
}
