package io.dataharness.spark.jobs;

import static io.dataharness.spark.jobs.TestSql.postgres;
import static io.dataharness.spark.jobs.TestSql.refused;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.TableVersion;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/**
 * {@code ALTER TABLE} on a table with data in all three kinds of source (Kafka, PostgreSQL,
 * Iceberg), on real services: each column change reaches the sources that need it, rows written
 * before and after read correctly, and every version before a change reads with its own schema.
 */
class AlterTableTest {

  private static void sql(MoveFixture fixture, String statement) {
    fixture.spark.sql(statement).collect();
  }

  private static List<String> postgresColumns(String table) throws Exception {
    return TestSql.postgresColumns(table, "data_type || ' ' || is_nullable");
  }

  private static void sync(MoveFixture fixture) {
    sql(fixture, "CALL harness.system.sync(table => '" + fixture.table + "')");
  }

  private static String columns(StructType schema) {
    return String.join(
        ",", Arrays.stream(schema.fields()).map(f -> f.name() + ":" + f.dataType().sql()).toList());
  }

  @Test
  void columnChangesReachEverySourceAndEveryVersionReadsWithItsOwnSchema() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    String pg = fixture.pgTable.substring("public.".length());
    fixture.produce(0, 10);
    fixture.move("hot", "cold", null);
    fixture.produce(10, 20);
    postgres(
        "INSERT INTO "
            + fixture.pgTable
            + " (id, message, version) VALUES (100, 'p100', 1), (101, 'p101', 1)");
    sync(fixture);
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    List<Long> ids = new ArrayList<>(MoveFixture.range(0, 20));
    ids.addAll(List.of(100L, 101L));
    assertEquals(ids, fixture.ids());

    // ADD COLUMN: Iceberg and PostgreSQL (table and history) get it; rows written before read NULL
    sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN score INT COMMENT 'points'");
    TableVersion added = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(before + 1, added.version());
    assertEquals(
        new Field(4, "score", FieldType.INT, false, "points"),
        added.schema().field("score").orElseThrow());
    assertTrue(
        columns(fixture.spark.table(fixture.icebergTable).schema()).contains("score:INT"),
        fixture.spark.table(fixture.icebergTable).schema().treeString());
    assertTrue(postgresColumns(pg).contains("score integer YES"), postgresColumns(pg).toString());
    assertTrue(
        postgresColumns(pg + "_harness_history").contains("score integer YES"),
        postgresColumns(pg + "_harness_history").toString());
    assertEquals(
        List.of(), fixture.rows("SELECT id FROM " + fixture.qualified + " WHERE score = 1"));

    // rows with the new column, written as applications and producers do, then moved
    fixture.kafka.produceJson(
        fixture.topic,
        0,
        List.of("{\"id\": 20, \"message\": \"m20\", \"version\": 1, \"score\": 7}"));
    postgres(
        "INSERT INTO "
            + fixture.pgTable
            + " (id, message, version, score) VALUES (102, 'p102', 1, 8)",
        "UPDATE " + fixture.pgTable + " SET score = 9 WHERE id = 100");
    sync(fixture);
    fixture.move("hot", "cold", null);
    assertEquals(
        List.of("[100,9]", "[102,8]", "[20,7]"),
        fixture.rows("SELECT id, score FROM " + fixture.qualified + " WHERE score IS NOT NULL"));

    // RENAME: no physical column changes; messages produced with the old name still decode
    sql(fixture, "ALTER TABLE " + fixture.qualified + " RENAME COLUMN message TO body");
    fixture.kafka.produceJson(
        fixture.topic, 0, List.of("{\"id\": 21, \"message\": \"m21\", \"version\": 1}"));
    sync(fixture);
    assertEquals(
        List.of("[101,p101]", "[21,m21]", "[5,m5]"),
        fixture.rows("SELECT id, body FROM " + fixture.qualified + " WHERE id IN (5, 21, 101)"));
    assertTrue(postgresColumns(pg).contains("message text YES"), postgresColumns(pg).toString());
    refused(
        () -> sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN message STRING"),
        "keeps the data of another column");

    // widen a type; drop NOT NULL; comment
    sql(fixture, "ALTER TABLE " + fixture.qualified + " ALTER COLUMN score TYPE BIGINT");
    sql(fixture, "ALTER TABLE " + fixture.qualified + " ALTER COLUMN id DROP NOT NULL");
    sql(fixture, "ALTER TABLE " + fixture.qualified + " ALTER COLUMN body COMMENT 'the text'");
    assertTrue(postgresColumns(pg).contains("score bigint YES"), postgresColumns(pg).toString());
    assertTrue(postgresColumns(pg).contains("id bigint YES"), postgresColumns(pg).toString());
    assertTrue(
        columns(fixture.spark.table(fixture.icebergTable).schema()).contains("score:BIGINT"));
    assertFalse(fixture.spark.table(fixture.icebergTable).schema().apply("id").nullable() == false);
    assertEquals(
        "id:BIGINT,body:STRING,version:BIGINT,score:BIGINT",
        columns(fixture.spark.table(fixture.qualified).schema()));

    // DROP: the harness forgets the column, the sources keep it, older versions still read it
    sql(fixture, "ALTER TABLE " + fixture.qualified + " DROP COLUMN version");
    assertEquals(
        "id:BIGINT,body:STRING,score:BIGINT",
        columns(fixture.spark.table(fixture.qualified).schema()));
    assertTrue(postgresColumns(pg).contains("version bigint YES"), postgresColumns(pg).toString());
    refused(
        () -> sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN version BIGINT"),
        "keeps the data of another column");

    // every version reads with its own schema, each row once
    assertEquals(
        "id:BIGINT,message:STRING,version:BIGINT",
        columns(
            fixture
                .spark
                .sql("SELECT * FROM " + fixture.qualified + " VERSION AS OF " + before)
                .schema()));
    assertEquals(
        ids, fixture.ids("SELECT id FROM " + fixture.qualified + " VERSION AS OF " + before));
    long latest = fixture.catalog().store().readLatest(fixture.table).version();
    for (long version = 1; version <= latest; version++) {
      List<Long> seen =
          fixture.ids("SELECT id FROM " + fixture.qualified + " VERSION AS OF " + version);
      assertEquals(seen.stream().distinct().toList(), seen, "version " + version);
    }
    List<Long> all = new ArrayList<>(MoveFixture.range(0, 22));
    all.addAll(List.of(100L, 101L, 102L));
    assertEquals(all, fixture.ids());
  }

  @Test
  void anAlterThatFailsOnOneSourceLeavesTheSchemaAndARerunCompletesIt() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    String pg = fixture.pgTable.substring("public.".length());
    fixture.produce(0, 5);
    // an application added a column of the same name and another type to the PostgreSQL table
    postgres("ALTER TABLE " + fixture.pgTable + " ADD COLUMN note TEXT");
    long before = fixture.catalog().store().readLatest(fixture.table).version();

    RuntimeException failed =
        assertThrows(
            RuntimeException.class,
            () -> sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN note INT"));
    String message = failed.getMessage();
    assertTrue(message.contains("source 'warm'"), message);
    assertTrue(message.contains("sources already changed: [cold]"), message);
    assertTrue(message.contains("run the same ALTER TABLE again"), message);
    TableVersion unchanged = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(before, unchanged.version());
    assertTrue(unchanged.schema().field("note").isEmpty());
    assertEquals(MoveFixture.range(0, 5), fixture.ids());

    postgres("ALTER TABLE " + fixture.pgTable + " DROP COLUMN note");
    sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN note INT");
    TableVersion done = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(before + 1, done.version());
    assertEquals(FieldType.INT, done.schema().field("note").orElseThrow().type());
    assertTrue(postgresColumns(pg).contains("note integer YES"), postgresColumns(pg).toString());
    assertTrue(columns(fixture.spark.table(fixture.icebergTable).schema()).contains("note:INT"));
    assertEquals(MoveFixture.range(0, 5), fixture.ids());
  }

  @Test
  void incompatibleOrUnsupportedChangesAreRefusedBeforeAnySourceChanges() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    String pg = fixture.pgTable.substring("public.".length());
    List<String> pgBefore = postgresColumns(pg);
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    refused(
        () -> sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN extra INT NOT NULL"),
        "add it as optional");
    refused(
        () ->
            sql(
                fixture,
                "ALTER TABLE " + fixture.qualified + " SET TBLPROPERTIES ('primary_key' = 'id')"),
        "'primary_key': it is not a harness table property");
    refused(
        () -> sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN extra INT FIRST"),
        "at a position");
    assertEquals(before, fixture.catalog().store().readLatest(fixture.table).version());
    assertEquals(pgBefore, postgresColumns(pg));
    assertFalse(columns(fixture.spark.table(fixture.icebergTable).schema()).contains("extra"));
  }

  @Test
  void sourcesAreAddedAndRetiredAndPropertiesChangeEachAsOneVersion() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    fixture.produce(0, 10);
    sync(fixture);
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    // an Iceberg table that already holds rows becomes a source: its content is pinned
    String archive = "iceberg.lake_" + fixture.suffix + ".archive";
    sql(fixture, "CREATE TABLE " + archive + " (id BIGINT, message STRING, version BIGINT)");
    sql(fixture, "INSERT INTO " + archive + " VALUES (500, 'a500', 1), (501, 'a501', 1)");
    sql(
        fixture,
        "ALTER TABLE "
            + fixture.qualified
            + " SET TBLPROPERTIES ('source.archive.kind' = 'iceberg',"
            + " 'source.archive.connection' = 'lake', 'source.archive.table' = 'lake_"
            + fixture.suffix
            + ".archive', 'comment' = 'events of all ages')");
    TableVersion added = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(before + 1, added.version());
    assertTrue(added.sources().containsKey("archive"));
    List<Long> withArchive = new ArrayList<>(MoveFixture.range(0, 10));
    withArchive.addAll(List.of(500L, 501L));
    assertEquals(withArchive, fixture.ids());
    assertEquals(MoveFixture.range(0, 10), fixture.idsAt(before), "older versions are unchanged");
    sql(fixture, "INSERT INTO " + archive + " VALUES (502, 'a502', 1)");
    assertEquals(withArchive, fixture.ids(), "the registration pinned the table's content");
    assertEquals(
        "events of all ages",
        fixture.catalog().store().loadTable(fixture.table).properties().get("comment"));

    // bad keys change nothing
    long afterAdd = added.version();
    refused(
        () ->
            sql(
                fixture,
                "ALTER TABLE " + fixture.qualified + " SET TBLPROPERTIES ('primary_key' = 'id')"),
        "'primary_key': it is not a harness table property");
    refused(
        () ->
            sql(
                fixture,
                "ALTER TABLE "
                    + fixture.qualified
                    + " SET TBLPROPERTIES ('write.source' = 'nope')"),
        "'nope' is not one of its sources");
    refused(
        () ->
            sql(
                fixture,
                "ALTER TABLE "
                    + fixture.qualified
                    + " SET TBLPROPERTIES ('source.hot.topic' = 'other')"),
        "fixed at registration");
    refused(
        () ->
            sql(
                fixture,
                "ALTER TABLE "
                    + fixture.qualified
                    + " SET TBLPROPERTIES ('ordering-column' = 'nope')"),
        "'nope' is not a column");
    assertEquals(afterAdd, fixture.catalog().store().readLatest(fixture.table).version());

    // the layout and a source's partition filter change as one version
    sql(
        fixture,
        "ALTER TABLE "
            + fixture.qualified
            + " SET TBLPROPERTIES ('ordering-column' = 'version', 'write.source' = 'archive',"
            + " 'source.archive.partition-filter' = 'id >= 500')");
    var table = fixture.catalog().store().loadTable(fixture.table);
    assertEquals("version", table.orderingColumn().orElseThrow());
    assertEquals("archive", table.properties().get("write.source"));
    assertEquals(
        "id >= 500",
        fixture.catalog().store().readLatest(fixture.table).source("archive").partitionFilter());
    assertEquals(afterAdd + 1, fixture.catalog().store().readLatest(fixture.table).version());

    // retiring: refused while the source holds rows, unless forced; older versions keep them
    refused(
        () ->
            sql(
                fixture,
                "ALTER TABLE " + fixture.qualified + " UNSET TBLPROPERTIES ('source.hot.kind')"),
        "it holds 10 rows");
    sql(fixture, "ALTER TABLE " + fixture.qualified + " UNSET TBLPROPERTIES ('source.warm.kind')");
    assertFalse(fixture.catalog().store().readLatest(fixture.table).sources().containsKey("warm"));
    long beforeRetire = fixture.catalog().store().readLatest(fixture.table).version();
    sql(
        fixture,
        "ALTER TABLE " + fixture.qualified + " SET TBLPROPERTIES ('source.hot.retire' = 'force')");
    assertEquals(List.of(500L, 501L), fixture.ids());
    assertEquals(withArchive, fixture.idsAt(beforeRetire));
  }

  /** Asserts that an action fails with a message containing {@code expected}. */
}
