package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** CALL harness.system.move / sync, and the job entry points' argument handling. */
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
    List<Row> move =
        fixture
            .spark
            .sql(
                "CALL harness.system.move(table => '"
                    + fixture.table
                    + "', source => 'hot', target => 'cold', max_rows => 20, older_than => '0"
                    + " seconds')")
            .collectAsList();
    assertEquals(20L, move.get(0).getLong(1));
    assertEquals(false, move.get(0).getBoolean(2));
    assertEquals(sync.get(0).getLong(0) + 1, move.get(0).getLong(0));
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
    assertEquals(MoveFixture.range(0, 60), fixture.ids());

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

  @Test
  void intervalsReadTheWaysUsersWriteThem() {
    assertEquals(java.time.Duration.ofMinutes(10), JobArguments.interval("10 minutes"));
    assertEquals(java.time.Duration.ofSeconds(30), JobArguments.interval("30s"));
    assertEquals(java.time.Duration.ofHours(2), JobArguments.interval("INTERVAL '2' HOUR"));
    assertEquals(java.time.Duration.ofMinutes(5), JobArguments.interval("PT5M"));
    assertThrows(RuntimeException.class, () -> JobArguments.interval("soon"));
  }
}
