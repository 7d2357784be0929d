package io.dataharness.integration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Reads of a harness table made of a Kafka topic, a PostgreSQL table and an Iceberg table, against
 * the real services: rows, types, nulls, metadata columns, version pinning, time travel, pruning,
 * and the same rows through the native union and the plain DataSource V2 scan.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HarnessReadTest {
  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();
  private final TestingKafka kafka = TestingKafka.shared();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "reads_" + suffix;
  private final String topic = "events_" + suffix;
  private final String pgTable = "events_" + suffix;
  private final String table = "harness." + namespace + ".events";
  private HarnessStore store;

  @BeforeAll
  void createTable() throws Exception {
    TestingDatabase metadata = testingSpark.metadataDatabase();
    store = HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password(), 2);
    kafka.createTopic(topic, 2);
    kafka.produceJson(topic, 0, List.of(event(1, "eu", 1.5), event(2, "eu", 2.5)));
    kafka.produceJson(topic, 1, List.of(event(3, "us", 3.5), "{\"id\": 4, \"region\": \"us\"}"));
    execute(
        "CREATE TABLE public."
            + pgTable
            + " (id BIGINT PRIMARY KEY, msg TEXT, region TEXT, amount"
            + " DOUBLE PRECISION)",
        "INSERT INTO public."
            + pgTable
            + " VALUES (10, 'ten', 'eu', 10.0), (11, NULL, 'eu', 11.0)");
    spark.sql(
        "CREATE TABLE iceberg.lake_"
            + suffix
            + ".events (id BIGINT NOT NULL, message STRING,"
            + " region STRING, amount DOUBLE) USING iceberg");
    spark.sql(
        "INSERT INTO iceberg.lake_"
            + suffix
            + ".events VALUES (20, 'twenty', 'us', 20.0), (21,"
            + " 'twenty-one', 'us', 21.0)");
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT NOT NULL, message STRING, region STRING, amount DOUBLE) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka', 'source.hot.topic' = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = 'public."
            + pgTable
            + "', 'source.warm.column.message' = 'msg', 'source.warm.partition-filter' = \"region"
            + " = 'eu'\", 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = 'lake_"
            + suffix
            + ".events', 'source.cold.partition-filter' = \"region = 'us'\", 'write.source' ="
            + " 'hot', 'primary-key' = 'id')");
  }

  @AfterAll
  void closeStore() {
    store.close();
  }

  private static String event(long id, String region, double amount) {
    return String.format(
        "{\"id\": %d, \"message\": \"m%d\", \"region\": \"%s\", \"amount\": %s}",
        id, id, region, amount);
  }

  private void execute(String... statements) throws Exception {
    try (Connection connection = testingSpark.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }

  private List<String> rows(String sql) {
    return rows(spark.sql(sql));
  }

  private static List<String> rows(Dataset<Row> frame) {
    return frame.collectAsList().stream().map(Row::toString).sorted().collect(Collectors.toList());
  }

  private static List<String> sorted(String... rows) {
    return java.util.Arrays.stream(rows).sorted().toList();
  }

  private <T> T withNativeUnion(boolean enabled, java.util.function.Supplier<T> body) {
    String key = "spark.dataharness.read.native-union";
    spark.conf().set(key, String.valueOf(enabled));
    try {
      return body.get();
    } finally {
      spark.conf().unset(key);
    }
  }

  @Test
  void readsTheUnionOfAllThreeSourcesAtVersionOne() {
    List<String> expected =
        sorted(
            "[10,ten,eu,10.0,warm]",
            "[11,null,eu,11.0,warm]",
            "[1,m1,eu,1.5,hot]",
            "[20,twenty,us,20.0,cold]",
            "[21,twenty-one,us,21.0,cold]",
            "[2,m2,eu,2.5,hot]",
            "[3,m3,us,3.5,hot]",
            "[4,null,us,null,hot]");
    String query = "SELECT id, message, region, amount, _source FROM " + table + " VERSION AS OF 1";
    assertEquals(expected, rows(query));
    assertEquals("bigint", spark.table(table).schema().apply("id").dataType().simpleString());
    assertEquals(1L, store.loadTable(TableIdentifier.of(namespace, "events")).currentVersion());
  }

  @Test
  void kafkaMetadataColumnsAreFilledAndNullForOtherSources() {
    List<String> rows =
        rows(
            "SELECT id, _kafka_partition, _kafka_offset, _kafka_timestamp IS NOT NULL, _kafka_key"
                + " FROM "
                + table
                + " VERSION AS OF 1 WHERE id IN (2, 3, 10)");
    assertEquals(
        sorted("[10,null,null,false,null]", "[2,0,1,true,null]", "[3,1,0,true,null]"), rows);
  }

  @Test
  void nativeUnionAndPlainScanReturnTheSameRows() {
    String query =
        "SELECT id, message, region, amount, _source, _kafka_offset FROM "
            + table
            + " VERSION AS OF 1";
    List<String> native_ = withNativeUnion(true, () -> rows(query));
    List<String> plain = withNativeUnion(false, () -> rows(query));
    assertEquals(8, native_.size());
    assertEquals(native_, plain);
    String nativePlan =
        withNativeUnion(true, () -> spark.sql(query).queryExecution().optimizedPlan().toString());
    String plainPlan =
        withNativeUnion(false, () -> spark.sql(query).queryExecution().executedPlan().toString());
    assertTrue(nativePlan.contains("Union"), nativePlan);
    assertTrue(plainPlan.contains("DataSource V2 fallback"), plainPlan);
  }

  @Test
  void partitionFiltersPruneSourcesBeforeTheyAreOpened() {
    String query = "SELECT id, _source FROM " + table + " VERSION AS OF 1 WHERE region = 'eu'";
    String plan = spark.sql(query).queryExecution().optimizedPlan().toString();
    assertTrue(!plan.toLowerCase().contains("iceberg"), plan);
    List<String> expected = sorted("[10,warm]", "[11,warm]", "[1,hot]", "[2,hot]");
    assertEquals(expected, rows(query));
    assertEquals(expected, withNativeUnion(false, () -> rows(query)));
  }

  @Test
  void aVersionReadsTheSameRowsAfterLaterChanges() throws Exception {
    TableIdentifier identifier = TableIdentifier.of(namespace, "events");
    String query = "SELECT id, message, amount FROM " + table + " VERSION AS OF 1";
    List<String> before = rows(query);
    // later: more Kafka messages, an in-place PostgreSQL update, a new Iceberg snapshot
    kafka.produceJson(topic, 0, List.of(event(5, "eu", 5.5)));
    execute("UPDATE public." + pgTable + " SET msg = 'TEN', amount = 100 WHERE id = 10");
    spark.sql("INSERT INTO iceberg.lake_" + suffix + ".events VALUES (22, 'x', 'us', 22.0)");
    TableVersion first = store.readVersion(identifier, 1);
    SourceState.Kafka hot = (SourceState.Kafka) first.state("hot");
    assertEquals(before, rows(query));
    assertEquals(before, withNativeUnion(false, () -> rows(query)));

    // a commit that records the new PostgreSQL read timestamp makes the update visible
    store
        .newTransaction(identifier)
        .operation("sync")
        .setSourceState(
            "warm",
            first.state("warm"),
            new SourceState.Jdbc(java.time.Instant.now().minus(Duration.ofMillis(1))))
        .commit();
    String second = "SELECT id, message, amount FROM " + table + " VERSION AS OF 2 WHERE id = 10";
    assertEquals(List.of("[10,TEN,100.0]"), rows(second));
    assertEquals(List.of("[10,ten,10.0]"), rows(query + " WHERE id = 10"));
    // kafka pinned at version 1: offsets [0, 2) of partition 0 only
    assertEquals(2, hot.partition(0).end());
  }

  @Test
  void aHarnessReadCanBeWrittenToAnotherTable() throws Exception {
    String copy = "iceberg.lake_" + suffix + ".copy";
    spark.sql(
        "CREATE TABLE "
            + copy
            + " (id BIGINT, message STRING, region STRING, amount DOUBLE) USING"
            + " iceberg");
    spark.sql(
        "INSERT INTO "
            + copy
            + " SELECT id, message, region, amount FROM "
            + table
            + " VERSION AS OF 1");
    spark.read().option("version", "1").table(table).where("region = 'us'").writeTo(copy).append();
    spark
        .sql(
            "SELECT id, message, region, amount FROM "
                + table
                + " VERSION AS OF 1 WHERE _source"
                + " = 'hot'")
        .writeTo(copy)
        .append();
    assertEquals(8 + 4 + 4, spark.table(copy).count());
  }

  @Test
  void describeExtendedShowsSourcesStatesAndVersion() {
    String described =
        spark.sql("DESCRIBE TABLE EXTENDED " + table).collectAsList().stream()
            .map(Row::toString)
            .collect(Collectors.joining("\n"));
    assertTrue(described.contains("harness.version="), described);
    assertTrue(described.contains("harness.source.hot=kafka via connection 'kafka'"), described);
    assertTrue(described.contains("\"kind\":\"jdbc\",\"read-timestamp\""), described);
    assertTrue(described.contains("[id,bigint,"), described);
  }

  @Test
  void badTablePropertiesAreRefusedWithWhatToSet() {
    Exception unknownConnection =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "CREATE TABLE harness."
                        + namespace
                        + ".bad (id BIGINT) TBLPROPERTIES ('source.a.kind' = 'kafka',"
                        + " 'source.a.connection' = 'nope', 'source.a.topic' = 't')"));
    assertTrue(
        unknownConnection.getMessage().contains("source.a.connection"),
        unknownConnection.getMessage());
    Exception missingTopic =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "CREATE TABLE harness."
                        + namespace
                        + ".bad (id BIGINT) TBLPROPERTIES ('source.a.kind' = 'kafka',"
                        + " 'source.a.connection' = 'kafka')"));
    assertTrue(missingTopic.getMessage().contains("source.a.topic"), missingTopic.getMessage());
    Exception unknownSetting =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "CREATE TABLE harness."
                        + namespace
                        + ".bad (id BIGINT) TBLPROPERTIES ('source.a.kind' = 'jdbc',"
                        + " 'source.a.connection' = 'pg', 'source.a.table' = 'x', 'source.a.topic' = 'y')"));
    assertTrue(unknownSetting.getMessage().contains("source.a.topic"), unknownSetting.getMessage());
    List<String> tables =
        spark.sql("SHOW TABLES IN harness." + namespace).collectAsList().stream()
            .map(row -> row.getString(1))
            .toList();
    assertEquals(List.of("events"), tables);
  }
}
