package io.dataharness.metadata;

import static org.awaitility.Awaitility.await;
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
import java.util.Optional;
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
import org.junit.jupiter.api.Timeout;

/**
 * The contract every {@link HarnessStore} implementation must meet. Each store's test class extends
 * this one and opens a fresh store.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class HarnessStoreConformanceTest {
  protected HarnessStore store;
  private final AtomicInteger tableSequence = new AtomicInteger();

  /** Opens a new, empty store (each call another one). */
  protected abstract HarnessStore openStore();

  /**
   * Opens another store on the data of {@link #store}, as another process would (it shares nothing
   * in memory with {@link #store}).
   */
  protected abstract HarnessStore openAnotherProcess();

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
    store.createTable(definition(table));
    return table;
  }

  /** The definition {@link #newTable()} creates. */
  /**
   * Gives a store the layout of schema versions 1 to 6, where the leases were rows of {@code
   * harness_locks} (the caller sets the schema version it stands for).
   */
  static void leasesInTheirOwnTable(java.sql.Statement statement) throws java.sql.SQLException {
    statement.execute(
        "CREATE TABLE harness_locks (table_id BIGINT NOT NULL, source_id VARCHAR(128) NOT NULL,"
            + " owner VARCHAR(256), fencing_token BIGINT NOT NULL, acquired_at TIMESTAMP WITH"
            + " TIME ZONE, expires_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY (table_id,"
            + " source_id))");
    statement.execute(
        "INSERT INTO harness_locks SELECT table_id, source_id, lock_owner, fencing_token,"
            + " lock_acquired_at, lock_expires_at FROM harness_sources");
    for (String column :
        List.of("lock_owner", "fencing_token", "lock_acquired_at", "lock_expires_at")) {
      statement.execute("ALTER TABLE harness_sources DROP COLUMN " + column);
    }
  }

  static TableDefinition definition(TableIdentifier table) {
    return TableDefinition.builder(table, SCHEMA)
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
        .build();
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
  void aReplayOfALockedCommitOfOneSourceWritesNothing() {
    TableIdentifier table = newTable();
    SourceLock lock = store.acquireLock(table, "hot", "appender", Duration.ofMinutes(1));
    java.util.function.Supplier<VersionInfo> append =
        () ->
            store
                .newTransaction(table)
                .withLock(lock)
                .idempotencyKey("append:hot:10-20")
                .setSourceState("hot", kafka(0, 20))
                .commit();
    VersionInfo first = append.get();
    // the appender retries after a lost reply: same key, same lock, same new state
    assertEquals(first, append.get());
    assertEquals(2, store.loadTable(table).currentVersion());
    assertEquals(kafka(0, 20), store.readLatest(table).state("hot"));
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

  /**
   * Once a store knows a source's state, its next commit of that source alone is checked and
   * written by the database in one statement (PostgreSQL); every check holds there as well.
   */
  @Test
  void aRepeatedCommitOfOneSourceIsCheckedLikeAnyOther() throws Exception {
    TableIdentifier table = newTable();
    SourceLock first = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(10));
    VersionInfo moved = commitHot(first, "move-1", kafka(0, 11));
    // the key of a landed commit, with another change that is valid from the current state
    assertThrows(
        IdempotencyConflictException.class, () -> commitHot(first, "move-1", kafka(0, 12)));
    // the lock broken and taken again under the same owner name: only the token tells them apart
    store.breakLock(table, "hot");
    SourceLock second = store.acquireLock(table, "hot", "mover-1", Duration.ofSeconds(1));
    StaleLockException stale =
        assertThrows(StaleLockException.class, () -> commitHot(first, null, kafka(0, 12)));
    assertTrue(stale.getMessage().contains("fencing token"), stale.getMessage());
    VersionInfo next = commitHot(second, null, kafka(0, 12));
    assertEquals(moved.version() + 1, next.version());
    Thread.sleep(1200); // the second lease expires, nobody takes over
    assertThrows(StaleLockException.class, () -> commitHot(second, null, kafka(0, 13)));
    assertEquals(next.version(), store.loadTable(table).currentVersion());
    assertEquals(kafka(0, 12), store.readVersion(table, next.version()).state("hot"));
  }

  /** Commits source 'hot' of the lock's table under the lock (with the key, if not null). */
  private VersionInfo commitHot(SourceLock lock, String idempotencyKey, SourceState hot) {
    Transaction transaction = store.newTransaction(lock.table()).withLock(lock);
    if (idempotencyKey != null) {
      transaction.idempotencyKey(idempotencyKey);
    }
    return transaction.setSourceState("hot", hot).commit();
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
  void aSourceIsRedefinedUnderItsLockKeepingItsKindAndState() {
    TableIdentifier table = newTable();
    TableVersion before = store.readLatest(table);
    SourceDefinition hot = before.source("hot");
    SourceDefinition renamed =
        new SourceDefinition(
            hot.id(),
            hot.kind(),
            hot.connection(),
            hot.options(),
            Map.of("payload", "body"),
            hot.partitionFilter());
    assertThrows(
        ValidationException.class,
        () -> store.newTransaction(table).redefineSource(renamed).commit(),
        "a redefinition needs the source's lock");
    SourceLock lock = store.acquireLock(table, "hot", "alter", Duration.ofSeconds(30));
    try {
      SourceDefinition asJdbc =
          new SourceDefinition("hot", SourceKind.JDBC, "pg", Map.of("table", "t"));
      assertThrows(
          ValidationException.class,
          () -> store.newTransaction(table).withLock(lock).redefineSource(asJdbc).commit());
      TableVersion after =
          commitAndRead(store.newTransaction(table).withLock(lock).redefineSource(renamed), table);
      assertEquals("body", after.source("hot").sourceColumn("payload"));
      assertEquals(before.state("hot"), after.state("hot"));
      assertEquals(before.version() + 1, after.version());
    } finally {
      store.releaseLock(lock);
    }
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
  void aRenamedTableKeepsItsVersionsUuidAndLocksAndIsRefusedWhileWritersWork() {
    TableIdentifier table = newTable();
    store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 12)).commit();
    String uuid = store.loadTable(table).uuid();
    TableIdentifier renamed = TableIdentifier.of("logs", table.name() + "_renamed");

    SourceLock lock = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(1));
    CommitConflictException busy =
        assertThrows(CommitConflictException.class, () -> store.renameTable(table, renamed));
    assertTrue(busy.getMessage().contains("'hot' (held by 'mover-1'"), busy.getMessage());
    store
        .newTransaction(table)
        .withLock(lock)
        .openIntent("move-1", "move", List.of("hot"), PAYLOAD)
        .commit();
    store.releaseLock(lock);
    busy = assertThrows(CommitConflictException.class, () -> store.renameTable(table, renamed));
    assertTrue(busy.getMessage().contains("move-1 (move by"), busy.getMessage());
    SourceLock again = store.acquireLock(table, "hot", "mover-2", Duration.ofMinutes(1));
    store.newTransaction(table).withLock(again).completeIntent("move-1").commit();
    store.releaseLock(again);

    TableIdentifier taken = newTable();
    assertThrows(AlreadyExistsException.class, () -> store.renameTable(table, taken));
    assertThrows(
        NoSuchNamespaceException.class,
        () -> store.renameTable(table, TableIdentifier.of("nowhere", "t")));
    assertTrue(store.tableExists(table));

    store.renameTable(table, renamed);
    assertFalse(store.tableExists(table));
    assertThrows(NoSuchTableException.class, () -> store.readLatest(table));
    assertEquals(uuid, store.loadTable(renamed).uuid());
    assertEquals(4, store.readLatest(renamed).version());
    assertEquals(kafka(0, 12), store.readVersion(renamed, 2).state("hot"));
    SourceLock afterwards = store.acquireLock(renamed, "hot", "mover-3", Duration.ofMinutes(1));
    assertTrue(afterwards.fencingToken() > again.fencingToken(), "fencing tokens only grow");
    assertEquals(
        5,
        store
            .newTransaction(renamed)
            .withLock(afterwards)
            .setSourceState("hot", kafka(0, 12), kafka(0, 14))
            .commit()
            .version());
  }

  @Test
  void expiryRemovesOldVersionsAndEveryKeptVersionReadsAsBefore() throws Exception {
    TableIdentifier table = newTable();
    // v2: hot moves on; v3: a source is added; v4: warm is retired; v5, v6: hot moves on
    store.newTransaction(table).setSourceState("hot", kafka(0, 10), kafka(0, 20)).commit();
    store
        .newTransaction(table)
        .addSource(
            new SourceDefinition("extra", SourceKind.KAFKA, "kafka", Map.of("topic", "x")),
            kafka(0, 1))
        .setExternalState("k", "three")
        .commit();
    store.newTransaction(table).removeSource("warm").commit();
    store.newTransaction(table).setSourceState("hot", kafka(0, 20), kafka(0, 30)).commit();
    Thread.sleep(20);
    Instant cut = store.readLatest(table).commit().committedAt().plusMillis(1);
    Thread.sleep(20);
    store.newTransaction(table).setSourceState("hot", kafka(0, 30), kafka(0, 40)).commit();
    List<TableVersion> before = new ArrayList<>();
    for (long version = 1; version <= 6; version++) {
      before.add(store.readVersion(table, version));
    }

    // committed before the cut: 1-5; retain_last 3 keeps 4-6, so 4 is the first kept
    assertEquals(4, store.expiryBoundary(table, cut, 3));
    assertEquals(6, store.expiryBoundary(table, cut, 1));
    assertEquals(1, store.expiryBoundary(table, Instant.EPOCH, 1));
    assertThrows(ValidationException.class, () -> store.expiryBoundary(table, cut, 0));

    ExpiredVersions expired = store.expireVersions(table, 5, "test retention");
    assertEquals(new ExpiredVersions(table, 5, 4, expired.statesRemoved(), 1, 0, 0), expired);
    assertTrue(expired.statesRemoved() >= 2, expired.toString());
    assertEquals(5, store.loadTable(table).oldestVersion());
    assertEquals(before.get(4), store.readVersion(table, 5));
    assertEquals(before.get(5), store.readVersion(table, 6));
    assertEquals(before.get(5), store.readLatest(table));
    NoSuchVersionException gone =
        assertThrows(NoSuchVersionException.class, () -> store.readVersion(table, 2));
    assertTrue(gone.getMessage().contains("it was expired"), gone.getMessage());
    assertTrue(gone.getMessage().contains("test retention"), gone.getMessage());
    assertTrue(gone.getMessage().contains("oldest version kept is 5"), gone.getMessage());
    assertThrows(NoSuchVersionException.class, () -> store.readVersionAsOf(table, Instant.EPOCH));
    assertEquals(
        List.of(5L, 6L), store.history(table, 0, 10).stream().map(VersionInfo::version).toList());

    // idempotent; never past the latest; commits go on
    assertEquals(
        new ExpiredVersions(table, 5, 0, 0, 0, 0, 0), store.expireVersions(table, 3, "again"));
    assertEquals(6, store.expireVersions(table, 100, "all").oldestVersion());
    assertEquals(before.get(5), store.readLatest(table));
    assertEquals(
        7,
        store
            .newTransaction(table)
            .setSourceState("hot", kafka(0, 40), kafka(0, 50))
            .commit()
            .version());
    assertEquals(kafka(0, 40), store.readVersion(table, 6).state("hot"));
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
  void everyVersionReadsTheSameFromTheStateCheckpointsAsSourceBySource() throws Exception {
    TableIdentifier table = newTable();
    // another store, as another process, writing a checkpoint every 3 versions; this test's store
    // writes one every 1,000, so it reads these versions source by source
    try (HarnessStore other = openAnotherProcess()) {
      JdbcHarnessStore checkpointing = (JdbcHarnessStore) other;
      checkpointing.checkpointEvery(3);
      for (long end = 10; end < 30; end += 5) {
        checkpointing
            .newTransaction(table)
            .setSourceState("hot", kafka(0, end), kafka(0, end + 5))
            .commit();
      }
      SourceDefinition extra =
          new SourceDefinition("extra", SourceKind.KAFKA, "kafka", Map.of("topic", "x"));
      checkpointing
          .newTransaction(table)
          .addSource(extra, kafka(0, 1))
          .setExternalState("k", "one")
          .commit();
      checkpointing
          .newTransaction(table)
          .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(5))
          .setSourceState("extra", kafka(0, 1), kafka(0, 2))
          .commit();
      checkpointing.newTransaction(table).removeSource("warm").commit();
      VersionInfo moved =
          checkpointing
              .newTransaction(table)
              .idempotencyKey("move-1")
              .setSourceState("hot", kafka(0, 30), kafka(30, 30))
              .commit();
      VersionInfo replayed =
          checkpointing
              .newTransaction(table)
              .idempotencyKey("move-1")
              .setSourceState("hot", kafka(30, 30), kafka(30, 30))
              .commit();
      assertEquals(moved, replayed); // the replay writes nothing
      checkpointing
          .newTransaction(table)
          .setSchema(
              1,
              List.of(
                  Field.required(1, "id", FieldType.LONG),
                  Field.optional(2, "message", FieldType.STRING),
                  Field.optional(3, "region", FieldType.STRING),
                  Field.optional(4, "level", FieldType.INT)))
          .commit();
      // concurrent commits on disjoint sources, several in a group commit: hot's end goes on from
      // 30, extra's from 2
      ExecutorService pool = Executors.newFixedThreadPool(2);
      List<Future<?>> writers = new ArrayList<>();
      for (Map.Entry<String, Long> writer : Map.of("hot", 30L, "extra", 2L).entrySet()) {
        String source = writer.getKey();
        long start = source.equals("hot") ? 30 : 0;
        writers.add(
            pool.submit(
                () -> {
                  for (long end = writer.getValue(); end < writer.getValue() + 9; end++) {
                    checkpointing
                        .newTransaction(table)
                        .setSourceState(source, kafka(start, end), kafka(start, end + 1))
                        .commit();
                  }
                }));
      }
      for (Future<?> writer : writers) {
        writer.get(1, TimeUnit.MINUTES);
      }
      pool.shutdown();
      checkpointing
          .newTransaction(table)
          .removeSource("extra")
          .setExternalState("k", null)
          .commit();

      long latest = store.readLatest(table).version();
      assertEquals(29, latest);
      List<Long> multiples = new ArrayList<>();
      for (long version = 3; version <= latest; version += 3) {
        multiples.add(version);
      }
      assertEquals(multiples, checkpointing.checkpoints(table));
      long before = checkpointing.checkpointedReads();
      for (long version = 1; version <= latest; version++) {
        assertEquals(
            store.readVersion(table, version),
            checkpointing.readVersion(table, version),
            "version " + version);
      }
      assertEquals(latest - 2, checkpointing.checkpointedReads() - before);

      // expiry removes the checkpoints before the oldest kept version and writes one for it
      store.expireVersions(table, 10, "test retention");
      List<Long> kept = new ArrayList<>(List.of(10L));
      kept.addAll(multiples.subList(3, multiples.size()));
      assertEquals(kept, checkpointing.checkpoints(table));
      before = checkpointing.checkpointedReads();
      for (long version = 10; version <= latest; version++) {
        assertEquals(
            store.readVersion(table, version),
            checkpointing.readVersion(table, version),
            "version " + version + " after the expiry");
      }
      assertEquals(latest - 9, checkpointing.checkpointedReads() - before);
    }
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

  // ---- locks: one live holder, operators break them ----

  @Test
  void aHeldLockIsRefusedToEveryoneEvenTheSameOwnerAndEveryAcquisitionGetsANewToken() {
    TableIdentifier table = newTable();
    SourceLock first = store.acquireLock(table, "hot", "mover", Duration.ofMinutes(1));
    LockHeldException sameOwner =
        assertThrows(
            LockHeldException.class,
            () -> store.acquireLock(table, "hot", "mover", Duration.ofMinutes(1)));
    assertEquals(first, sameOwner.holder());
    assertTrue(sameOwner.getMessage().contains("same owner"), sameOwner.getMessage());
    assertTrue(sameOwner.getMessage().contains("breakLock"), sameOwner.getMessage());
    assertThrows(
        LockHeldException.class,
        () -> store.acquireLock(table, "hot", "other", Duration.ofMinutes(1)));
    assertEquals(List.of(first), store.listLocks(table));
    store.releaseLock(first);
    SourceLock second = store.acquireLock(table, "hot", "mover", Duration.ofMinutes(1));
    assertTrue(second.fencingToken() > first.fencingToken());
    StaleLockException stale =
        assertThrows(
            StaleLockException.class,
            () ->
                store
                    .newTransaction(table)
                    .withLock(first)
                    .setSourceState("hot", kafka(0, 11))
                    .commit());
    assertTrue(stale.getMessage().contains("fencing token"), stale.getMessage());
    store.releaseLock(second);
  }

  @Test
  void aBrokenLockIsFreeAtOnceAndItsHolderIsFenced() {
    TableIdentifier table = newTable();
    SourceLock held = store.acquireLock(table, "hot", "dead-mover", Duration.ofMinutes(10));
    assertEquals(Optional.of(held), store.breakLock(table, "hot"));
    assertEquals(List.of(), store.listLocks(table));
    assertThrows(
        StaleLockException.class,
        () ->
            store
                .newTransaction(table)
                .withLock(held)
                .setSourceState("hot", kafka(0, 11))
                .commit());
    assertThrows(StaleLockException.class, () -> store.renewLock(held, Duration.ofMinutes(1)));
    SourceLock successor = store.acquireLock(table, "hot", "dead-mover", Duration.ofMinutes(1));
    assertTrue(successor.fencingToken() > held.fencingToken() + 1, successor.toString());
    store.releaseLock(held); // the old holder's release changes nothing
    assertEquals(List.of(successor), store.listLocks(table));
    store.releaseLock(successor);
    assertEquals(Optional.empty(), store.breakLock(table, "hot"));
    assertThrows(NoSuchSourceException.class, () -> store.breakLock(table, "lukewarm"));
    assertEquals(1, store.loadTable(table).currentVersion());
  }

  // ---- write-ahead intents ----

  private static final String PAYLOAD = "{\"batch\":1,\"rows\":[1,2,3]}";

  @Test
  void anOpenIntentIsRecordedInItsVersionAndClosedByTheCommitThatCompletesIt() {
    TableIdentifier table = newTable();
    SourceLock hot = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(1));
    SourceLock cold = store.acquireLock(table, "cold", "mover-1", Duration.ofMinutes(1));
    TableVersion opened =
        commitAndRead(
            store
                .newTransaction(table)
                .operation("move-intent")
                .withLock(hot)
                .withLock(cold)
                .openIntent("move-1", "move", List.of("hot", "cold"), PAYLOAD),
            table);
    assertEquals(2, opened.version());
    Intent intent = opened.openIntents().get(0);
    assertEquals(1, opened.openIntents().size());
    assertEquals("move-1", intent.id());
    assertEquals("move", intent.kind());
    assertEquals("mover-1", intent.owner());
    assertEquals(List.of("cold", "hot"), intent.sources());
    assertEquals(
        Map.of("hot", hot.fencingToken(), "cold", cold.fencingToken()), intent.fencingTokens());
    assertEquals(PAYLOAD, intent.payload());
    assertEquals(2, intent.openedVersion());
    assertEquals(opened.commit().committedAt(), intent.openedAt());
    assertEquals(Optional.of(intent), opened.openIntent("hot"));
    assertEquals(Optional.empty(), opened.openIntent("warm"));
    assertEquals(List.of(intent), store.readLatest(table).openIntents());
    assertEquals(List.of(), store.readVersion(table, 1).openIntents());

    TableVersion completed =
        commitAndRead(
            store
                .newTransaction(table)
                .operation("move")
                .withLock(hot)
                .withLock(cold)
                .setSourceState("hot", kafka(10, 10))
                .setSourceState("cold", SourceState.Iceberg.of(7))
                .completeIntent("move-1"),
            table);
    assertEquals(List.of(), completed.openIntents());
    assertEquals(List.of(), store.readLatest(table).openIntents());
    assertEquals(List.of(intent), store.readVersion(table, 2).openIntents());
    store.releaseLock(hot);
    store.releaseLock(cold);
    // the intent no longer guards anything
    store.newTransaction(table).setSourceState("hot", kafka(10, 10), kafka(10, 12)).commit();
  }

  @Test
  void aCoveredSourceChangesOnlyUnderTheIntentsTokensOrWithItsCompletion() {
    TableIdentifier table = newTable();
    SourceLock opener = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(1));
    store
        .newTransaction(table)
        .withLock(opener)
        .openIntent("move-a", "move", List.of("hot"), PAYLOAD)
        .commit();
    // the writer that opened it, still holding its lock, goes on committing
    store.newTransaction(table).withLock(opener).setSourceState("hot", kafka(2, 10)).commit();
    store.releaseLock(opener); // the job dies before completing its intent

    IntentPendingException compareAndSet =
        assertThrows(
            IntentPendingException.class,
            () ->
                store
                    .newTransaction(table)
                    .setSourceState("hot", kafka(2, 10), kafka(2, 11))
                    .commit());
    String message = compareAndSet.getMessage();
    for (String expected :
        List.of(
            table.toString(),
            "'hot'",
            "'move-a'",
            "kind move",
            "owner 'mover-1'",
            "opened at version 2",
            "[hot]",
            "completeIntent")) {
      assertTrue(message.contains(expected), expected + " missing in: " + message);
    }
    assertEquals("move-a", compareAndSet.intent().id());
    // another writer with a new lock is not the writer that opened it
    SourceLock rerun = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(1));
    assertThrows(
        IntentPendingException.class,
        () ->
            store
                .newTransaction(table)
                .withLock(rerun)
                .setSourceState("hot", kafka(2, 12))
                .commit());
    IntentPendingException removal =
        assertThrows(
            IntentPendingException.class,
            () -> store.newTransaction(table).withLock(rerun).removeSource("hot").commit());
    assertTrue(removal.getMessage().contains("remove source 'hot'"), removal.getMessage());
    IntentPendingException second =
        assertThrows(
            IntentPendingException.class,
            () ->
                store
                    .newTransaction(table)
                    .withLock(rerun)
                    .openIntent("move-b", "move", List.of("hot"), PAYLOAD)
                    .commit());
    assertTrue(second.getMessage().contains("'move-a'"), second.getMessage());
    // sources the intent does not cover are free
    store
        .newTransaction(table)
        .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(4))
        .commit();
    assertEquals(4, store.loadTable(table).currentVersion());

    // the rerun completes exactly that batch, and in the same commit starts the next one
    TableVersion completed =
        commitAndRead(
            store
                .newTransaction(table)
                .withLock(rerun)
                .setSourceState("hot", kafka(10, 10))
                .completeIntent("move-a")
                .openIntent("move-b", "move", List.of("hot"), PAYLOAD),
            table);
    assertEquals(List.of("move-b"), completed.openIntents().stream().map(Intent::id).toList());
    assertEquals(rerun.fencingToken(), completed.openIntents().get(0).fencingTokens().get("hot"));
    store
        .newTransaction(table)
        .withLock(rerun)
        .completeIntent("move-b")
        .removeSource("hot")
        .commit();
    assertFalse(store.readLatest(table).sourceStates().containsKey("hot"));
    store.releaseLock(rerun);
  }

  @Test
  void openingAndCompletingAnIntentNeedTheLocksOfAllItsSources() {
    TableIdentifier table = newTable();
    SourceLock hot = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(1));
    ValidationException openWithoutCold =
        assertThrows(
            ValidationException.class,
            () ->
                store
                    .newTransaction(table)
                    .withLock(hot)
                    .openIntent("move-1", "move", List.of("hot", "cold"), PAYLOAD)
                    .commit());
    assertTrue(openWithoutCold.getMessage().contains("[cold]"), openWithoutCold.getMessage());
    assertThrows(
        NoSuchSourceException.class,
        () ->
            store
                .newTransaction(table)
                .withLock(hot)
                .openIntent("move-1", "move", List.of("hot", "lukewarm"), PAYLOAD)
                .commit());
    SourceLock cold = store.acquireLock(table, "cold", "mover-1", Duration.ofMinutes(1));
    store
        .newTransaction(table)
        .withLock(hot)
        .withLock(cold)
        .openIntent("move-1", "move", List.of("hot", "cold"), null)
        .commit();
    ValidationException completeWithoutCold =
        assertThrows(
            ValidationException.class,
            () -> store.newTransaction(table).withLock(hot).completeIntent("move-1").commit());
    assertTrue(
        completeWithoutCold.getMessage().contains("[cold]"), completeWithoutCold.getMessage());
    assertThrows(
        ValidationException.class,
        () -> store.newTransaction(table).completeIntent("move-1").commit());
    assertEquals(2, store.loadTable(table).currentVersion());
    assertNull(store.readLatest(table).openIntents().get(0).payload());
    // an operator abandons it: no state change, just the completion under the locks
    store.newTransaction(table).withLock(hot).withLock(cold).completeIntent("move-1").commit();
    assertEquals(List.of(), store.readLatest(table).openIntents());
    assertThrows(
        ValidationException.class,
        () ->
            store.newTransaction(table).openIntent("move-2", "move", List.of(), PAYLOAD).commit());
    assertThrows(
        ValidationException.class,
        () ->
            store
                .newTransaction(table)
                .openIntent("bad id with spaces", "move", List.of("hot"), PAYLOAD));
    store.releaseLock(hot);
    store.releaseLock(cold);
  }

  @Test
  void completingAnIntentThatIsNotOpenIsRefusedUnlessTheCommitIsAReplay() {
    TableIdentifier table = newTable();
    SourceLock hot = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(1));
    CommitConflictException never =
        assertThrows(
            CommitConflictException.class,
            () -> store.newTransaction(table).withLock(hot).completeIntent("move-x").commit());
    assertTrue(never.getMessage().contains("'move-x'"), never.getMessage());
    assertTrue(never.getMessage().contains("not open"), never.getMessage());

    VersionInfo opened =
        store
            .newTransaction(table)
            .idempotencyKey("open:move-1")
            .withLock(hot)
            .openIntent("move-1", "move", List.of("hot"), PAYLOAD)
            .commit();
    assertEquals(
        opened,
        store
            .newTransaction(table)
            .idempotencyKey("open:move-1")
            .withLock(hot)
            .openIntent("move-1", "move", List.of("hot"), PAYLOAD)
            .commit());
    // the same key with another intent is another change
    assertThrows(
        IdempotencyConflictException.class,
        () ->
            store
                .newTransaction(table)
                .idempotencyKey("open:move-1")
                .withLock(hot)
                .openIntent("move-1", "move", List.of("hot"), "{}")
                .commit());
    VersionInfo completed =
        store
            .newTransaction(table)
            .idempotencyKey("complete:move-1")
            .withLock(hot)
            .setSourceState("hot", kafka(10, 10))
            .completeIntent("move-1")
            .commit();
    assertEquals(
        completed,
        store
            .newTransaction(table)
            .idempotencyKey("complete:move-1")
            .withLock(hot)
            .setSourceState("hot", kafka(10, 10))
            .completeIntent("move-1")
            .commit());
    CommitConflictException again =
        assertThrows(
            CommitConflictException.class,
            () -> store.newTransaction(table).withLock(hot).completeIntent("move-1").commit());
    assertTrue(again.getMessage().contains("version " + completed.version()), again.getMessage());
    AlreadyExistsException reused =
        assertThrows(
            AlreadyExistsException.class,
            () ->
                store
                    .newTransaction(table)
                    .withLock(hot)
                    .openIntent("move-1", "move", List.of("hot"), PAYLOAD)
                    .commit());
    assertTrue(reused.getMessage().contains("single-use"), reused.getMessage());
    assertEquals(3, store.loadTable(table).currentVersion());
    store.releaseLock(hot);
  }

  @Test
  void nulCharactersAreRefusedWhenSetNamingTheField() {
    TableIdentifier table = newTable();
    String nul = "a\u0000b";
    ValidationException summary =
        assertThrows(
            ValidationException.class, () -> store.newTransaction(table).summary("rows", nul));
    assertTrue(summary.getMessage().contains("summary value of 'rows'"), summary.getMessage());
    ValidationException external =
        assertThrows(
            ValidationException.class,
            () -> store.newTransaction(table).setExternalState("offsets", nul));
    assertTrue(external.getMessage().contains("external state value"), external.getMessage());
    assertThrows(
        ValidationException.class, () -> store.newTransaction(table).setExternalState(nul, "1"));
    assertThrows(ValidationException.class, () -> store.newTransaction(table).idempotencyKey(nul));
    assertThrows(
        ValidationException.class,
        () -> store.newTransaction(table).externalIds("cold", Map.of("snapshot-id", nul)));
    ValidationException payload =
        assertThrows(
            ValidationException.class,
            () -> store.newTransaction(table).openIntent("move-1", "move", List.of("hot"), nul));
    assertTrue(payload.getMessage().contains("payload of intent"), payload.getMessage());
    assertEquals(1, store.loadTable(table).currentVersion());
  }

  @Test
  void aLockPresentedForASourceTheCommitDoesNotChangeIsCheckedButAllowed() {
    TableIdentifier table = newTable();
    SourceLock hot = store.acquireLock(table, "hot", "mover-1", Duration.ofMinutes(1));
    SourceLock cold = store.acquireLock(table, "cold", "mover-1", Duration.ofMinutes(1));
    store
        .newTransaction(table)
        .withLock(hot)
        .withLock(cold)
        .setSourceState("cold", SourceState.Iceberg.of(3))
        .commit();
    store.breakLock(table, "hot");
    assertThrows(
        StaleLockException.class,
        () ->
            store
                .newTransaction(table)
                .withLock(hot)
                .withLock(cold)
                .setSourceState("cold", SourceState.Iceberg.of(4))
                .commit());
    store.releaseLock(cold);
    assertEquals(2, store.loadTable(table).currentVersion());
  }

  // ---- lease keepers ----

  private boolean competingAcquireFails(TableIdentifier table, String source) {
    try {
      store.releaseLock(store.acquireLock(table, source, "competitor", Duration.ofSeconds(1)));
      return false;
    } catch (LockHeldException e) {
      return true;
    }
  }

  @Test
  @Timeout(60)
  void aLeaseKeeperHoldsShortLeasesForAsLongAsItRunsAndReleasesThemOnClose() {
    TableIdentifier table = newTable();
    LeaseKeeper keeper =
        LeaseKeeper.acquire(
            store,
            table,
            "mover-1",
            Duration.ofSeconds(2),
            Duration.ofMillis(500),
            List.of("hot", "cold"));
    try (keeper) {
      assertEquals(
          List.of("cold", "hot"), keeper.locks().stream().map(SourceLock::sourceId).toList());
      long token = keeper.lock("hot").fencingToken();
      // for two and a half leases, nobody else gets either lock
      await()
          .during(Duration.ofSeconds(5))
          .atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(200))
          .until(() -> competingAcquireFails(table, "hot") && competingAcquireFails(table, "cold"));
      keeper.checkHeld();
      assertEquals(token, keeper.lock("hot").fencingToken()); // renewal keeps the token
      TableVersion moved =
          commitAndRead(
              keeper.present(store.newTransaction(table)).setSourceState("hot", kafka(0, 11)),
              table);
      assertEquals(kafka(0, 11), moved.state("hot"));
      assertThrows(ValidationException.class, () -> keeper.lock("warm"));
    }
    assertFalse(competingAcquireFails(table, "hot"));
    assertFalse(competingAcquireFails(table, "cold"));
    keeper.close(); // idempotent
    assertThrows(StaleLockException.class, keeper::checkHeld);
  }

  @Test
  @Timeout(60)
  void aLeaseKeeperWhoseLockWasBrokenReportsItLostAndItsCommitIsFenced() {
    TableIdentifier table = newTable();
    try (LeaseKeeper keeper =
        LeaseKeeper.acquire(
            store,
            table,
            "mover-1",
            Duration.ofSeconds(10),
            Duration.ofMillis(200),
            List.of("hot", "cold"))) {
      SourceLock hot = keeper.lock("hot");
      assertEquals(
          Optional.of(hot.fencingToken()),
          store.breakLock(table, "hot").map(SourceLock::fencingToken));
      // a commit racing the renewal thread is fenced by the store
      StaleLockException fenced =
          assertThrows(
              StaleLockException.class,
              () ->
                  store
                      .newTransaction(table)
                      .withLock(hot)
                      .setSourceState("hot", kafka(0, 11))
                      .commit());
      assertTrue(fenced.getMessage().contains("fencing token"), fenced.getMessage());
      await()
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(() -> assertThrows(StaleLockException.class, keeper::checkHeld));
      StaleLockException lost =
          assertThrows(StaleLockException.class, () -> keeper.present(store.newTransaction(table)));
      assertTrue(lost.getMessage().contains("source 'hot'"), lost.getMessage());
      assertTrue(lost.getMessage().contains("mover-1"), lost.getMessage());
    }
    // closing released the lock that was still held, and left the broken one alone
    assertEquals(List.of(), store.listLocks(table));
    assertEquals(1, store.loadTable(table).currentVersion());
  }

  @Test
  @Timeout(60)
  void aLeaseKeeperThatCannotReachTheStoreIsLostOnceItsLeaseWouldHaveRunOut() {
    HarnessStore other = openStore();
    other.createNamespace("logs", Map.of());
    TableIdentifier table = TableIdentifier.of("logs", "unreachable");
    other.createTable(definition(table));
    try (LeaseKeeper keeper =
        LeaseKeeper.acquire(
            other,
            table,
            "mover-1",
            Duration.ofSeconds(2),
            Duration.ofMillis(200),
            List.of("hot"))) {
      keeper.checkHeld();
      other.close(); // every renewal now fails to reach the store
      await()
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(() -> assertThrows(StaleLockException.class, keeper::checkHeld));
      StaleLockException lost = assertThrows(StaleLockException.class, keeper::checkHeld);
      assertTrue(lost.getMessage().contains("source 'hot'"), lost.getMessage());
    }
  }

  @Test
  void aLeaseKeeperAcquiresAllItsLocksOrNone() {
    TableIdentifier table = newTable();
    // taken in source id order: cold and hot, then warm is held
    SourceLock warm = store.acquireLock(table, "warm", "someone", Duration.ofMinutes(1));
    assertThrows(
        LockHeldException.class,
        () -> LeaseKeeper.acquire(store, table, "mover-1", List.of("warm", "cold", "hot")));
    assertEquals(List.of(warm), store.listLocks(table));
    store.releaseLock(warm);
    assertThrows(
        ValidationException.class,
        () ->
            LeaseKeeper.acquire(
                store,
                table,
                "mover-1",
                Duration.ofSeconds(1),
                Duration.ofSeconds(1),
                List.of("hot")));
  }

  /**
   * A process's commits check what another process did since, whatever this process last read or
   * wrote: changed states, locks taken over, intents opened and idempotency keys used there refuse
   * them with the usual errors, and nothing lands.
   */
  @Test
  void commitsSeeWhatAnotherProcessDidSince() {
    TableIdentifier table = newTable();
    SourceLock lock = store.acquireLock(table, "hot", "writer-a", Duration.ofMinutes(5));
    store.newTransaction(table).withLock(lock).setSourceState("hot", kafka(0, 20)).commit();
    store.newTransaction(table).withLock(lock).setSourceState("hot", kafka(0, 30)).commit();
    VersionInfo keyed =
        store
            .newTransaction(table)
            .idempotencyKey("batch-1")
            .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(1))
            .commit();
    store.readLatest(table);
    try (HarnessStore other = openAnotherProcess()) {
      // a state changed there
      other
          .newTransaction(table)
          .setSourceState("cold", SourceState.Iceberg.of(1), SourceState.Iceberg.of(2))
          .commit();
      CommitConflictException conflict =
          assertThrows(
              CommitConflictException.class,
              () ->
                  store
                      .newTransaction(table)
                      .setSourceState("cold", SourceState.Iceberg.of(1), SourceState.Iceberg.of(3))
                      .commit());
      assertTrue(
          conflict.getMessage().contains(table.toString())
              && conflict.getMessage().contains("'cold'"),
          conflict.getMessage());
      // an idempotency key used here replays, also after other commits
      assertEquals(
          keyed,
          store
              .newTransaction(table)
              .idempotencyKey("batch-1")
              .setSourceState("cold", SourceState.Iceberg.empty(), SourceState.Iceberg.of(1))
              .commit());
      // the lock taken over there
      other.breakLock(table, "hot");
      SourceLock taken = other.acquireLock(table, "hot", "writer-b", Duration.ofMinutes(5));
      StaleLockException stale =
          assertThrows(
              StaleLockException.class,
              () ->
                  store
                      .newTransaction(table)
                      .withLock(lock)
                      .setSourceState("hot", kafka(0, 40))
                      .commit());
      assertTrue(stale.getMessage().contains("writer-b"), stale.getMessage());
      LockHeldException held =
          assertThrows(
              LockHeldException.class,
              () ->
                  store
                      .newTransaction(table)
                      .setSourceState("hot", kafka(0, 30), kafka(0, 40))
                      .commit());
      assertTrue(held.getMessage().contains("writer-b"), held.getMessage());
      // an intent opened there
      other
          .newTransaction(table)
          .withLock(taken)
          .openIntent("move-7", "move", List.of("hot"), null)
          .commit();
      other.releaseLock(taken);
      SourceLock again = store.acquireLock(table, "hot", "writer-a", Duration.ofMinutes(5));
      IntentPendingException pending =
          assertThrows(
              IntentPendingException.class,
              () ->
                  store
                      .newTransaction(table)
                      .withLock(again)
                      .setSourceState("hot", kafka(0, 40))
                      .commit());
      assertTrue(pending.getMessage().contains("move-7"), pending.getMessage());
      TableVersion latest = other.readLatest(table);
      assertEquals(kafka(0, 30), latest.state("hot"));
      assertEquals(SourceState.Iceberg.of(2), latest.state("cold"));
      assertEquals(6, latest.version());
    }
  }

  /**
   * Writers of one process on different sources of one table commit together (group commit): every
   * commit gets its own version, versions are contiguous, and each version holds the states of
   * every source as of that version.
   */
  @Test
  @Timeout(120)
  void concurrentWritersOnDifferentSourcesGetContiguousConsistentVersions() throws Exception {
    TableIdentifier table = TableIdentifier.of("logs", "many_" + tableSequence.incrementAndGet());
    int writers = 8;
    int commits = 25;
    TableDefinition.Builder definition = TableDefinition.builder(table, SCHEMA);
    for (int w = 0; w < writers; w++) {
      definition.source(
          new SourceDefinition("s" + w, SourceKind.KAFKA, "kafka", Map.of("topic", "t" + w)),
          kafka(0, 0));
    }
    store.createTable(definition.build());
    ExecutorService pool = Executors.newFixedThreadPool(writers);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int w = 0; w < writers; w++) {
        String source = "s" + w;
        futures.add(
            pool.submit(
                () -> {
                  SourceLock lock =
                      store.acquireLock(table, source, "w-" + source, Duration.ofMinutes(5));
                  for (int i = 1; i <= commits; i++) {
                    Transaction transaction =
                        store
                            .newTransaction(table)
                            .withLock(lock)
                            .setSourceState(source, kafka(0, i));
                    if (i % 5 == 0) {
                      transaction.idempotencyKey(source + ":" + i);
                    }
                    transaction.commit();
                  }
                  store.releaseLock(lock);
                  return null;
                }));
      }
      for (Future<?> future : futures) {
        future.get(100, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    long last = 1 + (long) writers * commits;
    assertEquals(last, store.loadTable(table).currentVersion());
    Map<String, Long> ends = new java.util.HashMap<>();
    for (int w = 0; w < writers; w++) {
      ends.put("s" + w, 0L);
    }
    for (long v = 2; v <= last; v++) {
      TableVersion version = store.readVersion(table, v);
      List<SourceChange> changes = version.info().commit().sourceChanges();
      assertEquals(1, changes.size(), "version " + v);
      SourceChange change = changes.get(0);
      assertEquals(kafka(0, ends.get(change.sourceId())), change.before(), "version " + v);
      ends.put(change.sourceId(), ends.get(change.sourceId()) + 1);
      for (Map.Entry<String, Long> end : ends.entrySet()) {
        assertEquals(kafka(0, end.getValue()), version.state(end.getKey()), "version " + v);
      }
    }
    // a replayed key returns its version
    String source =
        store.readVersion(table, last).info().commit().sourceChanges().get(0).sourceId();
    SourceLock lock = store.acquireLock(table, source, "late", Duration.ofMinutes(1));
    assertEquals(
        store.history(table, 2, 1000).stream()
            .filter(info -> (source + ":25").equals(info.commit().idempotencyKey()))
            .findFirst()
            .orElseThrow()
            .version(),
        store
            .newTransaction(table)
            .withLock(lock)
            .idempotencyKey(source + ":25")
            .setSourceState(source, kafka(0, 25))
            .commit()
            .version());
  }
}
