package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The contract every {@link HarnessStore} implementation must meet. Each store's test class extends
 * this one and opens a fresh store.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class HarnessStoreConformanceTest {
  protected HarnessStore store;
  private final AtomicInteger tableSequence = new AtomicInteger();

  /** Opens a new, empty store. */
  protected abstract HarnessStore openStore();

  @BeforeAll
  void openTheStore() {
    store = openStore();
    store.createNamespace("logs", Map.of("owner", "data-platform"));
  }

  @AfterAll
  void closeTheStore() {
    store.close();
  }

  static final Schema SCHEMA =
      Schema.of(
          Field.required(1, "id", FieldType.LONG),
          Field.optional(2, "message", FieldType.STRING),
          Field.optional(3, "region", FieldType.STRING));

  static SourceState.Kafka kafka(long start, long end) {
    return SourceState.Kafka.of(Map.of(0, new SourceState.OffsetRange(start, end)));
  }

  /** A new table with a kafka source "hot", an iceberg source "cold" and a jdbc source "warm". */
  TableIdentifier newTable() {
    TableIdentifier table = TableIdentifier.of("logs", "events_" + tableSequence.incrementAndGet());
    store.createTable(
        TableDefinition.builder(table, SCHEMA)
            .primaryKey(List.of("id"))
            .partitionColumns(List.of("region"))
            .property("write.source", "hot")
            .source(
                new SourceDefinition("hot", SourceKind.KAFKA, "kafka", Map.of("topic", "events")),
                kafka(0, 10))
            .source(
                new SourceDefinition(
                    "cold", SourceKind.ICEBERG, "lake", Map.of("table", "logs.events")),
                SourceState.Iceberg.empty())
            .source(
                new SourceDefinition(
                    "warm",
                    SourceKind.JDBC,
                    "pg",
                    Map.of("table", "public.events"),
                    Map.of("message", "msg"),
                    "region = 'eu'"),
                new SourceState.Jdbc(Instant.parse("2026-01-01T00:00:00Z")))
            .build());
    return table;
  }

  /** Commits and reads back the whole version the commit produced. */
  TableVersion commitAndRead(Transaction transaction, TableIdentifier table) {
    VersionInfo committed = transaction.commit();
    TableVersion version = store.readVersion(table, committed.version());
    assertEquals(committed, version.info());
    return version;
  }

  @Test
  void namespacesCanBeCreatedListedAndDropped() {
    store.createNamespace("scratch", Map.of("k", "v"));
    assertTrue(store.namespaceExists("scratch"));
    assertTrue(store.listNamespaces().containsAll(List.of("logs", "scratch")));
    assertEquals(Map.of("k", "v"), store.namespaceProperties("scratch"));
    assertThrows(AlreadyExistsException.class, () -> store.createNamespace("scratch", Map.of()));
    store.dropNamespace("scratch");
    assertFalse(store.namespaceExists("scratch"));
    assertThrows(NoSuchNamespaceException.class, () -> store.dropNamespace("scratch"));
    assertThrows(ValidationException.class, () -> store.dropNamespace("logs"));
  }

  @Test
  void createdTableStartsAtVersionOneWithEverySourcesInitialState() {
    TableIdentifier table = newTable();
    HarnessTable loaded = store.loadTable(table);
    assertEquals(1, loaded.currentVersion());
    assertEquals(List.of("id"), loaded.primaryKey());
    assertEquals("hot", loaded.properties().get("write.source"));
    TableVersion first = store.readLatest(table);
    assertEquals(1, first.version());
    assertEquals(SCHEMA.withSchemaId(1), first.schema());
    assertEquals(Set.of("hot", "cold", "warm"), first.sourceStates().keySet());
    assertEquals(kafka(0, 10), first.state("hot"));
    assertEquals("region = 'eu'", first.source("warm").partitionFilter());
    assertEquals("msg", first.source("warm").sourceColumn("message"));
    assertEquals("create", first.commit().operation());
    assertEquals(3, first.commit().sourceChanges().size());
    assertTrue(store.listTables("logs").contains(table));
    assertThrows(
        AlreadyExistsException.class,
        () -> store.createTable(TableDefinition.builder(table, SCHEMA).build()));
  }

  @Test
  void unknownNamesFailClearly() {
    TableIdentifier missing = TableIdentifier.of("logs", "missing");
    NoSuchTableException error =
        assertThrows(NoSuchTableException.class, () -> store.loadTable(missing));
    assertTrue(error.getMessage().contains("logs.missing"), error.getMessage());
    assertThrows(
        NoSuchNamespaceException.class,
        () ->
            store.createTable(
                TableDefinition.builder(TableIdentifier.of("nope", "t"), SCHEMA).build()));
    TableIdentifier table = newTable();
    assertThrows(NoSuchVersionException.class, () -> store.readVersion(table, 7));
    assertThrows(ValidationException.class, () -> store.schema(table, 42));
    NoSuchSourceException unknownSource =
        assertThrows(
            NoSuchSourceException.class,
            () ->
                store
                    .newTransaction(table)
                    .setSourceState("lukewarm", kafka(0, 1), kafka(0, 2))
                    .commit());
    assertTrue(unknownSource.getMessage().contains("lukewarm"), unknownSource.getMessage());
    assertEquals(1, store.loadTable(table).currentVersion());
  }

  @Test
  void commitsProduceNewVersionsAndOldVersionsNeverChange() {
    TableIdentifier table = newTable();
    TableVersion second =
        commitAndRead(
            store
                .newTransaction(table)
                .operation("move")
                .setSourceState("hot", kafka(0, 10), kafka(4, 12))
                .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(77))
                .externalIds("cold", Map.of("snapshot-id", "77"))
                .setExternalState("consumer.offsets", "{\"0\":12}")
                .summary("rows", "4"),
            table);
    assertEquals(2, second.version());
    assertEquals(kafka(4, 12), second.state("hot"));
    assertEquals(SourceState.Iceberg.of(77), second.state("cold"));
    assertEquals(Map.of("consumer.offsets", "{\"0\":12}"), second.externalState());
    assertEquals("move", second.commit().operation());
    assertEquals("4", second.commit().summary().get("rows"));
    SourceChange hotChange =
        second.commit().sourceChanges().stream()
            .filter(change -> change.sourceId().equals("hot"))
            .findFirst()
            .orElseThrow();
    assertEquals(kafka(0, 10), hotChange.before());
    assertEquals(kafka(4, 12), hotChange.after());
    assertEquals(
        Map.of("snapshot-id", "77"),
        second.commit().sourceChanges().stream()
            .filter(change -> change.sourceId().equals("cold"))
            .findFirst()
            .orElseThrow()
            .externalIds());

    TableVersion third =
        commitAndRead(
            store
                .newTransaction(table)
                .setExternalState("consumer.offsets", null)
                .setSourceState("hot", kafka(4, 12), kafka(4, 20)),
            table);
    assertEquals(3, third.version());
    assertEquals(Map.of(), third.externalState());

    TableVersion first = store.readVersion(table, 1);
    assertEquals(kafka(0, 10), first.state("hot"));
    assertEquals(SourceState.Iceberg.empty(), first.state("cold"));
    assertEquals(Map.of(), first.externalState());
    assertEquals(second, store.readVersion(table, 2));
    assertEquals(List.of(1L, 2L, 3L), versions(store.history(table, 1, 10)));
    assertEquals(List.of(2L), versions(store.history(table, 2, 1)));
  }

  private static List<Long> versions(List<VersionInfo> history) {
    return history.stream().map(VersionInfo::version).toList();
  }

  @Test
  void readAsOfTimestampFindsTheVersionCommittedAtOrBeforeIt() throws Exception {
    TableIdentifier table = newTable();
    Instant afterFirst = store.readVersion(table, 1).commit().committedAt();
    Thread.sleep(5);
    VersionInfo second =
        store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 11)).commit();
    assertEquals(1, store.readVersionAsOf(table, afterFirst).version());
    assertEquals(2, store.readVersionAsOf(table, second.commit().committedAt()).version());
    assertEquals(2, store.readVersionAsOf(table, Instant.now().plusSeconds(60)).version());
    assertThrows(
        NoSuchVersionException.class,
        () -> store.readVersionAsOf(table, afterFirst.minusSeconds(3600)));
    assertFalse(second.commit().committedAt().isBefore(afterFirst));
  }

  @Test
  void staleExpectedStateIsAConflictAndChangesNothing() {
    TableIdentifier table = newTable();
    store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 15)).commit();
    CommitConflictException conflict =
        assertThrows(
            CommitConflictException.class,
            () ->
                store
                    .newTransaction(table)
                    .setSourceState("hot", kafka(0, 10), kafka(0, 20))
                    .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(1))
                    .commit());
    assertTrue(conflict.getMessage().contains("'hot'"), conflict.getMessage());
    TableVersion latest = store.readLatest(table);
    assertEquals(2, latest.version());
    assertEquals(SourceState.Iceberg.empty(), latest.state("cold"));
  }

  @Test
  void unprotectedChangesAndIllegalTransitionsAreRefused() {
    TableIdentifier table = newTable();
    assertThrows(
        ValidationException.class,
        () -> store.newTransaction(table).setSourceState("hot", kafka(0, 20)).commit());
    ValidationException backwards =
        assertThrows(
            ValidationException.class,
            () ->
                store
                    .newTransaction(table)
                    .setSourceState("hot", kafka(0, 10), kafka(0, 5))
                    .commit());
    assertTrue(backwards.getMessage().contains("backwards"), backwards.getMessage());
    store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(6, 10)).commit();
    assertThrows(
        ValidationException.class,
        () ->
            store.newTransaction(table).setSourceState("hot", kafka(6, 10), kafka(3, 10)).commit());
    ValidationException vanished =
        assertThrows(
            ValidationException.class,
            () ->
                store
                    .newTransaction(table)
                    .setSourceState(
                        "hot",
                        kafka(6, 10),
                        SourceState.Kafka.of(Map.of(1, new SourceState.OffsetRange(0, 3))))
                    .commit());
    assertTrue(vanished.getMessage().contains("vanished"), vanished.getMessage());
    assertThrows(ValidationException.class, () -> new SourceState.OffsetRange(5, 3));
    assertThrows(
        ValidationException.class,
        () ->
            store
                .newTransaction(table)
                .setSourceState("cold", SourceState.Iceberg.empty(), kafka(0, 1))
                .commit());
    assertThrows(
        ValidationException.class, () -> store.newTransaction(table).operation("noop").commit());
    assertEquals(2, store.loadTable(table).currentVersion());
  }

  @Test
  void idempotentReplayReturnsTheFirstVersionAndChangesNothing() {
    TableIdentifier table = newTable();
    TableVersion first =
        commitAndRead(
            store
                .newTransaction(table)
                .idempotencyKey("move:hot:0:0-10")
                .setSourceState("hot", kafka(0, 10), kafka(10, 10))
                .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(5)),
            table);
    // the retried job read the state again (already moved) but asks for the same change
    TableVersion replay =
        commitAndRead(
            store
                .newTransaction(table)
                .idempotencyKey("move:hot:0:0-10")
                .setSourceState("hot", kafka(10, 10), kafka(10, 10))
                .setSourceState("cold", SourceState.Iceberg.of(5), SourceState.Iceberg.of(5)),
            table);
    assertEquals(first.version(), replay.version());
    assertEquals(first, replay);
    assertEquals(2, store.loadTable(table).currentVersion());

    IdempotencyConflictException conflict =
        assertThrows(
            IdempotencyConflictException.class,
            () ->
                store
                    .newTransaction(table)
                    .idempotencyKey("move:hot:0:0-10")
                    .setSourceState("cold", SourceState.Iceberg.of(5), SourceState.Iceberg.of(6))
                    .commit());
    assertTrue(conflict.getMessage().contains("move:hot:0:0-10"), conflict.getMessage());
    assertTrue(conflict.getMessage().contains("version 2"), conflict.getMessage());
    assertEquals(2, store.loadTable(table).currentVersion());
  }

  @Test
  void locksAreFencedAgainstZombieHolders() throws Exception {
    TableIdentifier table = newTable();
    SourceLock zombie = store.acquireLock(table, "hot", "mover-1", Duration.ofMillis(200));
    assertEquals(List.of(zombie), store.listLocks(table));
    LockHeldException held =
        assertThrows(
            LockHeldException.class,
            () -> store.acquireLock(table, "hot", "mover-2", Duration.ofSeconds(30)));
    assertEquals("mover-1", held.holder().owner());
    // a writer without the lock cannot change a locked source, even with the right expected state
    assertThrows(
        LockHeldException.class,
        () ->
            store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 11)).commit());
    // other sources stay free
    store
        .newTransaction(table)
        .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(3))
        .commit();

    Thread.sleep(300);
    SourceLock successor = store.acquireLock(table, "hot", "mover-2", Duration.ofSeconds(30));
    assertTrue(successor.fencingToken() > zombie.fencingToken());
    StaleLockException stale =
        assertThrows(
            StaleLockException.class,
            () ->
                store
                    .newTransaction(table)
                    .withLock(zombie)
                    .setSourceState("hot", kafka(0, 12))
                    .commit());
    assertTrue(stale.getMessage().contains("fencing token"), stale.getMessage());
    assertThrows(StaleLockException.class, () -> store.renewLock(zombie, Duration.ofSeconds(5)));
    store.releaseLock(zombie); // does nothing: no longer held
    assertEquals(List.of(successor), store.listLocks(table));

    TableVersion moved =
        commitAndRead(
            store.newTransaction(table).withLock(successor).setSourceState("hot", kafka(2, 12)),
            table);
    assertEquals(kafka(2, 12), moved.state("hot"));
    SourceLock renewed = store.renewLock(successor, Duration.ofSeconds(60));
    assertTrue(renewed.expiresAt().isAfter(successor.expiresAt()));
    store.releaseLock(renewed);
    assertEquals(List.of(), store.listLocks(table));
    SourceLock next = store.acquireLock(table, "hot", "mover-3", Duration.ofSeconds(5));
    assertTrue(next.fencingToken() > successor.fencingToken());
    store.releaseLock(next);
  }

  @Test
  void expiredLeaseCannotCommitEvenIfNobodyTookOver() throws Exception {
    TableIdentifier table = newTable();
    SourceLock lock = store.acquireLock(table, "hot", "mover-1", Duration.ofMillis(100));
    Thread.sleep(200);
    assertThrows(
        StaleLockException.class,
        () ->
            store
                .newTransaction(table)
                .withLock(lock)
                .setSourceState("hot", kafka(0, 11))
                .commit());
    assertEquals(1, store.loadTable(table).currentVersion());
  }

  @Test
  void sourcesCanBeAddedAndRemovedInCommits() {
    TableIdentifier table = newTable();
    SourceDefinition archive =
        new SourceDefinition(
            "archive", SourceKind.ICEBERG, "lake", Map.of("table", "logs.archive"));
    TableVersion added =
        commitAndRead(
            store.newTransaction(table).addSource(archive, SourceState.Iceberg.of(9)), table);
    assertEquals(SourceState.Iceberg.of(9), added.state("archive"));
    assertEquals(archive, added.source("archive"));
    assertThrows(
        AlreadyExistsException.class,
        () -> store.newTransaction(table).addSource(archive, SourceState.Iceberg.empty()).commit());

    TableVersion removed = commitAndRead(store.newTransaction(table).removeSource("warm"), table);
    assertFalse(removed.sourceStates().containsKey("warm"));
    assertTrue(store.readVersion(table, added.version()).sourceStates().containsKey("warm"));
    assertThrows(
        NoSuchSourceException.class,
        () ->
            store
                .newTransaction(table)
                .setSourceState(
                    "warm",
                    new SourceState.Jdbc(Instant.EPOCH),
                    new SourceState.Jdbc(Instant.now()))
                .commit());
  }

  @Test
  void aJdbcStateKeepsItsPostgresSnapshotAndAStateWithoutOneReadsAsBefore() {
    TableIdentifier table = newTable();
    SourceState.Jdbc created = (SourceState.Jdbc) store.readLatest(table).state("warm");
    assertTrue(created.pgSnapshot().isEmpty());
    SourceState.Jdbc withSnapshot =
        new SourceState.Jdbc(Instant.parse("2026-01-02T00:00:00.123456Z"), "1000:1004:1001,1003");

    TableVersion version =
        commitAndRead(
            store.newTransaction(table).setSourceState("warm", created, withSnapshot), table);

    assertEquals(withSnapshot, version.state("warm"));
    assertEquals(created, store.readVersion(table, 1).state("warm"));
    assertThrows(
        ValidationException.class,
        () -> new SourceState.Jdbc(Instant.EPOCH, "1000:1004'; DROP TABLE x; --"));
  }

  @Test
  void compatibleSchemaChangesCommitANewSchemaIdAndIncompatibleOnesChangeNothing() {
    TableIdentifier table = newTable();
    List<Field> widened =
        List.of(
            Field.required(1, "id", FieldType.LONG),
            Field.optional(2, "text", FieldType.STRING),
            Field.optional(3, "region", FieldType.STRING),
            Field.optional(4, "level", FieldType.INT));
    TableVersion changed =
        commitAndRead(store.newTransaction(table).operation("alter").setSchema(1, widened), table);
    assertEquals(2, changed.schema().schemaId());
    assertEquals("text", changed.schema().field(2).orElseThrow().name());
    assertEquals(1, store.readVersion(table, 1).schema().schemaId());
    assertEquals(new Schema(2, widened), store.schema(table, 2));

    List<Field> narrowed = new ArrayList<>(widened);
    narrowed.set(3, Field.optional(4, "level", FieldType.STRING));
    assertThrows(
        ValidationException.class,
        () -> store.newTransaction(table).setSchema(2, narrowed).commit());
    List<Field> requiredNew = new ArrayList<>(widened);
    requiredNew.add(Field.required(5, "severity", FieldType.INT));
    assertThrows(
        ValidationException.class,
        () -> store.newTransaction(table).setSchema(2, requiredNew).commit());
    assertThrows(
        ValidationException.class,
        () -> store.newTransaction(table).setSchema(2, widened.subList(1, 4)).commit());
    List<Field> widerLevel = new ArrayList<>(widened);
    widerLevel.set(3, Field.optional(4, "level", FieldType.LONG));
    assertThrows(
        CommitConflictException.class,
        () -> store.newTransaction(table).setSchema(1, widerLevel).commit());
    assertEquals(2, store.readLatest(table).schema().schemaId());
    assertEquals(3, store.newTransaction(table).setSchema(2, widerLevel).commit().schemaId());
  }

  @Test
  void droppedTableIsGoneAndCanBeCreatedAgain() {
    TableIdentifier table = newTable();
    store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 12)).commit();
    store.dropTable(table);
    assertFalse(store.tableExists(table));
    assertThrows(NoSuchTableException.class, () -> store.readLatest(table));
    store.createTable(
        TableDefinition.builder(table, SCHEMA)
            .source(
                new SourceDefinition("hot", SourceKind.KAFKA, "kafka", Map.of("topic", "events")),
                kafka(0, 3))
            .build());
    assertEquals(kafka(0, 3), store.readLatest(table).state("hot"));
    assertEquals(1, store.loadTable(table).currentVersion());
  }

  @Test
  void writersOnDisjointSourcesNeverFailEachOther() throws Exception {
    int writers = 8;
    int commitsPerWriter = 40;
    TableIdentifier table =
        TableIdentifier.of("logs", "disjoint_" + tableSequence.incrementAndGet());
    TableDefinition.Builder definition = TableDefinition.builder(table, SCHEMA);
    for (int writer = 0; writer < writers; writer++) {
      definition.source(
          new SourceDefinition("p" + writer, SourceKind.KAFKA, "kafka", Map.of("topic", "t")),
          kafka(0, 0));
    }
    store.createTable(definition.build());
    ExecutorService pool = Executors.newFixedThreadPool(writers);
    List<Future<List<Long>>> results = new ArrayList<>();
    for (int writer = 0; writer < writers; writer++) {
      String source = "p" + writer;
      results.add(
          pool.submit(
              () -> {
                List<Long> versions = new ArrayList<>();
                SourceLock lock = store.acquireLock(table, source, source, Duration.ofMinutes(1));
                for (int i = 1; i <= commitsPerWriter; i++) {
                  versions.add(
                      store
                          .newTransaction(table)
                          .withLock(lock)
                          .setSourceState(source, kafka(0, i))
                          .idempotencyKey(source + ":" + i)
                          .commit()
                          .version());
                }
                store.releaseLock(lock);
                return versions;
              }));
    }
    Set<Long> allVersions = new TreeSet<>();
    for (Future<List<Long>> result : results) {
      allVersions.addAll(result.get(2, TimeUnit.MINUTES)); // throws if any commit failed
    }
    pool.shutdown();
    int total = writers * commitsPerWriter;
    assertEquals(total, allVersions.size());
    assertEquals(2L, Collections.min(allVersions));
    assertEquals(total + 1L, Collections.max(allVersions)); // contiguous: no gaps
    TableVersion latest = store.readLatest(table);
    assertEquals(total + 1L, latest.version());
    for (int writer = 0; writer < writers; writer++) {
      assertEquals(kafka(0, commitsPerWriter), latest.state("p" + writer));
    }
    // every change is present in history, in order per source
    for (VersionInfo info : store.history(table, 2, total)) {
      assertEquals(1, info.commit().sourceChanges().size());
    }
  }

  @Test
  void writersOnTheSameSourceLoseNoUpdate() throws Exception {
    TableIdentifier table = newTable();
    int writers = 4;
    int incrementsPerWriter = 25;
    AtomicInteger conflicts = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(writers);
    List<Future<?>> results = new ArrayList<>();
    for (int writer = 0; writer < writers; writer++) {
      results.add(
          pool.submit(
              () -> {
                for (int i = 0; i < incrementsPerWriter; i++) {
                  while (true) {
                    SourceState.Kafka read =
                        (SourceState.Kafka) store.readLatest(table).state("hot");
                    SourceState.OffsetRange range = read.partition(0);
                    try {
                      store
                          .newTransaction(table)
                          .setSourceState(
                              "hot",
                              read,
                              read.with(
                                  0, new SourceState.OffsetRange(range.start(), range.end() + 1)))
                          .commit();
                      break;
                    } catch (CommitConflictException e) {
                      conflicts.incrementAndGet();
                    }
                  }
                }
                return null;
              }));
    }
    for (Future<?> result : results) {
      result.get(2, TimeUnit.MINUTES);
    }
    pool.shutdown();
    TableVersion latest = store.readLatest(table);
    assertEquals(kafka(0, 10 + writers * incrementsPerWriter), latest.state("hot"));
    assertEquals(1 + writers * incrementsPerWriter, latest.version());
  }

  @Test
  void externalStateIsVersioned() {
    TableIdentifier table = newTable();
    store.newTransaction(table).setExternalState("flink.checkpoint", "17").commit();
    store.newTransaction(table).setExternalState("flink.checkpoint", "18").commit();
    assertEquals("17", store.readVersion(table, 2).externalState().get("flink.checkpoint"));
    assertEquals("18", store.readLatest(table).externalState().get("flink.checkpoint"));
    assertNull(store.readVersion(table, 1).externalState().get("flink.checkpoint"));
  }
}
