package io.dataharness.metadata;

import static io.dataharness.metadata.HarnessStoreConformanceTest.definition;
import static io.dataharness.metadata.HarnessStoreConformanceTest.kafka;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingPostgres;
import java.nio.file.Files;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Group commit on both stores: each commit fails alone and nothing hangs, whatever one commit or
 * one waiting thread does. A blocking commit holds the leader so that the others queue into one
 * batch behind it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(120)
class CommitBatcherTest {
  private JdbcHarnessStore postgres;
  private JdbcHarnessStore embedded;
  private final AtomicInteger tableSequence = new AtomicInteger();

  private TestingDatabase database;
  private java.nio.file.Path directory;

  @BeforeAll
  void openStores() throws Exception {
    database = TestingPostgres.shared().createDatabase("harness_batcher");
    postgres =
        (JdbcHarnessStore)
            HarnessStores.open(database.jdbcUrl(), database.user(), database.password());
    directory = Files.createTempDirectory("harness-batcher");
    embedded = (JdbcHarnessStore) HarnessStores.openEmbedded(directory);
    for (HarnessStore store : List.of(postgres, embedded)) {
      store.createNamespace("logs", Map.of());
    }
  }

  @AfterAll
  void closeStores() {
    postgres.close();
    embedded.close();
  }

  Stream<JdbcHarnessStore> stores() {
    return Stream.of(postgres, embedded);
  }

  private TableIdentifier newTable(HarnessStore store) {
    TableIdentifier table =
        TableIdentifier.of("logs", "batched_" + tableSequence.incrementAndGet());
    store.createTable(definition(table));
    return table;
  }

  /** A commit that holds the leader until released, then commits nothing. */
  private static final class BlockingCommit implements CommitBatcher.BatchedCommit {
    final CountDownLatch running = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    @Override
    public VersionInfo attempt(Connection connection) {
      running.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      throw new ValidationException("Cannot commit the blocking test commit: it only blocks");
    }

    @Override
    public VersionInfo run() {
      throw new AssertionError("the blocking commit never runs alone");
    }
  }

  /** A commit that throws an Error in the shared transaction, as a bug or the JVM might. */
  private static final class FailingCommit implements CommitBatcher.BatchedCommit {
    final Error error = new StackOverflowError("injected into the group commit");

    @Override
    public VersionInfo attempt(Connection connection) {
      throw error;
    }

    @Override
    public VersionInfo run() {
      throw error;
    }
  }

  /** Starts {@code blocker} as the leader of {@code table}'s group commit. */
  private CompletableFuture<VersionInfo> lead(
      JdbcHarnessStore store, TableIdentifier table, BlockingCommit blocker) throws Exception {
    CompletableFuture<VersionInfo> leader =
        CompletableFuture.supplyAsync(() -> store.batcher(table).commit(blocker));
    assertTrue(blocker.running.await(30, TimeUnit.SECONDS), "the blocking commit never ran");
    return leader;
  }

  private static void awaitQueued(JdbcHarnessStore store, TableIdentifier table, int count) {
    await().atMost(Duration.ofSeconds(30)).until(() -> store.batcher(table).queued() == count);
  }

  private static CompletableFuture<VersionInfo> commitAsync(Transaction transaction) {
    return CompletableFuture.supplyAsync(transaction::commit);
  }

  /** Another store on the data of {@code store}, as another process would open it. */
  private HarnessStore anotherProcess(JdbcHarnessStore store) {
    return store == postgres
        ? HarnessStores.open(database.jdbcUrl(), database.user(), database.password())
        : HarnessStores.openEmbedded(directory);
  }

  @ParameterizedTest(autoCloseArguments = false) // the stores are shared
  @MethodSource("stores")
  void aBatchChecksEachCommitAgainstWhatAnotherProcessWrote(JdbcHarnessStore store)
      throws Exception {
    TableIdentifier table = newTable(store);
    store.readLatest(table);
    try (HarnessStore other = anotherProcess(store)) {
      other
          .newTransaction(table)
          .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(5))
          .commit();
    }
    BlockingCommit blocker = new BlockingCommit();
    CompletableFuture<VersionInfo> leader = lead(store, table, blocker);
    CompletableFuture<VersionInfo> stale =
        commitAsync(
            store
                .newTransaction(table)
                .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(6)));
    awaitQueued(store, table, 1);
    CompletableFuture<VersionInfo> current =
        commitAsync(store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 20)));
    awaitQueued(store, table, 2);
    blocker.release.countDown();
    assertThrows(ExecutionException.class, () -> leader.get(30, TimeUnit.SECONDS));
    ExecutionException refused =
        assertThrows(ExecutionException.class, () -> stale.get(30, TimeUnit.SECONDS));
    assertTrue(refused.getCause() instanceof CommitConflictException, refused.toString());
    assertTrue(
        refused.getCause().getMessage().contains("'cold'")
            && refused.getCause().getMessage().contains(table.toString()),
        refused.getCause().getMessage());
    assertEquals(3, current.get(30, TimeUnit.SECONDS).version());
    TableVersion latest = store.readLatest(table);
    assertEquals(3, latest.version());
    assertEquals(SourceState.Iceberg.of(5), latest.state("cold"));
    assertEquals(kafka(0, 20), latest.state("hot"));
  }

  @ParameterizedTest(autoCloseArguments = false) // the stores are shared
  @MethodSource("stores")
  void anInterruptedWaiterWithdrawsItsCommitAndLaterCommitsStillLand(JdbcHarnessStore store)
      throws Exception {
    TableIdentifier table = newTable(store);
    BlockingCommit blocker = new BlockingCommit();
    CompletableFuture<VersionInfo> leader = lead(store, table, blocker);
    CompletableFuture<Throwable> interruptedOutcome = new CompletableFuture<>();
    Thread waiter =
        new Thread(
            () -> {
              try {
                store
                    .newTransaction(table)
                    .setSourceState("hot", kafka(0, 10), kafka(0, 11))
                    .commit();
                interruptedOutcome.complete(null);
              } catch (Throwable e) {
                interruptedOutcome.complete(e);
              }
            });
    waiter.start();
    awaitQueued(store, table, 1);
    waiter.interrupt();
    Throwable outcome = interruptedOutcome.get(30, TimeUnit.SECONDS);
    assertTrue(outcome instanceof MetadataStoreException, String.valueOf(outcome));

    blocker.release.countDown();
    assertThrows(ExecutionException.class, () -> leader.get(30, TimeUnit.SECONDS));
    VersionInfo later =
        commitAsync(store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 12)))
            .get(30, TimeUnit.SECONDS);
    assertEquals(2, later.version());
    assertEquals(kafka(0, 12), store.readLatest(table).state("hot"));
    assertTrue(outcome.getMessage().contains("nothing was committed"), outcome.getMessage());
    assertEquals(0, store.batcher(table).queued());
  }

  @ParameterizedTest(autoCloseArguments = false) // the stores are shared
  @MethodSource("stores")
  void anErrorInOneCommitOfABatchFailsOnlyThatCommitAndLeadershipMovesOn(JdbcHarnessStore store)
      throws Exception {
    TableIdentifier table = newTable(store);
    BlockingCommit blocker = new BlockingCommit();
    CompletableFuture<VersionInfo> leader = lead(store, table, blocker);
    FailingCommit failing = new FailingCommit();
    CompletableFuture<VersionInfo> failed =
        CompletableFuture.supplyAsync(() -> store.batcher(table).commit(failing));
    awaitQueued(store, table, 1);
    List<CompletableFuture<VersionInfo>> others = new ArrayList<>();
    for (String source : List.of("cold", "warm")) {
      SourceLock lock = store.acquireLock(table, source, "writer-" + source, Duration.ofMinutes(1));
      SourceState next =
          source.equals("cold")
              ? SourceState.Iceberg.of(5)
              : new SourceState.Jdbc(java.time.Instant.parse("2026-06-01T00:00:00Z"));
      others.add(
          commitAsync(store.newTransaction(table).withLock(lock).setSourceState(source, next)));
    }
    awaitQueued(store, table, 3);
    blocker.release.countDown(); // the failing commit leads the batch of three

    ExecutionException error =
        assertThrows(ExecutionException.class, () -> failed.get(30, TimeUnit.SECONDS));
    assertSame(failing.error, error.getCause());
    Set<Long> versions = new java.util.TreeSet<>();
    for (CompletableFuture<VersionInfo> other : others) {
      versions.add(other.get(30, TimeUnit.SECONDS).version());
    }
    assertEquals(Set.of(2L, 3L), versions);
    assertThrows(ExecutionException.class, () -> leader.get(30, TimeUnit.SECONDS));
    // and the table's group commit still works
    assertEquals(
        4,
        commitAsync(store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 20)))
            .get(30, TimeUnit.SECONDS)
            .version());
  }

  @ParameterizedTest(autoCloseArguments = false) // the stores are shared
  @MethodSource("stores")
  void aCommitTheDatabaseRefusesFailsAloneAndTheRestOfItsBatchLands(JdbcHarnessStore store)
      throws Exception {
    TableIdentifier table = newTable(store);
    BlockingCommit blocker = new BlockingCommit();
    CompletableFuture<VersionInfo> leader = lead(store, table, blocker);
    // built past Transaction's checks, as a writer of another client library could send it
    CommitRequest poisoned =
        new CommitRequest(
            table,
            "commit",
            null,
            Map.of(),
            Map.of(),
            Set.of(),
            Map.of(),
            null,
            null,
            Map.of("consumer.offsets", "0:\u0000"),
            Map.of(),
            Map.of(),
            List.of(),
            Map.of(),
            Set.of(),
            null);
    CompletableFuture<VersionInfo> refused =
        CompletableFuture.supplyAsync(
            () -> store.batcher(table).commit(new JdbcCommit(store, poisoned)));
    awaitQueued(store, table, 1);
    CompletableFuture<VersionInfo> good =
        commitAsync(store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 11)));
    awaitQueued(store, table, 2);
    blocker.release.countDown();

    if (store.dialect() == Dialect.POSTGRESQL) {
      ExecutionException failure =
          assertThrows(ExecutionException.class, () -> refused.get(30, TimeUnit.SECONDS));
      assertTrue(failure.getCause() instanceof ValidationException, failure.getCause().toString());
      assertTrue(failure.getCause().getMessage().contains("22"), failure.getCause().getMessage());
      assertEquals(2, good.get(30, TimeUnit.SECONDS).version());
      assertEquals(2, store.loadTable(table).currentVersion());
    } else {
      // H2 keeps NUL characters: both land (Transaction refuses them up front for both stores)
      assertEquals(2, refused.get(30, TimeUnit.SECONDS).version());
      assertEquals(3, good.get(30, TimeUnit.SECONDS).version());
    }
    assertThrows(ExecutionException.class, () -> leader.get(30, TimeUnit.SECONDS));
    assertFalse(store.readLatest(table).state("hot").equals(kafka(0, 10)));
  }
}
