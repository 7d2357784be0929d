package io.dataharness.spark.jobs;

import static io.dataharness.spark.jobs.TestSql.postgres;
import static io.dataharness.spark.jobs.TestSql.postgresCount;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.write.IcebergStaging;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.iceberg.Table;
import org.apache.iceberg.spark.Spark3Util;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * {@code expire_versions} on real services: it removes the versions outside the retention and what
 * only they held (Iceberg tags, PostgreSQL history), every kept version reads the same rows (even
 * after Iceberg's own snapshot expiry), reads of removed versions fail naming the retention, a
 * rerun removes nothing, and it is safe while a mover runs.
 */
class ExpireVersionsTest {
  private static final String KEYED = ", 'primary-key' = 'id', 'ordering-column' = 'version'";

  /** Every version's rows, by version. */
  private static Map<Long, List<String>> everyVersion(MoveFixture fixture, long from, long to) {
    Map<Long, List<String>> rows = new TreeMap<>();
    for (long version = from; version <= to; version++) {
      rows.put(
          version,
          fixture.rows("SELECT * FROM " + fixture.qualified + " VERSION AS OF " + version));
    }
    return rows;
  }

  /** A TIMESTAMP literal for {@code instant} in the session time zone. */
  private static String timestampLiteral(MoveFixture fixture, Instant instant) {
    ZoneId zone = ZoneId.of(fixture.spark.conf().get("spark.sql.session.timeZone"));
    return "TIMESTAMP '"
        + DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(zone).format(instant)
        + "'";
  }

  @Test
  void expiryRemovesWhatOnlyOldVersionsHeldAndEveryKeptVersionReadsTheSame() throws Exception {
    MoveFixture fixture = new MoveFixture(1, KEYED);
    fixture.produce(0, 30);
    fixture.move("hot", "cold", 10L); // Iceberg snapshot 1
    fixture.move("hot", "warm", null); // ids 10-29 to PostgreSQL
    postgres("UPDATE " + fixture.pgTable + " SET message = 'edited' WHERE id = 12");
    fixture.sync();
    fixture.move("warm", "cold", 5L); // Iceberg snapshot 2; 5 history images of moved rows
    postgres("UPDATE " + fixture.pgTable + " SET message = 'again' WHERE id = 20");
    fixture.sync();
    fixture.produce(30, 40);
    fixture.move("hot", "cold", null); // Iceberg snapshot 3
    HarnessStore store = fixture.catalog().store();
    long latest = store.readLatest(fixture.table).version();
    Map<Long, List<String>> before = everyVersion(fixture, 1, latest);
    String history = fixture.pgTable + "_harness_history";
    long historyBefore = postgresCount("SELECT count(*) FROM " + history);
    assertTrue(historyBefore >= 7, "history images: " + historyBefore);

    // keep the last 2 versions: the cut-off is in the future, so retain_last decides
    List<Row> result =
        fixture
            .spark
            .sql(
                "CALL harness.system.expire_versions(table => '"
                    + fixture.table
                    + "', older_than => "
                    + timestampLiteral(fixture, Instant.now().plusSeconds(120))
                    + ", retain_last => 2)")
            .collectAsList();
    long oldest = latest - 1;
    Row row = result.get(0);
    assertEquals(oldest, row.getLong(0), row.toString());
    assertEquals(oldest - 1, row.getLong(1), row.toString());
    assertTrue(row.getInt(3) >= 2, "tags removed: " + row);
    assertTrue(row.getLong(4) > 0, "history rows removed: " + row);
    assertEquals(List.of(), row.getList(5), row.toString());
    assertEquals(oldest, store.loadTable(fixture.table).oldestVersion());

    // every kept version reads the same rows; removed ones fail naming the retention
    assertEquals(
        Map.of(oldest, before.get(oldest), latest, before.get(latest)),
        everyVersion(fixture, oldest, latest));
    for (long version = 1; version < oldest; version++) {
      long removed = version;
      Throwable error =
          assertThrows(
              Exception.class,
              () ->
                  fixture
                      .spark
                      .sql("SELECT * FROM " + fixture.qualified + " VERSION AS OF " + removed)
                      .collect());
      assertTrue(String.valueOf(error.getMessage()).contains("it was expired"), error.toString());
      assertTrue(String.valueOf(error.getMessage()).contains("retain_last => 2"), error.toString());
    }
    assertEquals(
        List.of(oldest, latest),
        fixture.ids("SELECT version FROM " + fixture.qualified + ".versions"));
    assertTrue(
        postgresCount("SELECT count(*) FROM " + history) < historyBefore,
        "history images are released");

    // the only harness tag left on Iceberg is the oldest kept version's, on its snapshot, so
    // Iceberg's own snapshot expiry keeps exactly what kept versions read
    Table iceberg = Spark3Util.loadIcebergTable(fixture.spark, fixture.icebergTable);
    iceberg.refresh();
    String prefix = IcebergStaging.tagPrefix(store.loadTable(fixture.table));
    Set<String> harnessTags = new HashSet<>();
    iceberg
        .refs()
        .forEach(
            (name, ref) -> {
              if (name.startsWith(prefix)) {
                harnessTags.add(name);
              }
            });
    long snapshotOfOldest =
        ((SourceState.Iceberg) store.readVersion(fixture.table, oldest).state("cold"))
            .snapshotId()
            .getAsLong();
    assertTrue(harnessTags.contains(prefix + oldest), harnessTags.toString());
    assertEquals(snapshotOfOldest, iceberg.refs().get(prefix + oldest).snapshotId());
    harnessTags.forEach(
        tag -> assertTrue(Long.parseLong(tag.substring(prefix.length())) >= oldest, tag));
    fixture
        .spark
        .sql(
            "CALL iceberg.system.expire_snapshots(table => '"
                + fixture.icebergTable.substring("iceberg.".length())
                + "', older_than => "
                + timestampLiteral(fixture, Instant.now().plusSeconds(120))
                + ", retain_last => 1)")
        .collect();
    assertEquals(
        Map.of(oldest, before.get(oldest), latest, before.get(latest)),
        everyVersion(fixture, oldest, latest));
    assertEquals(
        List.of(),
        fixture
            .spark
            .sql("CALL harness.system.audit(table => '" + fixture.table + "')")
            .collectAsList());

    // a rerun removes nothing; the job says so with exit code 2; writers go on
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int code =
        ExpireJob.main(
            new String[] {"--table", fixture.table.toString(), "--retain-last", "2"},
            new PrintStream(out, true, StandardCharsets.UTF_8),
            System.err,
            () -> fixture.spark);
    String printed = out.toString(StandardCharsets.UTF_8);
    assertEquals(2, code, printed);
    assertTrue(printed.contains("\"versions_removed\":0"), printed);
    fixture.produce(40, 45);
    fixture.move("hot", "cold", null);
    assertEquals(MoveFixture.range(0, 45), fixture.ids());
  }

  @Test
  void badRetentionsAreRefusedBeforeAnythingChanges() {
    MoveFixture fixture = new MoveFixture(1, "");
    fixture.produce(0, 5);
    fixture.sync();
    HarnessStore store = fixture.catalog().store();
    for (String call :
        List.of(
            "retain_last => 0",
            "older_than => 'PT-10M'",
            "older_than => 'yesterday'",
            "older_than => '2026-13-45 00:00:00'")) {
      Throwable error =
          assertThrows(
              Exception.class,
              () ->
                  fixture
                      .spark
                      .sql(
                          "CALL harness.system.expire_versions(table => '"
                              + fixture.table
                              + "', "
                              + call
                              + ")")
                      .collect());
      String name = call.substring(0, call.indexOf(' '));
      assertTrue(String.valueOf(error.getMessage()).contains(name), call + ": " + error);
    }
    assertThrows(
        ValidationException.class,
        () ->
            ExpireJob.cutoff(
                fixture.table, "older_than", "-5 minutes", Instant.now(), ZoneOffset.UTC));
    assertEquals(1, store.loadTable(fixture.table).oldestVersion());
    assertEquals(2, store.readLatest(fixture.table).version());
  }

  @Test
  void expiringWhileAMoverRunsKeepsEveryKeptVersionWhole() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    fixture.produce(0, 200);
    fixture.sync();
    ExecutorService mover = Executors.newSingleThreadExecutor();
    try {
      Future<Integer> moves =
          mover.submit(
              () -> {
                int batches = 0;
                while (fixture.move("hot", "cold", 10L).rowsMoved() > 0) {
                  batches++;
                }
                return batches;
              });
      List<Long> oldestSeen = new ArrayList<>();
      while (!moves.isDone()) {
        oldestSeen.add(
            ExpireJob.run(
                    fixture.spark,
                    fixture.catalog(),
                    fixture.table,
                    Instant.now().plusSeconds(60),
                    3)
                .oldestVersion());
      }
      assertEquals(20, moves.get());
      assertFalse(oldestSeen.isEmpty());
    } finally {
      mover.shutdownNow();
    }
    HarnessStore store = fixture.catalog().store();
    long oldest = store.loadTable(fixture.table).oldestVersion();
    long latest = store.readLatest(fixture.table).version();
    assertTrue(oldest > 1, "expired some versions: oldest " + oldest);
    for (long version = oldest; version <= latest; version++) {
      assertEquals(MoveFixture.range(0, 200), fixture.idsAt(version), "version " + version);
    }
    assertEquals(
        List.of(),
        fixture
            .spark
            .sql("CALL harness.system.audit(table => '" + fixture.table + "')")
            .collectAsList());
  }
}
