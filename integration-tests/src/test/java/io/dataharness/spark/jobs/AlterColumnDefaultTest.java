package io.dataharness.spark.jobs;

import static io.dataharness.spark.jobs.TestSql.postgres;
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
import java.util.function.Supplier;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * {@code ALTER TABLE ... ADD COLUMN ... DEFAULT} on a table with data in all three kinds of source
 * (Kafka, PostgreSQL, Iceberg), on real services: every row written before the change reads the
 * default at versions from the change on, in both read paths; versions before read without the
 * column; INSERTs that leave the column out write the default; a Kafka message that carries an
 * explicit null keeps it; bad defaults and Iceberg tables that cannot hold a default are refused
 * before anything changes.
 */
class AlterColumnDefaultTest {

  private static void sql(MoveFixture fixture, String statement) {
    fixture.spark.sql(statement).collect();
  }

  private static List<String> postgresColumns(String table) throws Exception {
    return TestSql.postgresColumns(table, "data_type || ' ' || coalesce(column_default, '-')");
  }

  private static <T> T withNativeUnion(MoveFixture fixture, boolean enabled, Supplier<T> body) {
    String key = "spark.dataharness.read.native-union";
    fixture.spark.conf().set(key, String.valueOf(enabled));
    try {
      return body.get();
    } finally {
      fixture.spark.conf().unset(key);
    }
  }

  /** The same rows in both read paths (the native union and the harness's own readers). */
  private static List<String> rowsBothWays(MoveFixture fixture, String query) {
    List<String> nativeUnion = withNativeUnion(fixture, true, () -> fixture.rows(query));
    List<String> readers = withNativeUnion(fixture, false, () -> fixture.rows(query));
    assertEquals(nativeUnion, readers, "both read paths of: " + query);
    return nativeUnion;
  }

  private static List<String> expected(List<Long> ids, String values) {
    return ids.stream().map(id -> "[" + id + "," + values + "]").sorted().toList();
  }

  @Test
  void rowsWrittenBeforeReadTheDefaultInEverySourceAndWritesThatOmitItWriteIt() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'hot'");
    String pg = fixture.pgTable.substring("public.".length());
    fixture.produce(0, 10);
    fixture.move("hot", "cold", null);
    fixture.produce(10, 20);
    postgres(
        "INSERT INTO "
            + fixture.pgTable
            + " (id, message, version) VALUES (100, 'p100', 1), (101, 'p101', 1)");
    fixture.sync();
    // changed after the last sync: the version's image of row 100 is in the history table now
    postgres("UPDATE " + fixture.pgTable + " SET message = 'changed' WHERE id = 100");
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    List<Long> ids = new ArrayList<>(MoveFixture.range(0, 20));
    ids.addAll(List.of(100L, 101L));
    List<String> pgBefore = postgresColumns(pg);

    // an Iceberg source of format version 2 cannot hold a default: refused, nothing changes
    String alter =
        "ALTER TABLE "
            + fixture.qualified
            + " ADD COLUMNS (score INT DEFAULT 5 COMMENT 'points', label STRING DEFAULT 'none')";
    org.apache.spark.sql.AnalysisException v2 =
        assertThrows(org.apache.spark.sql.AnalysisException.class, () -> sql(fixture, alter));
    assertEquals("INVALID_PARAMETER_VALUE.PATTERN", v2.getCondition(), v2.getMessage());
    assertEquals("22023", v2.getSqlState());
    assertTrue(v2.getMessage().contains("source 'cold'"), v2.getMessage());
    assertTrue(v2.getMessage().contains("format version 2"), v2.getMessage());
    assertTrue(v2.getMessage().contains("'format-version' = '3'"), v2.getMessage());
    assertEquals(before, fixture.catalog().store().readLatest(fixture.table).version());
    assertEquals(pgBefore, postgresColumns(pg));
    assertFalse(fixture.spark.table(fixture.icebergTable).schema().toString().contains("score"));

    sql(
        fixture,
        "ALTER TABLE " + fixture.icebergTable + " SET TBLPROPERTIES ('format-version' = '3')");
    sql(fixture, alter);

    TableVersion altered = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(before + 1, altered.version());
    assertEquals(
        new Field(4, "score", FieldType.INT, false, "points", "5"),
        altered.schema().field("score").orElseThrow());
    assertEquals("none", altered.schema().field("label").orElseThrow().defaultValue());
    assertTrue(postgresColumns(pg).contains("score integer 5"), postgresColumns(pg).toString());
    assertTrue(
        postgresColumns(pg).contains("label text 'none'::text"), postgresColumns(pg).toString());
    assertTrue(
        postgresColumns(pg + "_harness_history").contains("score integer 5"),
        postgresColumns(pg + "_harness_history").toString());
    // the Spark schema carries the default as Spark expects it, and DESCRIBE EXTENDED shows it
    var score = fixture.spark.table(fixture.qualified).schema().apply("score");
    assertEquals("5", score.metadata().getString("CURRENT_DEFAULT"));
    assertEquals("5", score.metadata().getString("EXISTS_DEFAULT"));
    String described =
        fixture.spark.sql("DESCRIBE TABLE EXTENDED " + fixture.qualified).collectAsList().stream()
            .map(Row::toString)
            .toList()
            .toString();
    assertTrue(described.contains("[score,int,5]"), described);
    assertTrue(described.contains("[label,string,'none']"), described);

    // every row written before reads the default, in every source and both read paths; the
    // PostgreSQL row read from the history table too
    List<String> all = new ArrayList<>(expected(MoveFixture.range(0, 20), "5,none"));
    all.add("[100,5,none]");
    all.add("[101,5,none]");
    all.sort(null);
    assertEquals(all, rowsBothWays(fixture, "SELECT id, score, label FROM " + fixture.qualified));
    assertEquals(
        List.of("[100,p100,5]"),
        rowsBothWays(
            fixture, "SELECT id, message, score FROM " + fixture.qualified + " WHERE id = 100"));
    assertEquals(
        List.of("[22]"),
        rowsBothWays(fixture, "SELECT count(*) FROM " + fixture.qualified + " WHERE score = 5"));
    // the version before reads with its own schema
    assertEquals(
        List.of("id", "message", "version"),
        Arrays.asList(
            fixture
                .spark
                .sql("SELECT * FROM " + fixture.qualified + " VERSION AS OF " + before)
                .columns()));
    assertEquals(ids, fixture.idsAt(before));

    // a message with an explicit null keeps it; one without the field reads the default
    fixture.kafka.produceJson(
        fixture.topic,
        0,
        List.of(
            "{\"id\": 20, \"message\": \"m20\", \"version\": 1, \"score\": null}",
            "{\"id\": 21, \"message\": \"m21\", \"version\": 1, \"score\": 7, \"label\": null}"));
    // an INSERT that leaves the columns out writes their defaults
    sql(
        fixture,
        "INSERT INTO " + fixture.qualified + " (id, message, version) VALUES (30, 'i30', 1)");
    sql(
        fixture,
        "INSERT INTO "
            + fixture.qualified
            + " (id, message, version, label) VALUES (31, 'i31', 1, 'set')");
    // an explicit NULL stays NULL (the append writes the field as JSON null)
    sql(
        fixture,
        "INSERT INTO "
            + fixture.qualified
            + " (id, message, version, score) VALUES (32, 'i32', 1, NULL)");
    fixture.sync();
    List<String> written =
        fixture
            .spark
            .read()
            .format("kafka")
            .option("kafka.bootstrap.servers", fixture.kafka.bootstrapServers())
            .option("kafka.isolation.level", "read_committed")
            .option("subscribe", fixture.topic)
            .option("startingOffsets", "earliest")
            .load()
            .selectExpr("CAST(value AS STRING)")
            .collectAsList()
            .stream()
            .map(row -> row.getString(0).replace(" ", ""))
            .filter(value -> value.contains("\"id\":30") || value.contains("\"id\":31"))
            .sorted()
            .toList();
    assertEquals(2, written.size(), written.toString());
    assertTrue(written.get(0).contains("\"score\":5"), written.toString());
    assertTrue(written.get(0).contains("\"label\":\"none\""), written.toString());
    assertTrue(written.get(1).contains("\"score\":5"), written.toString());
    assertTrue(written.get(1).contains("\"label\":\"set\""), written.toString());
    List<String> after =
        List.of("[20,null,none]", "[21,7,null]", "[30,5,none]", "[31,5,set]", "[32,null,none]");
    String newRows =
        "SELECT id, score, label FROM " + fixture.qualified + " WHERE id BETWEEN 20 AND 39";
    assertEquals(after, rowsBothWays(fixture, newRows));

    // moved to Iceberg (messages without the field carry the default there), next to Iceberg's
    // data files written before the column existed (Iceberg's initial default)
    fixture.move("hot", "cold", null);
    assertEquals(after, rowsBothWays(fixture, newRows));
    assertEquals(
        expected(MoveFixture.range(0, 20), "5,none"),
        rowsBothWays(
            fixture, "SELECT id, score, label FROM " + fixture.qualified + " WHERE id < 20"));
    assertEquals(
        List.of("[0,5]", "[15,5]", "[20,null]"),
        fixture.rows("SELECT id, score FROM " + fixture.icebergTable + " WHERE id IN (0, 15, 20)"));

    // INSERTs into the Iceberg and the PostgreSQL source write the defaults too
    sql(
        fixture,
        "ALTER TABLE " + fixture.qualified + " SET TBLPROPERTIES ('write.source' = 'cold')");
    sql(
        fixture,
        "INSERT INTO " + fixture.qualified + " (id, message, version) VALUES (40, 'i40', 1)");
    sql(
        fixture,
        "ALTER TABLE " + fixture.qualified + " SET TBLPROPERTIES ('write.source' = 'warm')");
    sql(
        fixture,
        "INSERT INTO " + fixture.qualified + " (id, message, version) VALUES (41, 'i41', 1)");
    assertEquals(
        List.of("[40,5,none]", "[41,5,none]"),
        rowsBothWays(
            fixture,
            "SELECT id, score, label FROM " + fixture.qualified + " WHERE id IN (40, 41)"));
    assertEquals(
        List.of("[40,5,none]"),
        fixture.rows("SELECT id, score, label FROM " + fixture.icebergTable + " WHERE id = 40"));
    assertEquals(ids.size() + 7, fixture.ids().size());
  }

  @Test
  void badDefaultsAreRefusedBeforeAnythingChanges() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    String pg = fixture.pgTable.substring("public.".length());
    fixture.produce(0, 3);
    fixture.sync();
    sql(
        fixture,
        "ALTER TABLE " + fixture.icebergTable + " SET TBLPROPERTIES ('format-version' = '3')");
    List<String> pgBefore = postgresColumns(pg);
    long before = fixture.catalog().store().readLatest(fixture.table).version();

    refused(
        fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN bad INT DEFAULT 'abc'", "bad");
    refused(
        fixture,
        "ALTER TABLE " + fixture.qualified + " ADD COLUMN bad DATE DEFAULT current_date()",
        "default of column 'bad' of "
            + fixture.table
            + " to current_date(): a harness default"
            + " must be a literal");
    refused(
        fixture,
        "ALTER TABLE " + fixture.qualified + " ADD COLUMN bad INT NOT NULL DEFAULT 1",
        "add it as optional");
    sql(fixture, "ALTER TABLE " + fixture.qualified + " ADD COLUMN good INT DEFAULT 1");
    long added = fixture.catalog().store().readLatest(fixture.table).version();
    refused(
        fixture,
        "ALTER TABLE " + fixture.qualified + " ALTER COLUMN good SET DEFAULT 2",
        "keeps one default per column");
    assertEquals(before + 1, added);
    assertEquals(added, fixture.catalog().store().readLatest(fixture.table).version());
    List<String> pgAfter = new ArrayList<>(pgBefore);
    pgAfter.add("good integer 1");
    assertEquals(pgAfter, postgresColumns(pg));
    assertEquals(
        List.of("[0,1]", "[1,1]", "[2,1]"),
        fixture.rows("SELECT id, good FROM " + fixture.qualified));
  }

  @Test
  void anAlterWithADefaultThatFailsOnOneSourceLeavesTheSchemaAndARerunCompletesIt()
      throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    String pg = fixture.pgTable.substring("public.".length());
    fixture.produce(0, 4);
    fixture.move("hot", "cold", null);
    fixture.produce(4, 6);
    postgres("INSERT INTO " + fixture.pgTable + " (id, message, version) VALUES (100, 'p100', 1)");
    fixture.sync();
    sql(
        fixture,
        "ALTER TABLE " + fixture.icebergTable + " SET TBLPROPERTIES ('format-version' = '3')");
    // an application added a column of the same name and another type to the PostgreSQL table
    postgres("ALTER TABLE " + fixture.pgTable + " ADD COLUMN note TEXT");
    long before = fixture.catalog().store().readLatest(fixture.table).version();
    String alter = "ALTER TABLE " + fixture.qualified + " ADD COLUMN note INT DEFAULT 3";

    RuntimeException failed = assertThrows(RuntimeException.class, () -> sql(fixture, alter));
    assertTrue(failed.getMessage().contains("source 'warm'"), failed.getMessage());
    assertTrue(
        failed.getMessage().contains("sources already changed: [cold]"), failed.getMessage());
    TableVersion unchanged = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(before, unchanged.version());
    assertTrue(unchanged.schema().field("note").isEmpty());
    assertEquals(
        List.of("id", "message", "version"),
        Arrays.asList(fixture.spark.table(fixture.qualified).columns()));

    postgres("ALTER TABLE " + fixture.pgTable + " DROP COLUMN note");
    sql(fixture, alter);
    assertEquals(before + 1, fixture.catalog().store().readLatest(fixture.table).version());
    assertTrue(postgresColumns(pg).contains("note integer 3"), postgresColumns(pg).toString());
    List<String> all = new ArrayList<>(expected(MoveFixture.range(0, 6), "3"));
    all.add("[100,3]");
    all.sort(null);
    assertEquals(all, rowsBothWays(fixture, "SELECT id, note FROM " + fixture.qualified));
    assertEquals(
        List.of("[0,3]", "[1,3]", "[2,3]", "[3,3]"),
        fixture.rows("SELECT id, note FROM " + fixture.icebergTable));
  }

  @Test
  void createTableKeepsColumnDefaults() throws Exception {
    MoveFixture fixture = new MoveFixture(1, "");
    String topic = fixture.topic + "_created";
    String pgTable = fixture.pgTable + "_created";
    String qualified = "harness." + fixture.namespace + ".created";
    fixture.kafka.createTopic(topic, 1);
    sql(
        fixture,
        "CREATE TABLE "
            + qualified
            + " (id BIGINT, status STRING DEFAULT 'new', due DATE DEFAULT DATE '2026-12-24',"
            + " amount DECIMAL(6,2) DEFAULT -1.5, at TIMESTAMP DEFAULT TIMESTAMP"
            + " '2026-12-24 18:00:00Z', local TIMESTAMP_NTZ DEFAULT TIMESTAMP_NTZ '2026-12-24"
            + " 18:00:00') TBLPROPERTIES ('source.hot.kind' = 'kafka',"
            + " 'source.hot.connection' = 'kafka', 'source.hot.topic' = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + pgTable
            + "', 'write.source' = 'hot')");
    var schema =
        fixture
            .catalog()
            .store()
            .readLatest(io.dataharness.metadata.TableIdentifier.of(fixture.namespace, "created"))
            .schema();
    assertEquals("new", schema.field("status").orElseThrow().defaultValue());
    assertEquals("2026-12-24", schema.field("due").orElseThrow().defaultValue());
    assertEquals("-1.50", schema.field("amount").orElseThrow().defaultValue());
    assertEquals("2026-12-24T18:00:00Z", schema.field("at").orElseThrow().defaultValue());
    assertTrue(
        postgresColumns(pgTable.substring("public.".length())).contains("status text 'new'::text"),
        postgresColumns(pgTable.substring("public.".length())).toString());

    fixture.kafka.produceJson(topic, 0, List.of("{\"id\": 1}", "{\"id\": 2, \"status\": null}"));
    postgres("INSERT INTO " + pgTable + " (id) VALUES (3)");
    sql(fixture, "INSERT INTO " + qualified + " (id, amount) VALUES (4, 2)");
    sql(fixture, "CALL harness.system.sync(table => '" + fixture.namespace + ".created')");
    String query =
        "SELECT id, status, due, amount, unix_seconds(at), CAST(local AS STRING) FROM " + qualified;
    assertEquals(
        List.of(
            "[1,new,2026-12-24,-1.50,1798135200,2026-12-24 18:00:00]",
            "[2,null,2026-12-24,-1.50,1798135200,2026-12-24 18:00:00]",
            "[3,new,2026-12-24,-1.50,1798135200,2026-12-24 18:00:00]",
            "[4,new,2026-12-24,2.00,1798135200,2026-12-24 18:00:00]"),
        rowsBothWays(fixture, query));
    // the defaults and the appended row (an append writes a TIMESTAMP as an instant with its
    // offset) read the same in another session time zone
    String zone = fixture.spark.conf().get("spark.sql.session.timeZone");
    fixture.spark.conf().set("spark.sql.session.timeZone", "America/Los_Angeles");
    try {
      assertEquals(
          List.of(
              "[1,new,2026-12-24,-1.50,1798135200,2026-12-24 18:00:00]",
              "[2,null,2026-12-24,-1.50,1798135200,2026-12-24 18:00:00]",
              "[3,new,2026-12-24,-1.50,1798135200,2026-12-24 18:00:00]",
              "[4,new,2026-12-24,2.00,1798135200,2026-12-24 18:00:00]"),
          rowsBothWays(fixture, query));
    } finally {
      fixture.spark.conf().set("spark.sql.session.timeZone", zone);
    }
  }

  private static void refused(MoveFixture fixture, String statement, String expected) {
    Throwable error = assertThrows(Throwable.class, () -> sql(fixture, statement));
    StringBuilder messages = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      messages.append(cause.getMessage()).append(" | ");
    }
    assertTrue(messages.toString().contains(expected), messages.toString());
  }
}
