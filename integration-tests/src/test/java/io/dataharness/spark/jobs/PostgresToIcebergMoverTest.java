package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.IntentPendingException;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.stream.LongStream;
import org.apache.iceberg.Table;
import org.apache.iceberg.spark.source.SparkTable;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Moves of old rows from a system-versioned PostgreSQL source into an Iceberg source, against a
 * real PostgreSQL server, a real Iceberg catalog and Spark: what moves, what stays, crashes at
 * every step followed by a retry, and the basement setup where the delete and the version commit
 * are one database transaction.
 */
class PostgresToIcebergMoverTest {
  private static final List<Long> OLD_IDS = List.of(1L, 2L, 3L, 4L, 5L, 6L);
  private static final List<Long> ALL_IDS = LongStream.rangeClosed(1, 9).boxed().toList();

  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();

  @AfterEach
  void removeCrash() {
    PostgresToIcebergMover.afterStep = step -> {};
  }

  /** A harness table with a jdbc source 'warm' (9 rows, ids 1-6 two hours old) and 'cold'. */
  private final class Fixture {
    final String catalogName;
    final String suffix = UUID.randomUUID().toString().substring(0, 8);
    final String namespace = "moves_" + suffix;
    final String pgTable = "rows_" + suffix;
    final String icebergNamespace = "lake_moves_" + suffix;
    final TableIdentifier identifier = TableIdentifier.of(namespace, "events");
    final String table;

    Fixture(String catalogName) throws Exception {
      this(catalogName, true);
    }

    Fixture(String catalogName, boolean orderingColumn) throws Exception {
      this.catalogName = catalogName;
      this.table = catalogName + "." + namespace + ".events";
      execute(
          "CREATE TABLE public."
              + pgTable
              + " (id bigint PRIMARY KEY, message text, updated_at timestamptz NOT NULL)",
          "INSERT INTO public."
              + pgTable
              + " SELECT g, 'old ' || g, now() - interval '2 hours' FROM generate_series(1, 6) g",
          "INSERT INTO public."
              + pgTable
              + " SELECT g, 'new ' || g, now() FROM generate_series(7, 9) g");
      spark.sql("CREATE NAMESPACE " + catalogName + "." + namespace);
      spark.sql(
          "CREATE TABLE "
              + table
              + " (id BIGINT NOT NULL, message STRING, updated_at TIMESTAMP NOT NULL)"
              + " TBLPROPERTIES ('source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
              + " 'source.warm.table' = 'public."
              + pgTable
              + "', 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
              + " 'source.cold.table' = '"
              + icebergNamespace
              + ".events', 'primary-key' = 'id'"
              + (orderingColumn ? ", 'ordering-column' = 'updated_at'" : "")
              + ")");
    }

    HarnessCatalog catalog() {
      return (HarnessCatalog)
          ((org.apache.spark.sql.classic.SparkSession) spark)
              .sessionState()
              .catalogManager()
              .catalog(catalogName);
    }

    MoveResult moveOlderThanAnHour() {
      return PostgresToIcebergMover.move(
          spark,
          catalog(),
          new MoveRequest(
              identifier,
              "warm",
              "cold",
              OptionalLong.empty(),
              Optional.of(Duration.ofHours(1)),
              "mover-test"));
    }

    List<Long> unionIds(String versionClause) {
      return ids("SELECT id FROM " + table + versionClause);
    }

    List<Long> postgresIds() throws Exception {
      List<Long> ids = new ArrayList<>();
      try (Connection connection = testingSpark.sourceDatabase().connect();
          Statement statement = connection.createStatement();
          ResultSet rows =
              statement.executeQuery("SELECT id FROM public." + pgTable + " ORDER BY id")) {
        while (rows.next()) {
          ids.add(rows.getLong(1));
        }
      }
      return ids;
    }

    /** The rows PostgreSQL records as deleted by the move of {@code intentId}, or -1. */
    long recordedDelete(String intentId) throws Exception {
      try (Connection connection = testingSpark.sourceDatabase().connect();
          Statement statement = connection.createStatement();
          ResultSet rows =
              statement.executeQuery(
                  "SELECT rows FROM public.harness_moves WHERE intent_id = '" + intentId + "'")) {
        return rows.next() ? rows.getLong(1) : -1;
      }
    }

    long historyRows() throws Exception {
      try (Connection connection = testingSpark.sourceDatabase().connect();
          Statement statement = connection.createStatement();
          ResultSet rows =
              statement.executeQuery(
                  "SELECT count(*) FROM public." + pgTable + "_harness_history")) {
        rows.next();
        return rows.getLong(1);
      }
    }

    /** The Iceberg table of source 'cold', for Spark SQL. */
    String lakeTable() {
      return TestingIceberg.CATALOG_NAME + "." + icebergNamespace + ".events";
    }

    /** Records Iceberg's main in a new version (as a Kafka to Iceberg move would). */
    void recordIcebergMain() throws Exception {
      Table iceberg = iceberg();
      iceberg.refresh();
      TableVersion latest = latest();
      catalog()
          .store()
          .newTransaction(identifier)
          .operation("append")
          .setSourceState(
              "cold",
              latest.state("cold"),
              SourceState.Iceberg.of(iceberg.currentSnapshot().snapshotId()))
          .commit();
    }

    /** Every row of the union as [id,_source,message], by id and message. */
    List<String> images(String versionClause) {
      return spark
          .sql(
              "SELECT id, _source, message FROM " + table + versionClause + " ORDER BY id, message")
          .collectAsList()
          .stream()
          .map(Row::toString)
          .toList();
    }

    /** What a plain Iceberg reader sees (main). */
    List<Long> icebergIds() {
      return ids(
          "SELECT id FROM " + TestingIceberg.CATALOG_NAME + "." + icebergNamespace + ".events");
    }

    Table iceberg() throws Exception {
      return ((SparkTable)
              ((org.apache.spark.sql.connector.catalog.TableCatalog)
                      ((org.apache.spark.sql.classic.SparkSession) spark)
                          .sessionState()
                          .catalogManager()
                          .catalog(TestingIceberg.CATALOG_NAME))
                  .loadTable(Identifier.of(new String[] {icebergNamespace}, "events")))
          .table();
    }

    long stagedSnapshots() throws Exception {
      Table iceberg = iceberg();
      iceberg.refresh();
      long staged = 0;
      for (org.apache.iceberg.Snapshot snapshot : iceberg.snapshots()) {
        if (snapshot.summary().containsKey("harness.idempotency-key")) {
          staged++;
        }
      }
      return staged;
    }

    void assertNoVersionShowsAKeyTwice() {
      for (long version = 1; version <= currentVersion(); version++) {
        List<Long> ids = unionIds(" VERSION AS OF " + version);
        assertEquals(
            ids.stream().distinct().toList(), ids, "version " + version + " shows a key twice");
      }
    }

    long currentVersion() {
      return catalog().store().loadTable(identifier).currentVersion();
    }

    TableVersion latest() {
      return catalog().store().readLatest(identifier);
    }

    /** Checks the end state of one finished move of ids 1-6 (and nothing else). */
    void assertMovedExactlyOnce() throws Exception {
      assertEquals(List.of(7L, 8L, 9L), postgresIds());
      assertEquals(OLD_IDS, icebergIds());
      assertEquals(ALL_IDS, unionIds(""));
      assertEquals(ALL_IDS, unionIds(" VERSION AS OF 1"));
      long snapshot = ((SourceState.Iceberg) latest().state("cold")).snapshotId().orElseThrow();
      Table iceberg = iceberg();
      iceberg.refresh();
      assertEquals(snapshot, iceberg.currentSnapshot().snapshotId());
      assertTrue(
          iceberg.refs().values().stream()
              .anyMatch(ref -> ref.isTag() && ref.snapshotId() == snapshot),
          "the published snapshot is tagged: " + iceberg.refs());
    }
  }

  /** As the application, when the move reaches {@code step}: row 3 changes, row 5 is deleted. */
  private void changeRowsThreeAndFiveAt(PostgresToIcebergMover.Step step, Fixture fixture) {
    PostgresToIcebergMover.afterStep =
        reached -> {
          if (reached == step) {
            try {
              execute(
                  "UPDATE public." + fixture.pgTable + " SET message = 'changed 3' WHERE id = 3",
                  "DELETE FROM public." + fixture.pgTable + " WHERE id = 5");
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
          }
        };
  }

  private void execute(String... statements) throws Exception {
    execute(testingSpark.sourceDatabase(), statements);
  }

  private static void execute(TestingDatabase database, String... statements) throws Exception {
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }

  private List<Long> ids(String sql) {
    return spark.sql(sql + " ORDER BY id").collectAsList().stream()
        .map(row -> row.getLong(0))
        .toList();
  }

  @Test
  void oldRowsLeavePostgresAndAppearInIcebergWhileEveryIdIsReadExactlyOnce() throws Exception {
    Fixture fixture = new Fixture("harness");
    assertEquals(ALL_IDS, fixture.unionIds(""));

    MoveResult result = fixture.moveOlderThanAnHour();

    // version 2 records the move as pending before the delete, version 3 records the move
    assertEquals(3, result.version());
    assertEquals(6, result.rowsMoved());
    assertFalse(result.replayed());
    fixture.assertMovedExactlyOnce();
    TableVersion version = fixture.latest();
    assertEquals("move", version.commit().operation());
    assertEquals(
        "intent",
        fixture.catalog().store().readVersion(fixture.identifier, 2).commit().operation());
    assertTrue(PendingMoves.find(version, "warm").isEmpty());
    assertEquals("6", version.commit().summary().get("rows-moved"));
    assertEquals("false", version.commit().summary().get("basement"));
    assertTrue(
        ((SourceState.Jdbc) version.state("warm"))
            .readTimestamp()
            .isAfter(
                ((SourceState.Jdbc)
                        fixture.catalog().store().readVersion(fixture.identifier, 1).state("warm"))
                    .readTimestamp()));
    List<Row> moved =
        spark
            .sql("SELECT id, message FROM " + fixture.table + " WHERE _source = 'cold' AND id = 3")
            .collectAsList();
    assertEquals("[3,old 3]", moved.get(0).toString());
  }

  @Test
  void aRowUpdatedOrDeletedAfterTheReadTimestampIsNeitherDuplicatedNorBroughtBack()
      throws Exception {
    Fixture fixture = new Fixture("harness");
    // after version 1's read timestamp: row 2 changes, row 4 is deleted by the application
    execute(
        "UPDATE public."
            + fixture.pgTable
            + " SET message = 'changed', updated_at = now() WHERE"
            + " id = 2",
        "DELETE FROM public." + fixture.pgTable + " WHERE id = 4");

    MoveResult result = fixture.moveOlderThanAnHour();

    // row 2 is young now and stays; row 4 is gone: what the delete removed is what moved
    assertEquals(4, result.rowsMoved());
    assertEquals("4", result.summary().get("rows-deleted"));
    assertEquals(List.of(2L, 7L, 8L, 9L), fixture.postgresIds());
    assertEquals(List.of(1L, 3L, 5L, 6L), fixture.icebergIds());
    List<String> images =
        spark
            .sql(
                "SELECT _source, message FROM "
                    + fixture.table
                    + " WHERE id = 2 ORDER BY updated_at DESC")
            .collectAsList()
            .stream()
            .map(Row::toString)
            .toList();
    assertEquals(List.of("[warm,changed]"), images);
    // version 1 still reads exactly the rows it had
    assertEquals(ALL_IDS, fixture.unionIds(" VERSION AS OF 1"));
  }

  /**
   * Iceberg may already hold images of a key (from a Kafka source, several per key): the ordering
   * column decides which single image of the key remains after the move, whichever source it came
   * from.
   */
  @Test
  void theOrderingColumnDecidesWhichImageOfAKeyRemainsAndEachKeyKeepsOneImage() throws Exception {
    Fixture fixture = new Fixture("harness");
    // images that came from Kafka: id 1 twice, both older than PostgreSQL's; id 2 newer than
    // PostgreSQL's; id 3 once older and once newer
    spark.sql(
        "INSERT INTO "
            + fixture.lakeTable()
            + " VALUES (1, 'kafka 1a', current_timestamp() - INTERVAL 4 HOURS),"
            + " (1, 'kafka 1b', current_timestamp() - INTERVAL 3 HOURS),"
            + " (2, 'kafka 2 newer', current_timestamp() - INTERVAL 30 MINUTES),"
            + " (3, 'kafka 3 older', current_timestamp() - INTERVAL 3 HOURS),"
            + " (3, 'kafka 3 newer', current_timestamp() - INTERVAL 90 MINUTES)");
    fixture.recordIcebergMain();

    MoveResult result = fixture.moveOlderThanAnHour();

    assertEquals(6, result.rowsMoved());
    assertEquals(
        List.of(
            "[1,cold,old 1]",
            "[2,cold,kafka 2 newer]",
            "[3,cold,kafka 3 newer]",
            "[4,cold,old 4]",
            "[5,cold,old 5]",
            "[6,cold,old 6]",
            "[7,warm,new 7]",
            "[8,warm,new 8]",
            "[9,warm,new 9]"),
        fixture.images(""));
    // Iceberg on its own holds one image per key too
    assertEquals(OLD_IDS, fixture.icebergIds());
    assertEquals(List.of(7L, 8L, 9L), fixture.postgresIds());
  }

  /**
   * Without an ordering column the moved PostgreSQL image replaces every Iceberg image of its key.
   */
  @Test
  void withoutAnOrderingColumnTheMovedImageIsTheOneThatRemains() throws Exception {
    Fixture fixture = new Fixture("harness", false);
    spark.sql(
        "INSERT INTO "
            + fixture.lakeTable()
            + " VALUES (1, 'kafka 1a', current_timestamp()),"
            + " (1, 'kafka 1b', current_timestamp() + INTERVAL 1 HOUR),"
            + " (8, 'kafka 8', current_timestamp())");
    fixture.recordIcebergMain();

    MoveResult result =
        PostgresToIcebergMover.move(
            spark,
            fixture.catalog(),
            new MoveRequest(
                fixture.identifier,
                "warm",
                "cold",
                OptionalLong.of(6),
                Optional.empty(),
                "mover-test"));

    assertEquals(6, result.rowsMoved());
    assertEquals(
        List.of(
            "[1,cold,old 1]",
            "[2,cold,old 2]",
            "[3,cold,old 3]",
            "[4,cold,old 4]",
            "[5,cold,old 5]",
            "[6,cold,old 6]",
            "[7,warm,new 7]",
            "[8,cold,kafka 8]",
            "[8,warm,new 8]",
            "[9,warm,new 9]"),
        fixture.images(""));
  }

  /**
   * The application keeps changing PostgreSQL rows before and while the move runs: whatever the
   * move deletes from PostgreSQL is what reaches Iceberg, with its newest image; a row the
   * application deleted stays deleted, and no version shows a key twice.
   */
  @Test
  void applicationChangesBeforeAndDuringTheMoveAreNeitherDuplicatedNorReverted() throws Exception {
    Fixture fixture = new Fixture("harness");
    // after version 1's read timestamp: row 2 gets a new (young) image, row 4 is deleted
    execute(
        "UPDATE public."
            + fixture.pgTable
            + " SET message = 'changed 2', updated_at = now()"
            + " WHERE id = 2",
        "DELETE FROM public." + fixture.pgTable + " WHERE id = 4");
    // while the move runs, after it recorded its intent: row 3 gets a new image that is still
    // old enough to move, row 5 is deleted
    changeRowsThreeAndFiveAt(PostgresToIcebergMover.Step.INTENT_COMMIT, fixture);

    MoveResult result = fixture.moveOlderThanAnHour();

    assertEquals(3, result.rowsMoved());
    assertEquals(List.of(2L, 7L, 8L, 9L), fixture.postgresIds());
    assertEquals(List.of(1L, 3L, 6L), fixture.icebergIds());
    assertEquals(
        List.of(
            "[1,cold,old 1]",
            "[2,warm,changed 2]",
            "[3,cold,changed 3]",
            "[6,cold,old 6]",
            "[7,warm,new 7]",
            "[8,warm,new 8]",
            "[9,warm,new 9]"),
        fixture.images(""));
    fixture.assertNoVersionShowsAKeyTwice();
  }

  /**
   * Outside the basement the delete runs while Spark stages the batch from the delete's snapshot.
   * The application changes a batch row and deletes another in between: the delete then fails (the
   * snapshot no longer shows the row's newest image), and the move deletes again and stages what
   * that delete removed, so the changed row moves with its new image and the deleted one not at
   * all.
   */
  @Test
  void aBatchRowChangedWhileTheMoveStagesItMovesWithItsNewImage() throws Exception {
    Fixture fixture = new Fixture("harness");
    changeRowsThreeAndFiveAt(PostgresToIcebergMover.Step.BATCH_SNAPSHOT, fixture);

    MoveResult result = fixture.moveOlderThanAnHour();

    assertEquals(5, result.rowsMoved());
    assertEquals(List.of(7L, 8L, 9L), fixture.postgresIds());
    assertEquals(List.of(1L, 2L, 3L, 4L, 6L), fixture.icebergIds());
    assertTrue(
        fixture.images("").contains("[3,cold,changed 3]"), String.valueOf(fixture.images("")));
    fixture.assertNoVersionShowsAKeyTwice();
  }

  /**
   * A run that dies while Spark stages the batch, before its delete commits, leaves no delete: the
   * rerun deletes and stages again (never reusing the dead run's staging), and every row moves
   * exactly once.
   */
  @Test
  void aMoveThatDiesBeforeItsDeleteCommitsIsRedoneFromTheStart() throws Exception {
    Fixture fixture = new Fixture("harness");
    PostgresToIcebergMover.afterStep =
        step -> {
          if (step == PostgresToIcebergMover.Step.BATCH_SNAPSHOT) {
            throw new IllegalStateException("simulated crash after " + step);
          }
        };
    assertThrows(IllegalStateException.class, fixture::moveOlderThanAnHour);
    PostgresToIcebergMover.afterStep = step -> {};
    assertEquals(ALL_IDS, fixture.unionIds(""));
    assertEquals(ALL_IDS, fixture.postgresIds()); // the delete rolled back

    MoveResult retried = fixture.moveOlderThanAnHour();

    assertEquals(3, retried.version());
    assertEquals(6, retried.rowsMoved());
    fixture.assertMovedExactlyOnce();
  }

  /**
   * A later batch whose keys no Iceberg data file can hold (Iceberg's column bounds say so) is
   * inserted rather than merged; one whose keys Iceberg may hold is merged: both end with one image
   * per key.
   */
  @Test
  void laterBatchesAreInsertedOrMergedAsTheirKeysRequire() throws Exception {
    Fixture fixture = new Fixture("harness");
    assertEquals(6, fixture.moveOlderThanAnHour().rowsMoved());
    // new keys beyond Iceberg's, and key 2 again (an application re-inserted it)
    execute(
        "INSERT INTO public."
            + fixture.pgTable
            + " SELECT g, 'later ' || g, now() - interval '2 hours' FROM generate_series(10, 12) g");
    assertEquals(3, fixture.moveOlderThanAnHour().rowsMoved());
    execute(
        "INSERT INTO public."
            + fixture.pgTable
            + " VALUES (2, 'again 2', now() - interval '90 minutes')");
    assertEquals(1, fixture.moveOlderThanAnHour().rowsMoved());

    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 10L, 11L, 12L), fixture.icebergIds());
    assertTrue(fixture.images("").contains("[2,cold,again 2]"), String.valueOf(fixture.images("")));
    assertTrue(
        fixture.images("").contains("[11,cold,later 11]"), String.valueOf(fixture.images("")));
    fixture.assertNoVersionShowsAKeyTwice();
  }

  @ParameterizedTest
  @EnumSource(
      value = PostgresToIcebergMover.Step.class,
      names = {"STAGED_WRITE", "INTENT_COMMIT", "SOURCE_DELETE", "HARNESS_COMMIT"})
  void aMoveRetriedAfterACrashMovesEveryRowExactlyOnce(PostgresToIcebergMover.Step crashAfter)
      throws Exception {
    Fixture fixture = new Fixture("harness");
    PostgresToIcebergMover.afterStep =
        step -> {
          if (step == crashAfter) {
            throw new IllegalStateException("simulated crash after " + step);
          }
        };
    IllegalStateException crash =
        assertThrows(IllegalStateException.class, fixture::moveOlderThanAnHour);
    assertTrue(crash.getMessage().contains(crashAfter.name()), crash.getMessage());
    PostgresToIcebergMover.afterStep = step -> {};

    // whatever the crash left, readers of the latest version see every id exactly once
    assertEquals(ALL_IDS, fixture.unionIds(""));
    assertEquals(
        switch (crashAfter) {
          case HARNESS_COMMIT -> 3;
          default -> 2; // the intent is recorded
        },
        fixture.currentVersion());
    // nothing is visible to plain Iceberg readers before the harness commit is published
    assertEquals(List.of(), fixture.icebergIds());

    MoveResult retried = fixture.moveOlderThanAnHour();

    assertEquals(3, retried.version());
    assertEquals(6, retried.rowsMoved());
    assertEquals(crashAfter == PostgresToIcebergMover.Step.HARNESS_COMMIT, retried.replayed());
    assertEquals(3, fixture.currentVersion());
    assertTrue(PendingMoves.find(fixture.latest(), "warm").isEmpty());
    fixture.assertMovedExactlyOnce();
    // the retry reused the staged snapshot: no orphaned copy of the batch was written
    assertEquals(1, fixture.stagedSnapshots());
  }

  @Test
  void runningAFinishedMoveAgainMovesNothingAndCommitsNothing() throws Exception {
    Fixture fixture = new Fixture("harness");
    MoveResult first = fixture.moveOlderThanAnHour();
    MoveResult again = fixture.moveOlderThanAnHour();

    assertEquals(first.version(), again.version());
    assertEquals(0, again.rowsMoved());
    assertEquals(3, fixture.currentVersion());
    fixture.assertMovedExactlyOnce();
    assertEquals(1, fixture.stagedSnapshots());
  }

  // ---- a crash after the delete: the pending move holds the source until a retry completes it
  // ----

  /** Runs the move and crashes it right after its PostgreSQL delete committed. */
  private static void crashAfterTheDelete(Fixture fixture) {
    PostgresToIcebergMover.afterStep =
        step -> {
          if (step == PostgresToIcebergMover.Step.SOURCE_DELETE) {
            throw new IllegalStateException("simulated crash after " + step);
          }
        };
    assertThrows(IllegalStateException.class, fixture::moveOlderThanAnHour);
    PostgresToIcebergMover.afterStep = step -> {};
  }

  @Test
  void aMoveThatCrashedAfterItsDeleteHoldsTheSourceUntilARetryCompletesIt() throws Exception {
    Fixture fixture = new Fixture("harness");
    HarnessStore store = fixture.catalog().store();
    crashAfterTheDelete(fixture);

    // the rows left PostgreSQL; version 2 records the move as pending and moves no read timestamp
    assertEquals(List.of(7L, 8L, 9L), fixture.postgresIds());
    TableVersion intent = fixture.latest();
    assertEquals(2, intent.version());
    assertEquals("intent", intent.commit().operation());
    assertEquals(store.readVersion(fixture.identifier, 1).sourceStates(), intent.sourceStates());
    assertEquals(1, intent.openIntents().size(), intent.openIntents().toString());
    PendingMoves.PendingMove move = PendingMoves.find(intent, "warm").orElseThrow();
    assertEquals("cold", move.target());
    assertEquals(1, move.baseVersion());
    assertEquals(((SourceState.Jdbc) intent.state("warm")).readTimestamp(), move.readTimestamp());
    // PostgreSQL records the committed delete of the move's intent
    assertEquals(6, fixture.recordedDelete(move.intentId()));
    List<String> versions =
        spark
            .sql(
                "SELECT version, operation, summary['intent'] FROM "
                    + fixture.table
                    + ".versions ORDER BY version")
            .collectAsList()
            .stream()
            .map(Row::toString)
            .toList();
    assertEquals(
        List.of("[1,create,null]", "[2,intent," + intent.openIntents().get(0).id() + "]"),
        versions);
    // readers still see every id once: the read timestamp is before the delete
    assertEquals(ALL_IDS, fixture.unionIds(""));

    // a writer that would advance the read timestamp (a sync job) checks first and is refused
    SourceLock lock =
        store.acquireLock(fixture.identifier, "warm", "competing-sync", Duration.ofMinutes(1));
    try {
      TableVersion latest = store.readLatest(fixture.identifier);
      // the store refuses it even if the writer does not check first
      IntentPendingException refused =
          assertThrows(
              IntentPendingException.class,
              () ->
                  store
                      .newTransaction(fixture.identifier)
                      .operation("sync")
                      .withLock(lock)
                      .setSourceState("warm", new SourceState.Jdbc(Instant.now()))
                      .commit());
      assertTrue(
          refused.getMessage().contains(intent.openIntents().get(0).id()), refused.getMessage());
      // a writer that checks first learns how to complete the move before it writes anything
      CommitConflictException checked =
          assertThrows(
              CommitConflictException.class,
              () -> PendingMoves.refuseIfPending(latest, "warm", "advance the read timestamp of"));
      assertTrue(
          checked
              .getMessage()
              .contains(
                  "run the move job again to complete it: CALL harness.system.move(table => '"
                      + fixture.identifier
                      + "', source => 'warm', target => 'cold')"),
          checked.getMessage());
      // the target is held too: a write there would leave the staged snapshot off main
      CommitConflictException target =
          assertThrows(
              CommitConflictException.class,
              () -> PendingMoves.refuseIfPending(latest, "cold", "append to"));
      assertTrue(
          target.getMessage().contains(intent.openIntents().get(0).id()), target.getMessage());
    } finally {
      store.releaseLock(lock);
    }
    assertEquals(2, fixture.currentVersion());
    // writers of other sources go on (here one recording external state, as a Kafka consumer does)
    store
        .newTransaction(fixture.identifier)
        .operation("offsets")
        .setExternalState("consumer.offsets", "{\"0\": 42}")
        .commit();
    assertEquals(3, fixture.currentVersion());

    // the retry needs no bounds: it completes the recorded batch, not a new one
    MoveResult completed =
        PostgresToIcebergMover.move(
            spark,
            fixture.catalog(),
            new MoveRequest(
                fixture.identifier,
                "warm",
                "cold",
                OptionalLong.empty(),
                Optional.empty(),
                "retry"));

    assertEquals(4, completed.version());
    assertEquals(6, completed.rowsMoved());
    assertFalse(completed.replayed());
    assertEquals("1", completed.summary().get("resumed-from-version"));
    assertEquals("6", completed.summary().get("rows-deleted"));
    TableVersion done = fixture.latest();
    assertEquals("move", done.commit().operation());
    assertEquals(move.idempotencyKey(), done.commit().idempotencyKey());
    assertTrue(done.openIntents().isEmpty(), done.openIntents().toString());
    assertEquals("{\"0\": 42}", done.externalState().get("consumer.offsets"));
    assertTrue(PendingMoves.find(done, "warm").isEmpty());
    PendingMoves.refuseIfPending(done, "warm", "advance the read timestamp of");
    fixture.assertMovedExactlyOnce();
    for (long version = 1; version <= 4; version++) {
      assertEquals(ALL_IDS, fixture.unionIds(" VERSION AS OF " + version), "version " + version);
    }
    assertEquals(1, fixture.stagedSnapshots());
    // and a further run starts a new batch (there is nothing older than an hour left)
    assertEquals(0, fixture.moveOlderThanAnHour().rowsMoved());
    assertEquals(4, fixture.currentVersion());
  }

  /**
   * The store enforces the pending move: a writer using the plain Java API that would advance the
   * source's read timestamp (and so lose the moved rows from the union) is refused, naming the
   * intent, and the retry of the move completes it.
   */
  @Test
  void aRawCommitIsRefusedByTheStoreUntilTheRetryCompletesTheMove() throws Exception {
    Fixture fixture = new Fixture("harness");
    HarnessStore store = fixture.catalog().store();
    crashAfterTheDelete(fixture);
    String intentId = fixture.latest().openIntents().get(0).id();

    Instant now;
    try (Connection connection = testingSpark.sourceDatabase().connect();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT clock_timestamp()")) {
      rows.next();
      now = rows.getTimestamp(1).toInstant();
    }
    SourceLock lock =
        store.acquireLock(fixture.identifier, "warm", "raw-writer", Duration.ofMinutes(1));
    try {
      IntentPendingException refused =
          assertThrows(
              IntentPendingException.class,
              () ->
                  store
                      .newTransaction(fixture.identifier)
                      .operation("sync")
                      .withLock(lock)
                      .setSourceState("warm", new SourceState.Jdbc(now))
                      .commit());
      assertTrue(refused.getMessage().contains(intentId), refused.getMessage());
    } finally {
      store.releaseLock(lock);
    }
    assertEquals(2, fixture.currentVersion());
    for (long version = 1; version <= 2; version++) {
      assertEquals(ALL_IDS, fixture.unionIds(" VERSION AS OF " + version), "version " + version);
    }

    MoveResult completed = fixture.moveOlderThanAnHour();

    assertEquals(3, completed.version());
    assertEquals(6, completed.rowsMoved());
    fixture.assertMovedExactlyOnce();
    assertTrue(PendingMoves.find(fixture.latest(), "warm").isEmpty());
    assertFalse(((SourceState.Jdbc) fixture.latest().state("warm")).readTimestamp().isBefore(now));
  }

  // ---- basement: the metadata in the source's database ----

  private String basementCatalog() {
    String name = "basement";
    TestingDatabase database = testingSpark.sourceDatabase();
    String prefix = "spark.sql.catalog." + name;
    spark.conf().set(prefix, "io.dataharness.spark.HarnessCatalog");
    spark.conf().set(prefix + ".uri", database.jdbcUrl());
    spark.conf().set(prefix + ".user", database.user());
    spark.conf().set(prefix + ".password", database.password());
    spark.conf().set(prefix + ".connection.pg.kind", "jdbc");
    spark.conf().set(prefix + ".connection.pg.url", database.jdbcUrl());
    spark.conf().set(prefix + ".connection.pg.user", database.user());
    spark.conf().set(prefix + ".connection.pg.password", database.password());
    spark.conf().set(prefix + ".connection.lake.kind", "iceberg");
    spark.conf().set(prefix + ".connection.lake.spark-catalog", TestingIceberg.CATALOG_NAME);
    return name;
  }

  @Test
  void inTheBasementTheDeleteAndTheVersionCommitInOneDatabaseTransaction() throws Exception {
    Fixture fixture = new Fixture(basementCatalog());

    MoveResult result = fixture.moveOlderThanAnHour();

    // version 2 is the intent, committed with the delete; version 3 the move
    assertEquals(3, result.version());
    assertEquals(6, result.rowsMoved());
    assertEquals("true", fixture.latest().commit().summary().get("basement"));
    fixture.assertMovedExactlyOnce();
  }

  @ParameterizedTest
  @EnumSource(
      value = PostgresToIcebergMover.Step.class,
      names = {"SOURCE_DELETE", "HARNESS_COMMIT_WRITTEN"})
  void inTheBasementAFailureBetweenDeleteAndCommitLandsNeither(
      PostgresToIcebergMover.Step failAfter) throws Exception {
    Fixture fixture = new Fixture(basementCatalog());
    PostgresToIcebergMover.afterStep =
        step -> {
          if (step == failAfter) {
            throw new IllegalStateException("simulated failure after " + step);
          }
        };
    assertThrows(IllegalStateException.class, fixture::moveOlderThanAnHour);
    PostgresToIcebergMover.afterStep = step -> {};

    assertEquals(ALL_IDS, fixture.postgresIds());
    assertEquals(0, fixture.historyRows());
    assertEquals(1, fixture.currentVersion());
    assertEquals(ALL_IDS, fixture.unionIds(""));
    assertEquals(List.of(), fixture.icebergIds());

    MoveResult retried = fixture.moveOlderThanAnHour();
    assertEquals(3, retried.version());
    assertEquals(6, retried.rowsMoved());
    fixture.assertMovedExactlyOnce();
  }
}
