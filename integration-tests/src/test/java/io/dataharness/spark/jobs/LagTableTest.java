package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * The lag table {@code <table>.lag} on real services, against known offsets and changes: Kafka
 * messages produced after the last sync, PostgreSQL rows written by an application, an Iceberg
 * append made outside the harness, and Kafka retention that deleted offsets a version reads.
 */
class LagTableTest {

  /** The lag rows by "source/partition". */
  private static Map<String, Row> lag(MoveFixture fixture, String clause) {
    Map<String, Row> rows = new TreeMap<>();
    for (Row row :
        fixture.spark.sql("SELECT * FROM " + fixture.qualified + ".lag" + clause).collectAsList()) {
      rows.put(row.getString(1) + "/" + (row.isNullAt(3) ? "-" : row.getInt(3)), row);
    }
    return rows;
  }

  private static long lagRows(Row row) {
    return row.getLong(row.fieldIndex("lag_rows"));
  }

  private static double lagSeconds(Row row) {
    return row.getDouble(row.fieldIndex("lag_seconds"));
  }

  @Test
  void eachSourceLagsByWhatItsLiveEndHoldsBeyondTheVersion() throws Exception {
    MoveFixture fixture = new MoveFixture(2, "");
    fixture.produce(0, 20);
    fixture.sync();
    Map<String, Row> caughtUp = lag(fixture, "");
    assertEquals(
        List.of("cold/-", "hot/0", "hot/1", "null/-", "warm/-"), List.copyOf(caughtUp.keySet()));
    caughtUp.values().forEach(row -> assertEquals(0, lagRows(row), row.toString()));
    assertEquals(
        0L, caughtUp.get("hot/0").getLong(caughtUp.get("hot/0").fieldIndex("retention_headroom")));

    // 10 messages (5 per partition), 2 inserts and 1 update of one of them (3 row images written
    // or ended since the read timestamp: the two rows as they are and the ended first image), and
    // an
    // Iceberg append made outside the harness
    Thread.sleep(1100);
    fixture.produce(20, 30);
    try (Connection connection = TestingSpark.shared().sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "INSERT INTO "
              + fixture.pgTable
              + " (id, message, version) VALUES (100, 'a', 1), (101, 'b', 1)");
      statement.execute("UPDATE " + fixture.pgTable + " SET message = 'c' WHERE id = 100");
    }
    fixture
        .spark
        .sql(
            "INSERT INTO "
                + fixture.icebergTable
                + " VALUES (200, 'x', 1), (201, 'y', 1), (202, 'z', 1)")
        .collect();

    Map<String, Row> behind = lag(fixture, "");
    assertEquals(5, lagRows(behind.get("hot/0")), behind.get("hot/0").toString());
    assertEquals(5, lagRows(behind.get("hot/1")), behind.get("hot/1").toString());
    assertEquals(3, lagRows(behind.get("warm/-")), behind.get("warm/-").toString());
    assertEquals(3, lagRows(behind.get("cold/-")), behind.get("cold/-").toString());
    Row table = behind.get("null/-");
    assertEquals("table", table.getString(2));
    assertEquals(16, lagRows(table));
    behind.values().forEach(row -> assertTrue(lagSeconds(row) >= 0, row.toString()));
    assertTrue(lagSeconds(table) >= lagSeconds(behind.get("hot/0")), table.toString());
    assertNull(table.getString(table.fieldIndex("warning")));
    // reading the lag table sets the table's gauges in the dataharness metrics source
    var gauges = io.dataharness.spark.metrics.HarnessMetrics.get().metricRegistry().getGauges();
    assertEquals(
        16L,
        gauges
            .get(io.dataharness.spark.metrics.HarnessMetrics.LAG_ROWS + "." + fixture.table)
            .getValue());

    // older_than takes a cut-off TIMESTAMP as well as an age: nothing is older than 2000
    assertEquals(
        0L,
        fixture
            .spark
            .sql(
                "CALL harness.system.move(table => '"
                    + fixture.table
                    + "', source => 'hot', target => 'cold', older_than => TIMESTAMP '2000-01-01"
                    + " 00:00:00')")
            .collectAsList()
            .get(0)
            .getLong(1));

    // a sync records Kafka's and PostgreSQL's live ends: their lag is gone
    fixture.sync();
    Map<String, Row> synced = lag(fixture, "");
    assertEquals(0, lagRows(synced.get("hot/0")));
    assertEquals(0, lagRows(synced.get("warm/-")));
    // and time travel shows the sources now against an older version
    long version = fixture.catalog().store().readLatest(fixture.table).version();
    assertEquals(5, lagRows(lag(fixture, " VERSION AS OF " + (version - 1)).get("hot/0")));

    // retention deletes offsets the latest version reads: negative headroom and a warning
    fixture.kafka.deleteRecordsBefore(fixture.topic, 0, 3);
    Map<String, Row> lost = lag(fixture, "");
    Row partition0 = lost.get("hot/0");
    assertEquals(-3, partition0.getLong(partition0.fieldIndex("retention_headroom")));
    assertTrue(
        partition0
            .getString(partition0.fieldIndex("warning"))
            .contains(
                "retention deleted offsets [0, 3) of partition 0 that versions from 1 on read"),
        partition0.toString());
    assertTrue(
        lost.get("null/-").getString(lost.get("null/-").fieldIndex("warning")).contains("hot"),
        lost.get("null/-").toString());
  }
}
