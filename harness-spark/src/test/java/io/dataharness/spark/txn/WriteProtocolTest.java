package io.dataharness.spark.txn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.IntentPendingException;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.VersionInfo;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The write protocol against the embedded store, with a writer whose staging has a visible side
 * effect (it appends the batch's offsets to a list, as an upsert into PostgreSQL would write rows):
 * a crash between staging and commit leaves an intent that blocks other writers and that the rerun
 * completes with exactly the same batch.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WriteProtocolTest {
  private static final Schema SCHEMA = Schema.of(Field.required(1, "id", FieldType.LONG));
  private final AtomicInteger tables = new AtomicInteger();
  private HarnessStore store;

  @BeforeAll
  void open() throws Exception {
    store = HarnessStores.openEmbedded(Files.createTempDirectory("write-protocol"));
    store.createNamespace("t", Map.of());
  }

  @AfterAll
  void close() {
    store.close();
  }

  private static SourceState.Kafka range(long start, long end) {
    return SourceState.Kafka.of(Map.of(0, new SourceState.OffsetRange(start, end)));
  }

  /** A table whose source "a" holds offsets [0, 100) and whose source "b" holds none yet. */
  private TableIdentifier newTable() {
    TableIdentifier table = TableIdentifier.of("t", "moves_" + tables.incrementAndGet());
    store.createTable(
        TableDefinition.builder(table, SCHEMA)
            .source(
                new SourceDefinition("a", SourceKind.KAFKA, "k", Map.of("topic", "a")),
                range(0, 100))
            .source(
                new SourceDefinition("b", SourceKind.KAFKA, "k", Map.of("topic", "b")), range(0, 0))
            .build());
    return table;
  }

  /** Moves up to 10 offsets from a's start to b's end; staging appends them to {@code target}. */
  private static class OffsetMover implements Writer<Long, Long> {
    final List<Long> target;
    WriteProtocol.Step crashAt;
    int staged;

    OffsetMover(List<Long> target) {
      this.target = target;
    }

    @Override
    public String operation() {
      return "move";
    }

    @Override
    public List<String> sources() {
      return List.of("b", "a");
    }

    @Override
    public Optional<Long> plan(TableVersion latest) {
      SourceState.OffsetRange a = ((SourceState.Kafka) latest.state("a")).partition(0);
      return a.start() < a.end() ? Optional.of(a.start()) : Optional.empty();
    }

    @Override
    public String idempotencyKey(Long start) {
      return "move-a-b-" + start;
    }

    @Override
    public Optional<String> intentPayload(Long start) {
      return Optional.of("{\"start\":" + start + "}");
    }

    @Override
    public Long resume(Intent intent, TableVersion latest) {
      return Long.parseLong(intent.payload().replaceAll("[^0-9]", ""));
    }

    @Override
    public Long stage(Long start, LeaseKeeper locks) {
      staged++;
      for (long offset = start; offset < start + 10; offset++) {
        if (!target.contains(offset)) {
          target.add(offset); // idempotent, as an upsert by key is
        }
      }
      return 10L;
    }

    @Override
    public void record(Transaction transaction, Long start, Long rows) {
      transaction.setSourceState("a", range(start + rows, 100));
      transaction.setSourceState("b", range(0, start + rows));
    }

    @Override
    public void publish(Long start, Long rows, VersionInfo committed) {}

    @Override
    public void reached(WriteProtocol.Step step) {
      if (step == crashAt) {
        throw new IllegalStateException("injected crash at " + step);
      }
    }

    @Override
    public String describe(Long start) {
      return "offsets [" + start + ", " + (start + 10) + ")";
    }
  }

  @Test
  void aBatchIsRecordedWithItsIntentOpenedAndCompleted() {
    TableIdentifier table = newTable();
    List<Long> target = new ArrayList<>();
    WriteOutcome<Long, Long> outcome =
        new WriteProtocol(store, table).run("mover-1", new OffsetMover(target));
    TableVersion latest = store.readLatest(table);
    assertEquals(latest.version(), outcome.version());
    assertEquals(3, latest.version(), "version 2 opens the intent, version 3 records the move");
    assertEquals(range(10, 100), latest.state("a"));
    assertEquals(range(0, 10), latest.state("b"));
    assertEquals(1, store.readVersion(table, 2).openIntents().size());
    assertTrue(latest.openIntents().isEmpty());
    assertEquals(10, target.size());
    assertTrue(store.listLocks(table).isEmpty(), "locks are released");
  }

  @Test
  void aRunInterruptedAfterStagingBlocksOtherWritersUntilItsRerunCompletesThatBatch() {
    TableIdentifier table = newTable();
    List<Long> target = new ArrayList<>();
    OffsetMover crashing = new OffsetMover(target);
    crashing.crashAt = WriteProtocol.Step.STAGED;
    assertThrows(
        IllegalStateException.class, () -> new WriteProtocol(store, table).run("run-1", crashing));
    assertEquals(10, target.size(), "the side effect happened");
    TableVersion interrupted = store.readLatest(table);
    assertEquals(1, interrupted.openIntents().size());

    // another writer (a sync advancing "a") is refused by the store, naming the intent
    IntentPendingException refused =
        assertThrows(
            IntentPendingException.class,
            () ->
                store
                    .newTransaction(table)
                    .setSourceState("a", interrupted.state("a"), range(0, 120))
                    .commit());
    assertTrue(
        refused.getMessage().contains(interrupted.openIntents().get(0).id()), refused.getMessage());

    // a writer of another kind on an overlapping source is refused before it does anything
    CommitConflictException other =
        assertThrows(
            CommitConflictException.class,
            () ->
                new WriteProtocol(store, table)
                    .run(
                        "appender",
                        new OffsetMover(new ArrayList<>()) {
                          @Override
                          public String operation() {
                            return "append";
                          }
                        }));
    assertTrue(other.getMessage().contains("rerun that move"), other.getMessage());

    // the rerun (a new process: new owner, new fencing tokens) completes exactly that batch
    OffsetMover rerun = new OffsetMover(target);
    WriteOutcome<Long, Long> outcome = new WriteProtocol(store, table).run("run-2", rerun);
    assertTrue(outcome.resumed());
    assertEquals(0L, outcome.batch().get());
    TableVersion latest = store.readLatest(table);
    assertTrue(latest.openIntents().isEmpty());
    assertEquals(range(10, 100), latest.state("a"));
    assertEquals(range(0, 10), latest.state("b"));
    assertEquals(10, target.size(), "staging again did not duplicate");

    // and the next run moves the next batch
    new WriteProtocol(store, table).run("run-3", new OffsetMover(target));
    assertEquals(range(20, 100), store.readLatest(table).state("a"));
    assertEquals(20, target.size());
  }

  @Test
  void aRunInterruptedAfterItsCommitIsNotRepeated() {
    TableIdentifier table = newTable();
    List<Long> target = new ArrayList<>();
    OffsetMover crashing = new OffsetMover(target);
    crashing.crashAt = WriteProtocol.Step.COMMITTED;
    assertThrows(
        IllegalStateException.class, () -> new WriteProtocol(store, table).run("run-1", crashing));
    TableVersion latest = store.readLatest(table);
    assertTrue(latest.openIntents().isEmpty());
    assertEquals(range(10, 100), latest.state("a"));
    WriteOutcome<Long, Long> next =
        new WriteProtocol(store, table).run("run-2", new OffsetMover(target));
    assertFalse(next.resumed());
    assertEquals(10L, next.batch().get());
    assertEquals(range(20, 100), store.readLatest(table).state("a"));
  }

  @Test
  void twoLiveRunsCannotHoldTheSameSources() {
    TableIdentifier table = newTable();
    try (LeaseKeeper first =
        LeaseKeeper.acquire(
            store, table, "first", Duration.ofSeconds(30), Duration.ofSeconds(10), List.of("a"))) {
      assertThrows(
          io.dataharness.metadata.LockHeldException.class,
          () -> new WriteProtocol(store, table).run("first", new OffsetMover(new ArrayList<>())));
      assertEquals(first.lock("a").fencingToken(), store.listLocks(table).get(0).fencingToken());
    }
    assertEquals(range(0, 100), store.readLatest(table).state("a"), "nothing was written");
  }

  /** Appends to source "a" (its end advances by 5); staging writes rows that are final at once. */
  private static class Appender extends OffsetMover {
    Appender(List<Long> target) {
      super(target);
    }

    @Override
    public String operation() {
      return WriteProtocol.APPEND;
    }

    @Override
    public List<String> sources() {
      return List.of("a");
    }

    @Override
    public Duration lockWait() {
      return Duration.ofSeconds(10);
    }

    private SourceState.OffsetRange planned;

    @Override
    public Optional<Long> plan(TableVersion latest) {
      planned = ((SourceState.Kafka) latest.state("a")).partition(0);
      return Optional.of(latest.version());
    }

    @Override
    public void record(Transaction transaction, Long start, Long rows) {
      transaction.setSourceState("a", range(planned.start(), planned.end() + 5));
    }

    @Override
    public String idempotencyKey(Long version) {
      return "append-after-" + version;
    }
  }

  @Test
  void anInterruptedAppendsIntentIsCompletedByTheNextWriterHoldingItsSources() {
    TableIdentifier table = newTable();
    Appender crashing = new Appender(new ArrayList<>());
    crashing.crashAt = WriteProtocol.Step.STAGED;
    assertThrows(
        IllegalStateException.class, () -> new WriteProtocol(store, table).run("app-1", crashing));
    Intent left = store.readLatest(table).openIntents().get(0);
    assertEquals(WriteProtocol.APPEND, left.kind());

    // a mover on "a" and "b" is not blocked: it closes the append's intent, then moves its batch
    WriteOutcome<Long, Long> moved =
        new WriteProtocol(store, table).run("mover", new OffsetMover(new ArrayList<>()));
    assertFalse(moved.resumed());
    TableVersion latest = store.readLatest(table);
    assertTrue(latest.openIntents().isEmpty());
    assertEquals(range(10, 100), latest.state("a"));
    boolean closed = false;
    for (long version = 1; version <= latest.version(); version++) {
      TableVersion at = store.readVersion(table, version);
      closed |=
          at.commit().operation().equals("complete-intent")
              && left.id().equals(at.commit().summary().get("intent"));
    }
    assertTrue(closed, "a version records the completed intent");
  }

  @Test
  void anAppendWaitsForTheLockOfItsSource() throws Exception {
    TableIdentifier table = newTable();
    LeaseKeeper held =
        LeaseKeeper.acquire(
            store, table, "mover", Duration.ofSeconds(30), Duration.ofSeconds(10), List.of("a"));
    Thread release =
        new Thread(
            () -> {
              try {
                Thread.sleep(500);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              held.close();
            });
    release.start();
    WriteOutcome<Long, Long> appended =
        new WriteProtocol(store, table).run("appender", new Appender(new ArrayList<>()));
    release.join();
    assertEquals(range(0, 105), store.readLatest(table).state("a"));
    assertEquals(store.readLatest(table).version(), appended.version());
  }
}
