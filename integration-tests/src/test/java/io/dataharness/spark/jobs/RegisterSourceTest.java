package io.dataharness.spark.jobs;

import static io.dataharness.spark.jobs.TestSql.postgres;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * {@code register_source} on real services: after an application adds a column to a registered
 * PostgreSQL table directly, registering the source again makes its history table follow, so
 * updates keep their old images and earlier versions keep reading them.
 */
class RegisterSourceTest {

  private static List<String> columns(String table) throws Exception {
    return TestSql.postgresStrings(
        "SELECT column_name FROM information_schema.columns WHERE table_name = '"
            + table
            + "' ORDER BY ordinal_position");
  }

  @Test
  void registeringAgainMakesTheHistoryFollowAColumnAddedDirectly() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    String pg = fixture.pgTable.substring("public.".length());
    postgres("INSERT INTO " + fixture.pgTable + " (id, message, version) VALUES (1, 'one', 1)");
    fixture.sync();
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    postgres("ALTER TABLE " + fixture.pgTable + " ADD COLUMN extra INT");

    Row result =
        fixture
            .spark
            .sql(
                "CALL harness.system.register_source(table => '"
                    + fixture.table
                    + "', source => 'warm')")
            .collectAsList()
            .get(0);
    assertEquals("warm", result.getString(0));
    assertTrue(result.getList(2).contains("extra"), result.toString());
    assertTrue(
        columns(pg + "_harness_history").contains("extra"),
        columns(pg + "_harness_history").toString());
    assertEquals(before, fixture.catalog().store().readLatest(fixture.table).version());

    postgres("UPDATE " + fixture.pgTable + " SET message = 'uno', extra = 7 WHERE id = 1");
    fixture.sync();
    assertEquals(
        List.of("[1,one]"),
        fixture.rows("SELECT id, message FROM " + fixture.qualified + " VERSION AS OF " + before));
    assertEquals(List.of("[1,uno]"), fixture.rows("SELECT id, message FROM " + fixture.qualified));
    assertThrows(
        Exception.class,
        () ->
            fixture
                .spark
                .sql(
                    "CALL harness.system.register_source(table => '"
                        + fixture.table
                        + "', source => 'cold')")
                .collect());
  }
}
