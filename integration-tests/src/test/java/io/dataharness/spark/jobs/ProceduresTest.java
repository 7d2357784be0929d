package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * CALL harness.system.move / sync: their typed outputs and argument checks (the jobs' options:
 * harness-spark's JobArgumentsTest; the jobs as processes: {@link MoveJobProcessTest}).
 */
class ProceduresTest {

  @Test
  void callMoveAndSyncReturnOneRow() {
    MoveFixture fixture = new MoveFixture(2, "");
    fixture.produce(0, 60);
    List<Row> sync =
        fixture
            .spark
            .sql("CALL harness.system.sync(table => '" + fixture.table + "')")
            .collectAsList();
    assertEquals(1, sync.size());
    // the kafka source's end, and the (unused) PostgreSQL source's read timestamp
    assertEquals(2, sync.get(0).getInt(1));
    assertEquals(List.of(), sync.get(0).getList(3), "skipped");
    assertEquals(
        List.of("hot", "warm"),
        sync.get(0).<String>getList(4).stream().sorted().toList(),
        "synced: the sources that advanced");
    List<Row> move =
        fixture
            .spark
            .sql(
                "CALL harness.system.move(table => '"
                    + fixture.table
                    + "', source => 'hot', target => 'cold', max_rows => 20, older_than => '0"
                    + " seconds')")
            .collectAsList();
    Row moved = move.get(0);
    assertEquals(20L, moved.getLong(1));
    assertEquals(false, moved.getBoolean(2));
    assertEquals(sync.get(0).getLong(0) + 1, moved.getLong(0));
    assertTrue(moved.<Long>getAs("duration_ms") >= 0);
    // the Iceberg snapshot the target names now, as the version records it
    long snapshot = moved.<Long>getAs("target_snapshot_id");
    assertEquals(
        snapshot,
        ((io.dataharness.metadata.SourceState.Iceberg)
                fixture
                    .catalog()
                    .store()
                    .readVersion(fixture.table, moved.getLong(0))
                    .state("cold"))
            .snapshotId()
            .getAsLong());
    // the offset ranges the batch covered: 20 rows out of partitions 0 and 1
    String ranges = moved.getAs("moved");
    assertTrue(ranges.contains("0:") && ranges.contains("1:"), ranges);
    // nothing is older than an hour: nothing moves
    List<Row> none =
        fixture
            .spark
            .sql(
                "CALL harness.system.move(table => '"
                    + fixture.table
                    + "', source => 'hot', target => 'cold', older_than => '1 hour')")
            .collectAsList();
    assertEquals(0L, none.get(0).getLong(1));
    assertNull(none.get(0).getAs("target_snapshot_id"));
    assertNull(none.get(0).getAs("moved"));
    assertEquals(MoveFixture.range(0, 60), fixture.ids());

    // arguments are checked before anything runs, naming the argument
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    for (String bad : List.of("older_than => 'PT-10M'", "max_rows => 0", "older_than => 'later'")) {
      Exception refused =
          assertThrows(
              Exception.class,
              () ->
                  fixture
                      .spark
                      .sql(
                          "CALL harness.system.move(table => '"
                              + fixture.table
                              + "', source => 'hot', target => 'cold', "
                              + bad
                              + ")")
                      .collect());
      String argument = bad.substring(0, bad.indexOf(' '));
      assertTrue(
          refused.getMessage().contains("Cannot call system.move: " + argument + " '"),
          refused.getMessage());
    }
    assertEquals(before, fixture.catalog().store().readLatest(fixture.table).version());

    Exception unsupported =
        assertThrows(
            Exception.class,
            () ->
                fixture
                    .spark
                    .sql(
                        "CALL harness.system.move(table => '"
                            + fixture.table
                            + "', source => 'cold', target => 'hot')")
                    .collect());
    assertTrue(
        unsupported.getMessage().contains("supported moves are kafka -> iceberg"),
        unsupported.getMessage());
  }

  /** SyncJob --every in this JVM: one sync per interval until its stop is requested. */
  @Test
  void syncJobEveryStopsWhenAskedAndReportsWhatItSynced() throws Exception {
    MoveFixture fixture = new MoveFixture(2, "");
    fixture.produce(0, 10);
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    StopSignal stop = new StopSignal();
    java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
    java.io.PrintStream out =
        new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8);
    java.util.concurrent.CompletableFuture<Integer> code =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () ->
                SyncJob.run(
                    new String[] {"--table", fixture.table.toString(), "--every", "200 ms"},
                    out,
                    System.err,
                    () -> fixture.spark,
                    stop));
    org.awaitility.Awaitility.await()
        .atMost(java.time.Duration.ofMinutes(2))
        .until(
            () ->
                captured.toString(java.nio.charset.StandardCharsets.UTF_8).contains("Synced ")
                    || code.isDone());
    stop.request("test asks the service to stop");
    assertEquals(0, code.get(2, java.util.concurrent.TimeUnit.MINUTES));
    String[] lines = captured.toString(java.nio.charset.StandardCharsets.UTF_8).strip().split("\n");
    var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines[lines.length - 1]);
    assertEquals("sync", json.get("job").asText());
    assertEquals("synced", json.get("status").asText(), json.toString());
    assertTrue(json.get("synced").toString().contains("\"hot\""), json.toString());
    assertEquals(0, json.get("skipped").size());
    long first = json.get("versions").get(0).asLong();
    assertEquals(before + 1, first, json.toString());
    // the Kafka source's end is recorded: the table reads what was produced
    assertEquals(MoveFixture.range(0, 10), fixture.idsAt(first));
  }
}
