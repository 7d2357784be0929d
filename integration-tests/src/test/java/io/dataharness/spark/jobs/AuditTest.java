package io.dataharness.spark.jobs;

import static io.dataharness.spark.jobs.TestSql.postgres;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.SourceState;
import io.dataharness.spark.write.IcebergStaging;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * The auditor ({@code CALL harness.system.audit} and {@link AuditJob}) on real services: a healthy
 * table after every kind of move audits clean; each kind of violation, planted through the Java API
 * and direct Iceberg and PostgreSQL changes, is named with the versions involved.
 */
class AuditTest {
  private static final String PRIMARY_KEY = ", 'primary-key' = 'id', 'ordering-column' = 'version'";

  @Test
  void aHealthyTableAfterMovesAuditsClean() throws Exception {
    MoveFixture fixture = new MoveFixture(2, PRIMARY_KEY);
    fixture.produce(0, 40);
    sync(fixture);
    assertEquals(20, fixture.move("hot", "cold", 20L).rowsMoved()); // ids 0-19 to Iceberg
    assertEquals(20, fixture.move("hot", "warm", null).rowsMoved()); // ids 20-39 to PostgreSQL
    fixture.produce(40, 60);
    sync(fixture);
    fixture.move("hot", "cold", null); // ids 40-59 to Iceberg
    // the application updates a PostgreSQL row (a history image), then old rows move to Iceberg
    postgres("UPDATE " + fixture.pgTable + " SET message = 'edited' WHERE id = 35");
    sync(fixture);
    MoveResult cold = fixture.move("warm", "cold", 10L);
    assertEquals(10, cold.rowsMoved());
    assertEquals(MoveFixture.range(0, 60), fixture.ids());

    assertEquals(List.of(), audit(fixture, null));

    // the job: the same result as one JSON object on the last line of stdout
    JsonNode result = runJob("--table", fixture.table.toString());
    assertEquals(fixture.table.toString(), result.get("table").asText());
    assertEquals(cold.version(), result.get("latest_version").asLong());
    assertEquals(cold.version(), result.get("versions_checked").asLong());
    assertEquals(0, result.get("errors").asLong());
    assertEquals(0, result.get("warnings").asLong());
    assertEquals(0, result.get("violations").size());
  }

  @Test
  void aKafkaRangeGapAndMovedOffsetsStillVisibleAreNamed() {
    MoveFixture fixture = new MoveFixture(1, "");
    fixture.produce(0, 30);
    sync(fixture);
    fixture.move("hot", "cold", 10L); // offsets [0, 10) moved, start 10
    HarnessStore store = fixture.catalog().store();
    assertEquals(List.of(), audit(fixture, null));

    // a writer advances start to 20 but records only [10, 15) as moved: [15, 20) are lost
    long gap =
        store
            .newTransaction(fixture.table)
            .operation("move")
            .setSourceState("hot", store.readLatest(fixture.table).state("hot"), kafka(20, 30))
            .externalIds("hot", Map.of("offsets", "0:[10,15)"))
            .commit()
            .version();
    // a writer records [20, 25) as moved but advances start only to 22: [22, 25) stay visible
    long visible =
        store
            .newTransaction(fixture.table)
            .operation("move")
            .setSourceState("hot", store.readLatest(fixture.table).state("hot"), kafka(22, 30))
            .externalIds("hot", Map.of("offsets", "0:[20,25)"))
            .commit()
            .version();

    List<Row> rows = audit(fixture, null);
    assertEquals(
        Set.of("kafka-range-gap", "kafka-offset-visible-and-moved"), checks(rows), rows.toString());
    Row gapRow = only(rows, "kafka-range-gap");
    assertEquals("error", gapRow.getString(1));
    assertEquals("hot", gapRow.getString(2));
    assertEquals(List.of(gap - 1, gap), versions(gapRow));
    assertTrue(gapRow.getString(4).contains("[15, 20)"), gapRow.getString(4));
    Row visibleRow = only(rows, "kafka-offset-visible-and-moved");
    assertEquals(List.of(visible), versions(visibleRow));
    assertTrue(visibleRow.getString(4).contains("[22, 25)"), visibleRow.getString(4));
  }

  @Test
  void missingUntaggedAndRewoundIcebergSnapshotsAreNamed() {
    MoveFixture fixture = new MoveFixture(1, "");
    fixture.produce(0, 20);
    sync(fixture);
    MoveResult moved = fixture.move("hot", "cold", null);
    long published = snapshotOf(fixture, moved.version());
    HarnessStore store = fixture.catalog().store();
    assertEquals(List.of(), audit(fixture, null));

    // a writer commits an Iceberg snapshot it never tagged
    fixture.spark.sql("INSERT INTO " + fixture.icebergTable + " VALUES (100, 'direct', 1)");
    long untaggedSnapshot = mainSnapshot(fixture);
    long untagged = recordIceberg(store, fixture, untaggedSnapshot);
    // and a tag of that version names another snapshot
    tag(fixture, untagged, published);
    // someone rolls Iceberg back and writes on the old snapshot; a version records the result
    fixture.spark.sql(
        "CALL iceberg.system.rollback_to_snapshot('"
            + fixture.icebergTable.substring("iceberg.".length())
            + "', "
            + published
            + ")");
    fixture.spark.sql("INSERT INTO " + fixture.icebergTable + " VALUES (101, 'branched', 1)");
    long rewound = recordIceberg(store, fixture, mainSnapshot(fixture));
    tag(fixture, rewound, mainSnapshot(fixture));
    // a version records a snapshot the table does not have
    long missing = recordIceberg(store, fixture, 4242424242L);

    List<Row> rows = audit(fixture, null);
    assertEquals(
        Set.of(
            "iceberg-snapshot-untagged",
            "iceberg-tag-mismatch",
            "iceberg-snapshot-not-descendant",
            "iceberg-snapshot-missing"),
        checks(rows),
        rows.toString());
    Row untaggedRow = only(rows, "iceberg-snapshot-untagged");
    assertEquals("warning", untaggedRow.getString(1));
    assertEquals("cold", untaggedRow.getString(2));
    assertEquals(List.of(untagged), versions(untaggedRow));
    assertTrue(
        untaggedRow.getString(4).contains(String.valueOf(untaggedSnapshot)),
        untaggedRow.getString(4));
    Row mismatch = only(rows, "iceberg-tag-mismatch");
    assertEquals(List.of(untagged), versions(mismatch));
    Row rewoundRow = only(rows, "iceberg-snapshot-not-descendant");
    assertEquals("error", rewoundRow.getString(1));
    assertEquals(List.of(untagged, rewound), versions(rewoundRow));
    Row missingRow = only(rows, "iceberg-snapshot-missing");
    assertEquals(List.of(missing), versions(missingRow));
    assertTrue(missingRow.getString(4).contains("4242424242"), missingRow.getString(4));
  }

  @Test
  void overlappingHistoryImagesAndDuplicatesAcrossSourcesAreNamed() throws Exception {
    MoveFixture fixture = new MoveFixture(1, PRIMARY_KEY);
    postgres(
        "INSERT INTO "
            + fixture.pgTable
            + " (id, message, version) VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)");
    long synced = sync(fixture);
    HarnessStore store = fixture.catalog().store();
    assertEquals(List.of(), audit(fixture, null));

    // a move copies id 1 (same image) and an older image of id 2 into Iceberg and deletes both
    // from PostgreSQL, but its version keeps the read timestamp from before the delete
    fixture.spark.sql(
        "INSERT INTO " + fixture.icebergTable + " VALUES (1, 'one', 1), (2, 'two before', 1)");
    long copied = mainSnapshot(fixture);
    postgres("DELETE FROM " + fixture.pgTable + " WHERE id IN (1, 2)");
    long duplicated = recordIceberg(store, fixture, copied);
    tag(fixture, duplicated, copied);
    // the next sync advances the read timestamp past the delete: that version is clean again
    long fixed = sync(fixture);
    assertTrue(fixed > duplicated);
    // an image of id 3 written into the history table by hand overlaps its current image
    postgres(
        "INSERT INTO "
            + fixture.pgTable
            + "_harness_history (id, message, version, harness_valid_from, harness_valid_to)"
            + " VALUES (3, 'ghost', 3, now() - interval '1 hour', 'infinity')");

    List<Row> rows = audit(fixture, null);
    assertEquals(
        Set.of("duplicate-across-sources", "postgres-overlapping-images"),
        checks(rows),
        rows.toString());
    Row duplicate = only(rows, "duplicate-across-sources");
    assertEquals("error", duplicate.getString(1));
    assertEquals("warm,cold", duplicate.getString(2));
    assertEquals(List.of(duplicated), versions(duplicate));
    String detail = duplicate.getString(4);
    assertTrue(detail.startsWith("1 key has") && detail.contains("(id=1)"), detail);
    assertFalse(detail.contains("id=2"), detail);
    Row overlap = only(rows, "postgres-overlapping-images");
    assertEquals("warm", overlap.getString(2));
    assertTrue(overlap.getString(4).contains("key (id=3)"), overlap.getString(4));
    // every version from the one that read id 3 first sees both images
    List<Long> seeing = versions(overlap);
    assertEquals(synced, seeing.get(0));
    assertEquals(fixed, seeing.get(seeing.size() - 1));
  }

  @Test
  void anOpenStoreIntentOfAKilledWriterIsAnInterruptedWriter() {
    MoveFixture fixture = new MoveFixture(1, PRIMARY_KEY);
    HarnessStore store = fixture.catalog().store();
    // a writer opens a write-ahead intent under its lock...
    SourceLock lock =
        store.acquireLock(fixture.table, "warm", "killed-appender", Duration.ofMinutes(5));
    long opened =
        store
            .newTransaction(fixture.table)
            .operation("intent")
            .withLock(lock)
            .openIntent("append-1", "append", List.of("warm"), "{\"append\": \"k1\"}")
            .commit()
            .version();
    // ...and while it holds the lock it is running, whatever the intent's age
    assertEquals(List.of(), audit(fixture, "0 seconds"));
    // it is killed; an operator breaks its lock
    assertTrue(store.breakLock(fixture.table, "warm").isPresent());

    List<Row> rows = audit(fixture, "0 seconds");
    assertEquals(Set.of("interrupted-writer"), checks(rows), rows.toString());
    Row row = only(rows, "interrupted-writer");
    assertEquals("warm", row.getString(2));
    assertEquals(List.of(opened), versions(row));
    String detail = row.getString(4);
    assertTrue(detail.startsWith("Intent 'append-1' (append by 'killed-appender'"), detail);
    assertTrue(
        detail.contains("interrupted writer: rerun the append job on sources [warm]"), detail);
  }

  @Test
  void sourcesWhoseOwnRecordsAreGoneAreNamedAndTheOtherChecksStillRun() throws Exception {
    MoveFixture fixture = new MoveFixture(1, PRIMARY_KEY);
    fixture.produce(0, 10);
    long synced = sync(fixture);
    fixture.spark.sql("DROP TABLE " + fixture.icebergTable);
    postgres("DROP TABLE " + fixture.pgTable + "_harness_history");
    HarnessStore store = fixture.catalog().store();
    // and a Kafka range gap, which is still found
    long gap =
        store
            .newTransaction(fixture.table)
            .operation("move")
            .setSourceState("hot", store.readLatest(fixture.table).state("hot"), kafka(4, 10))
            .commit()
            .version();

    List<Row> rows = audit(fixture, null);
    assertEquals(Set.of("source-unavailable", "kafka-range-gap"), checks(rows), rows.toString());
    List<Row> unavailable =
        rows.stream().filter(row -> row.getString(0).equals("source-unavailable")).toList();
    assertEquals(
        Set.of("cold", "warm"),
        unavailable.stream().map(row -> row.getString(2)).collect(Collectors.toSet()),
        rows.toString());
    for (Row row : unavailable) {
      assertEquals(List.of(gap), versions(row));
      assertTrue(row.getString(4).startsWith("Cannot check source '"), row.getString(4));
    }
    assertEquals(List.of(synced, gap), versions(only(rows, "kafka-range-gap")));
  }

  // ---------------------------------------------------------------------------------------------

  private static long sync(MoveFixture fixture) {
    return fixture
        .spark
        .sql("CALL harness.system.sync(table => '" + fixture.table + "')")
        .collectAsList()
        .get(0)
        .getLong(0);
  }

  private static List<Row> audit(MoveFixture fixture, String lease) {
    return fixture
        .spark
        .sql(
            "CALL harness.system.audit(table => '"
                + fixture.table
                + "'"
                + (lease == null ? "" : ", lease => '" + lease + "'")
                + ")")
        .collectAsList();
  }

  private static Set<String> checks(List<Row> rows) {
    return rows.stream()
        .map(row -> row.getString(0))
        .collect(Collectors.toCollection(TreeSet::new));
  }

  private static Row only(List<Row> rows, String check) {
    List<Row> matching = rows.stream().filter(row -> row.getString(0).equals(check)).toList();
    assertEquals(1, matching.size(), rows.toString());
    return matching.get(0);
  }

  private static List<Long> versions(Row row) {
    return row.getList(3);
  }

  private static SourceState.Kafka kafka(long start, long end) {
    return SourceState.Kafka.of(Map.of(0, new SourceState.OffsetRange(start, end)));
  }

  private static long recordIceberg(HarnessStore store, MoveFixture fixture, long snapshotId) {
    return store
        .newTransaction(fixture.table)
        .operation("append")
        .setSourceState(
            "cold",
            store.readLatest(fixture.table).state("cold"),
            SourceState.Iceberg.of(snapshotId))
        .commit()
        .version();
  }

  private static long snapshotOf(MoveFixture fixture, long version) {
    return ((SourceState.Iceberg)
            fixture.catalog().store().readVersion(fixture.table, version).state("cold"))
        .snapshotId()
        .orElseThrow();
  }

  private static long mainSnapshot(MoveFixture fixture) {
    return fixture
        .spark
        .sql("SELECT snapshot_id FROM " + fixture.icebergTable + ".refs WHERE name = 'main'")
        .collectAsList()
        .get(0)
        .getLong(0);
  }

  private static void tag(MoveFixture fixture, long version, long snapshotId) {
    fixture.spark.sql(
        "ALTER TABLE "
            + fixture.icebergTable
            + " CREATE TAG `"
            + IcebergStaging.tagName(fixture.catalog().store().loadTable(fixture.table), version)
            + "` AS OF VERSION "
            + snapshotId);
  }

  /** Runs the job's main and returns its last stdout line, parsed. */
  private static JsonNode runJob(String... args) throws Exception {
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
      AuditJob.main(args, out);
    }
    String[] lines = captured.toString(StandardCharsets.UTF_8).strip().split("\n");
    return new ObjectMapper().readTree(lines[lines.length - 1]);
  }
}
