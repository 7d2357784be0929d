package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** {@code df.writeTo("harness.ns.t").append()} to each kind of write source, on real services. */
class HarnessAppendTest {

  private static Dataset<Row> rows(MoveFixture fixture, long from, long to, String prefix) {
    return fixture.spark.sql(
        "SELECT id, concat('"
            + prefix
            + "', CAST(id AS STRING)) AS message, CAST(1 AS BIGINT) AS version FROM range("
            + from
            + ", "
            + to
            + ")");
  }

  @Test
  void appendsToAKafkaWriteSourceRecordTheProducedOffsets() throws Exception {
    MoveFixture fixture = new MoveFixture(3, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    rows(fixture, 0, 100, "k").writeTo(fixture.qualified).append();
    TableVersion appended = fixture.catalog().store().readLatest(fixture.table);
    assertEquals("append", appended.commit().operation());
    assertEquals("100", appended.commit().summary().get("rows"));
    assertEquals(100, ((SourceState.Kafka) appended.state("hot")).rowCount() - 0);
    // pinned to the version: exactly the rows the append recorded
    assertEquals(
        MoveFixture.range(0, 100),
        fixture.ids(
            "SELECT id FROM " + fixture.qualified + " VERSION AS OF " + appended.version()));
    assertEquals(
        java.util.List.of("[7,k7,1]"),
        fixture.rows("SELECT id, message, version FROM " + fixture.qualified + " WHERE id = 7"));

    fixture.move("hot", "cold", null);
    rows(fixture, 100, 150, "k").writeTo(fixture.qualified).append();
    assertEquals(MoveFixture.range(0, 150), fixture.ids());
  }

  @Test
  void appendsToAnIcebergWriteSourceAreStagedThenPublished() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'cold'");
    rows(fixture, 0, 50, "i").writeTo(fixture.qualified).append();
    TableVersion appended = fixture.catalog().store().readLatest(fixture.table);
    assertEquals("append", appended.commit().operation());
    assertEquals(MoveFixture.range(0, 50), fixture.ids());
    assertEquals(50, fixture.icebergMainCount());
    rows(fixture, 50, 80, "i").writeTo(fixture.qualified).append();
    assertEquals(MoveFixture.range(0, 80), fixture.ids());
    assertEquals(80, fixture.icebergMainCount());
  }

  @Test
  void appendsToAPostgresWriteSourceUpsertByPrimaryKey() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'warm', 'primary-key' = 'id'");
    rows(fixture, 0, 30, "p").writeTo(fixture.qualified).append();
    assertEquals(MoveFixture.range(0, 30), fixture.ids());
    fixture
        .spark
        .sql(
            "SELECT id, concat('updated', CAST(id AS STRING)) AS message, CAST(2 AS BIGINT) AS"
                + " version FROM range(0, 10)")
        .writeTo(fixture.qualified)
        .append();
    assertEquals(MoveFixture.range(0, 30), fixture.ids());
    assertEquals(
        java.util.List.of("[25,p25,1]", "[3,updated3,2]"),
        fixture.rows(
            "SELECT id, message, version FROM " + fixture.qualified + " WHERE id IN (3, 25)"));
  }
}
