package io.dataharness.integration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.iceberg.Table;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What users see when data cannot be read as recorded: malformed messages, offsets deleted by
 * retention, expired snapshots; and time travel by timestamp and the metadata tables.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HarnessReadErrorsTest {
  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();
  private final TestingKafka kafka = TestingKafka.shared();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "errors_" + suffix;
  private HarnessStore store;

  @BeforeAll
  void setUp() {
    TestingDatabase metadata = testingSpark.metadataDatabase();
    store = HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password(), 2);
    spark.sql("CREATE NAMESPACE harness." + namespace);
  }

  @AfterAll
  void closeStore() {
    store.close();
  }

  private String kafkaTable(String name, String topic) {
    String table = "harness." + namespace + "." + name;
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT, message STRING) TBLPROPERTIES ('source.hot.kind' = 'kafka',"
            + " 'source.hot.connection' = 'kafka', 'source.hot.topic' = '"
            + topic
            + "')");
    return table;
  }

  private static String messages(Throwable error) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      text.append(cause.getMessage()).append('\n');
    }
    return text.toString();
  }

  private List<String> rows(org.apache.spark.sql.Dataset<Row> frame) {
    return frame.collectAsList().stream().map(Row::toString).sorted().collect(Collectors.toList());
  }

  @Test
  void malformedMessagesFailFastNamingTopicPartitionAndOffset() {
    String topic = "malformed_" + suffix;
    kafka.createTopic(topic, 1);
    kafka.produceJson(topic, 0, List.of("{\"id\": 1, \"message\": \"ok\"}", "not json"));
    String table = kafkaTable("malformed", topic);
    Exception failure = assertThrows(Exception.class, () -> spark.table(table).collectAsList());
    String text = messages(failure);
    assertTrue(text.contains("topic " + topic + " partition 0 offset 1"), text);
    assertTrue(text.contains("kafka.malformed=PERMISSIVE"), text);

    List<String> permissive =
        rows(
            spark
                .read()
                .option("kafka.malformed", "PERMISSIVE")
                .table(table)
                .select("id", "message", "_corrupt_record"));
    assertEquals(List.of("[1,ok,null]", "[null,null,not json]"), permissive);
  }

  /**
   * The malformed-record check runs in the one decode of each message, whatever the query keeps of
   * it: a count, a filter the malformed message does not match (its fields read null), a group-by,
   * a join; PERMISSIVE reads such messages as before.
   */
  @Test
  void everyQueryShapeChecksEachMessageInItsOneDecode() {
    String topic = "malformed_shapes_" + suffix;
    kafka.createTopic(topic, 2);
    kafka.produceJson(topic, 0, List.of("{\"id\": 1, \"message\": \"ok\"}"));
    kafka.produceJson(
        topic,
        1,
        List.of(
            "{\"id\": 2, \"message\": \"ok\"}", "{\"id\": 3, \"message\": \"ok\"}", "not json"));
    String table = kafkaTable("malformed_shapes", topic);
    assertEveryQueryShapeFails(table, "topic " + topic + " partition 1 offset 2");
    // one from_json in the plan: the check and the query's filter read the same decoded message
    String plan =
        spark
            .sql(
                "SELECT message, count(*) FROM " + table + " WHERE message = 'ok' GROUP BY message")
            .queryExecution()
            .executedPlan()
            .toString();
    assertEquals(1, plan.split("from_json\\(", -1).length - 1, plan);

    org.apache.spark.sql.Dataset<Row> permissive =
        spark.read().option("kafka.malformed", "PERMISSIVE").table(table);
    assertEquals(4, permissive.count());
    assertEquals(3, permissive.filter("message = 'ok'").count());
    assertEquals(1, permissive.filter("message IS NULL").count());
    assertEquals(
        List.of("[1,2,null,not json]"),
        rows(
            permissive
                .filter("_corrupt_record IS NOT NULL")
                .select("_kafka_partition", "_kafka_offset", "id", "_corrupt_record")));

    // valid JSON with a value of the wrong type is malformed too
    String typesTopic = "malformed_types_" + suffix;
    kafka.createTopic(typesTopic, 1);
    kafka.produceJson(
        typesTopic,
        0,
        List.of("{\"id\": 1, \"message\": \"ok\"}", "{\"id\": \"two\", \"message\": \"ok\"}"));
    String types = kafkaTable("malformed_types", typesTopic);
    assertEveryQueryShapeFails(types, "topic " + typesTopic + " partition 0 offset 1");
    assertEquals(
        List.of("[0,1,{\"id\": \"two\", \"message\": \"ok\"}]"),
        rows(
            spark
                .read()
                .option("kafka.malformed", "PERMISSIVE")
                .table(types)
                .filter("_corrupt_record IS NOT NULL")
                .select("_kafka_partition", "_kafka_offset", "_corrupt_record")));
  }

  private void assertEveryQueryShapeFails(String table, String where) {
    String keys = "malformed_keys_" + suffix;
    spark
        .range(5)
        .selectExpr("id AS key", "concat('k', id) AS label")
        .createOrReplaceTempView(keys);
    List<String> queries =
        List.of(
            "SELECT count(*) FROM " + table,
            "SELECT count(*) FROM " + table + " WHERE message = 'ok'",
            "SELECT id FROM " + table + " WHERE id = 1",
            "SELECT message, count(*) FROM " + table + " GROUP BY message",
            "SELECT k.label, count(*) FROM "
                + table
                + " t JOIN "
                + keys
                + " k ON t.id = k.key GROUP BY k.label");
    // also without whole-stage code generation (as for tables of more than 100 columns), where a
    // filter's conditions run in the order the optimizer left them
    String wholeStage = spark.conf().get("spark.sql.codegen.wholeStage");
    try {
      for (String codegen : List.of("true", "false")) {
        spark.conf().set("spark.sql.codegen.wholeStage", codegen);
        for (String query : queries) {
          Exception failure =
              assertThrows(Exception.class, () -> spark.sql(query).collectAsList(), query);
          String text = messages(failure);
          assertTrue(text.contains("source 'hot' (kafka)"), query + ": " + text);
          assertTrue(text.contains(where), query + ": " + text);
          assertTrue(text.contains("kafka.malformed=PERMISSIVE"), query + ": " + text);
        }
      }
    } finally {
      spark.conf().set("spark.sql.codegen.wholeStage", wholeStage);
    }
  }

  @Test
  void offsetsDeletedByRetentionFailTheScanInsteadOfReturningFewerRows() {
    String topic = "retention_" + suffix;
    kafka.createTopic(topic, 1);
    kafka.produceJson(
        topic, 0, List.of("{\"id\": 1}", "{\"id\": 2}", "{\"id\": 3}", "{\"id\": 4}"));
    String table = kafkaTable("retention", topic);
    assertEquals(4, spark.table(table).count());
    kafka.deleteRecordsBefore(topic, 0, 2);
    Exception failure = assertThrows(Exception.class, () -> spark.table(table).collectAsList());
    String text = messages(failure);
    assertTrue(text.contains(namespace + ".retention at version 1"), text);
    assertTrue(text.contains("[0, 2)"), text);
  }

  @Test
  void anExpiredIcebergSnapshotFailsNamingTableVersionAndSnapshot() {
    String lake = "iceberg.expire_" + suffix + ".events";
    spark.sql("CREATE TABLE " + lake + " (id BIGINT, message STRING) USING iceberg");
    spark.sql("INSERT INTO " + lake + " VALUES (1, 'a')");
    String table = "harness." + namespace + ".expiring";
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT, message STRING) TBLPROPERTIES ('source.cold.kind' = 'iceberg',"
            + " 'source.cold.connection' = 'lake', 'source.cold.table' = 'expire_"
            + suffix
            + ".events')");
    assertEquals(1, spark.table(table).count());
    spark.sql("INSERT INTO " + lake + " VALUES (2, 'b')");
    Table iceberg =
        TestingIceberg.shared()
            .catalog()
            .loadTable(org.apache.iceberg.catalog.TableIdentifier.of("expire_" + suffix, "events"));
    long first = iceberg.history().get(0).snapshotId();
    iceberg.expireSnapshots().expireSnapshotId(first).commit();
    Exception failure = assertThrows(Exception.class, () -> spark.table(table).collectAsList());
    String text = messages(failure);
    assertTrue(text.contains("version 1"), text);
    assertTrue(text.contains(String.valueOf(first)), text);
    assertTrue(text.contains("source 'cold'"), text);
  }

  @Test
  void timeTravelByTimestampAndMetadataTables() throws Exception {
    String topic = "travel_" + suffix;
    kafka.createTopic(topic, 1);
    kafka.produceJson(topic, 0, List.of("{\"id\": 1}"));
    String table = kafkaTable("travel", topic);
    TableIdentifier identifier = TableIdentifier.of(namespace, "travel");
    Instant afterFirst = store.readLatest(identifier).commit().committedAt();
    Thread.sleep(20);
    kafka.produceJson(topic, 0, List.of("{\"id\": 2}"));
    var lock = store.acquireLock(identifier, "hot", "test-sync", Duration.ofMinutes(1));
    store
        .newTransaction(identifier)
        .operation("sync")
        .withLock(lock)
        .setSourceState(
            "hot",
            io.dataharness.metadata.SourceState.Kafka.of(
                java.util.Map.of(0, new io.dataharness.metadata.SourceState.OffsetRange(0, 2))))
        .summary("rows", "1")
        .commit();
    assertEquals(
        1, spark.sql("SELECT * FROM " + table + " TIMESTAMP AS OF '" + afterFirst + "'").count());
    assertEquals(2, spark.sql("SELECT * FROM " + table + " VERSION AS OF 2").count());
    assertEquals(1, spark.read().option("version", "1").table(table).count());

    assertEquals(
        List.of("[1,create]", "[2,sync]"),
        rows(spark.sql("SELECT version, operation FROM " + table + ".versions")));
    assertEquals(
        List.of("[2,hot,{\"kind\":\"kafka\",\"partitions\":{\"0\":{\"end\":2,\"start\":0}}}]"),
        rows(
            spark.sql(
                "SELECT version, source, state FROM " + table + ".sources WHERE version = 2")));
    assertEquals(
        List.of("[2,hot]"),
        rows(spark.sql("SELECT version, source FROM " + table + ".commits WHERE version = 2")));
    assertEquals(
        List.of("[hot,test-sync]"),
        rows(spark.sql("SELECT source, owner FROM " + table + ".locks")));
    store.releaseLock(lock);
    assertEquals(0, spark.sql("SELECT * FROM " + table + ".locks").count());
  }

  /**
   * What PySpark users get for a bad read: Spark's AnalysisException with an error condition and a
   * SQLSTATE, the harness's message in its message and the harness exception as its cause.
   */
  private static org.apache.spark.sql.AnalysisException analysisError(
      String what, org.junit.jupiter.api.function.Executable read, String parameter, String text) {
    Throwable error = assertThrows(Throwable.class, read, what);
    assertTrue(
        error instanceof org.apache.spark.sql.AnalysisException,
        what + " -> " + error.getClass().getName() + ": " + error.getMessage());
    var analysis = (org.apache.spark.sql.AnalysisException) error;
    assertEquals("INVALID_PARAMETER_VALUE.PATTERN", analysis.getCondition(), analysis.getMessage());
    assertEquals("22023", analysis.getSqlState());
    assertTrue(
        analysis.getCause() instanceof io.dataharness.metadata.ValidationException,
        what + " -> cause " + analysis.getCause());
    assertTrue(
        analysis
            .getMessage()
            .contains("The value of parameter(s) `" + parameter + "` in table `harness`.`"),
        what + " -> " + analysis.getMessage());
    assertTrue(analysis.getMessage().contains(text), what + " -> " + analysis.getMessage());
    return analysis;
  }

  @Test
  void badTimeTravelAndReadOptionsAreAnalysisExceptionsThatChangeNothing() {
    String topic = "bad_reads_" + suffix;
    kafka.createTopic(topic, 1);
    kafka.produceJson(topic, 0, List.of("{\"id\": 1, \"message\": \"one\"}"));
    String table = kafkaTable("bad_reads", topic);
    TableIdentifier identifier = TableIdentifier.of(namespace, "bad_reads");
    long version = store.readLatest(identifier).version();
    List<String> before = rows(spark.table(table));
    assertEquals(List.of("[1,one]"), before);

    analysisError(
        "VERSION AS OF 99",
        () -> spark.sql("SELECT * FROM " + table + " VERSION AS OF 99").collect(),
        "VERSION AS OF",
        "Cannot read version 99 of table " + identifier + ": its versions are 1 to " + version);
    analysisError(
        "VERSION AS OF 'first'",
        () -> spark.sql("SELECT * FROM " + table + " VERSION AS OF 'first'").collect(),
        "VERSION AS OF",
        "Invalid version 'first' for " + identifier + ": harness versions are numbers");
    analysisError(
        "TIMESTAMP AS OF 2000",
        () ->
            spark
                .sql("SELECT * FROM " + table + " TIMESTAMP AS OF '2000-01-01T00:00:00Z'")
                .collect(),
        "TIMESTAMP AS OF",
        "Cannot read table " + identifier + " as of 2000-01-01T00:00:00Z: its first version was");
    analysisError(
        "locks VERSION AS OF 1",
        () -> spark.sql("SELECT * FROM " + table + ".locks VERSION AS OF 1").collect(),
        "VERSION AS OF",
        "Cannot read " + identifier + ".locks with VERSION AS OF 1: locks are not versioned");
    analysisError(
        "read option version=99",
        () -> spark.read().option("version", "99").table(table).collect(),
        "version",
        "Cannot read version 99 of table " + identifier);
    analysisError(
        "read option version=first",
        () -> spark.read().option("version", "first").table(table).collect(),
        "version",
        "Invalid read option version=first for " + identifier + ": use a version number");
    analysisError(
        "read option timestamp=yesterday",
        () -> spark.read().option("timestamp", "yesterday").table(table + ".versions").collect(),
        "timestamp",
        "Invalid read option timestamp=yesterday for " + identifier + ": use ISO-8601");
    analysisError(
        "read option kafka.read-mode=newest",
        () -> spark.read().option("kafka.read-mode", "newest").table(table).collect(),
        "kafka.read-mode",
        "Invalid read option kafka.read-mode=newest: use pinned or latest");
    analysisError(
        "read option kafka.readmode (misspelt)",
        () -> spark.read().option("kafka.readmode", "pinned").table(table).collect(),
        "kafka.readmode",
        "Cannot read "
            + table
            + ": 'kafka.readmode' is not a read option of a harness table; did you mean"
            + " 'kafka.read-mode'?");
    analysisError(
        "read option mergeSchema on a metadata table",
        () -> spark.read().option("mergeSchema", "true").table(table + ".versions").collect(),
        "mergeSchema",
        "'mergeSchema' is not a read option of a harness table; its read options are version,"
            + " timestamp, kafka.read-mode, kafka.malformed");

    assertEquals(version, store.readLatest(identifier).version(), "no version was committed");
    assertEquals(version, store.history(identifier, 0, 1000).size(), "no version was added");
    assertEquals(before, rows(spark.table(table)));
  }
}
