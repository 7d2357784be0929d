package io.dataharness.integration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.MetadataJson;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
 * The dedup view and the metadata tables with {@code VERSION AS OF}, {@code TIMESTAMP AS OF} and
 * the read options {@code version} / {@code timestamp}, and their names under the current namespace
 * ({@code USE harness.ns}), against the real services. Four versions of a table with a Kafka and a
 * PostgreSQL source; every expectation is computed by brute force from the table read at the same
 * version.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HarnessViewsTimeTravelTest {
  private static final DateTimeFormatter SQL_TIMESTAMP =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSS").withZone(ZoneOffset.UTC);

  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "views_" + suffix;
  private final String tableName = "orders_" + suffix;
  private final String pgTable = "views_" + suffix;
  private final String table = "harness." + namespace + "." + tableName;
  private final TableIdentifier identifier = TableIdentifier.of(namespace, tableName);
  private HarnessStore store;

  @BeforeAll
  void createFourVersions() throws Exception {
    TestingDatabase metadata = testingSpark.metadataDatabase();
    store = HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password(), 2);
    String topic = "views_" + suffix;
    TestingKafka kafka = TestingKafka.shared();
    kafka.createTopic(topic, 1);
    kafka.produceJson(
        topic,
        0,
        List.of(
            "{\"id\": 1, \"status\": \"k-a\", \"updated\": 5}",
            "{\"id\": 2, \"status\": \"k-b\", \"updated\": 1}"));
    postgres(
        "CREATE TABLE public." + pgTable + " (id BIGINT PRIMARY KEY, status TEXT, updated BIGINT)",
        "INSERT INTO public." + pgTable + " VALUES (1, 'pg-a', 3), (2, 'pg-b', 4), (3, 'pg-c', 1)");
    spark.sql("CREATE NAMESPACE harness." + namespace);
    // version 1
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT NOT NULL, status STRING, updated BIGINT) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka', 'source.hot.topic'"
            + " = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = 'public."
            + pgTable
            + "', 'write.source' = 'hot', 'primary-key' = 'id', 'ordering-column' = 'updated')");
    // version 2: produced to Kafka, then a sync records it: a newer image of 2, a new key 4
    // (a harness append would add an intent version before its own)
    kafka.produceJson(
        topic,
        0,
        List.of(
            "{\"id\": 2, \"status\": \"k-b2\", \"updated\": 9}",
            "{\"id\": 4, \"status\": \"k-d\", \"updated\": 2}"));
    sync();
    // version 3: PostgreSQL changed in place, then a sync records it
    postgres(
        "UPDATE public." + pgTable + " SET status = 'pg-c2', updated = 10 WHERE id = 3",
        "INSERT INTO public." + pgTable + " VALUES (5, 'pg-e', 1)");
    sync();
    // version 4: an older image of 1 (not its latest) and a newer one of 4
    kafka.produceJson(
        topic,
        0,
        List.of(
            "{\"id\": 1, \"status\": \"k-a4\", \"updated\": 1}",
            "{\"id\": 4, \"status\": \"k-d4\", \"updated\": 7}"));
    sync();
    assertEquals(4, store.loadTable(identifier).currentVersion());
  }

  private void sync() {
    spark.sql("CALL harness.system.sync(table => '" + namespace + "." + tableName + "')").collect();
  }

  @AfterAll
  void closeStore() {
    store.close();
  }

  private void postgres(String... statements) throws Exception {
    try (Connection connection = testingSpark.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }

  private static List<String> rows(Dataset<Row> frame) {
    return frame.collectAsList().stream().map(Row::toString).sorted().collect(Collectors.toList());
  }

  private List<String> rows(String sql) {
    return rows(spark.sql(sql));
  }

  /** One image per key, computed by hand from every image of the table at that version. */
  private List<String> dedupByHand(long version) {
    Map<Long, Row> latest = new HashMap<>();
    for (Row row :
        spark
            .sql("SELECT id, status, updated, _source FROM " + table + " VERSION AS OF " + version)
            .collectAsList()) {
      Row kept = latest.get(row.getLong(0));
      if (kept == null || newer(row, kept)) {
        latest.put(row.getLong(0), row);
      }
    }
    return latest.values().stream().map(Row::toString).sorted().toList();
  }

  /** By the ordering column, then by the default precedence (Kafka's 'hot' before 'warm'). */
  private static boolean newer(Row candidate, Row kept) {
    long a = candidate.isNullAt(2) ? Long.MIN_VALUE : candidate.getLong(2);
    long b = kept.isNullAt(2) ? Long.MIN_VALUE : kept.getLong(2);
    return a != b ? a > b : candidate.getString(3).equals("hot");
  }

  private String committedAt(long version) {
    return SQL_TIMESTAMP.format(store.readVersion(identifier, version).commit().committedAt());
  }

  private Instant committedAtInstant(long version) {
    return store.readVersion(identifier, version).commit().committedAt();
  }

  private static String message(Throwable error) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      text.append(cause.getMessage()).append(" / ");
    }
    return text.toString();
  }

  @Test
  void theDedupViewAtEachVersionIsTheDedupOfThatVersion() {
    String columns = "SELECT id, status, updated, _source FROM ";
    List<List<String>> byVersion = new ArrayList<>();
    for (long version = 1; version <= 4; version++) {
      List<String> expected = dedupByHand(version);
      byVersion.add(expected);
      assertEquals(
          expected, rows(columns + table + ".latest VERSION AS OF " + version), "v" + version);
      assertEquals(
          expected,
          rows(columns + table + ".latest TIMESTAMP AS OF '" + committedAt(version) + "'"),
          "timestamp of v" + version);
      assertEquals(
          expected,
          rows(
              spark
                  .read()
                  .option("version", String.valueOf(version))
                  .table(table + ".latest")
                  .select("id", "status", "updated", "_source")),
          "read option version=" + version);
      assertEquals(
          expected,
          rows(
              spark
                  .read()
                  .option("timestamp", committedAtInstant(version).toString())
                  .table(table + ".latest")
                  .select("id", "status", "updated", "_source")),
          "read option timestamp of v" + version);
    }
    // the four versions differ, so reading the wrong one fails above
    assertEquals(List.of("[1,k-a,5,hot]", "[2,pg-b,4,warm]", "[3,pg-c,1,warm]"), byVersion.get(0));
    assertEquals(
        List.of(
            "[1,k-a,5,hot]",
            "[2,k-b2,9,hot]",
            "[3,pg-c2,10,warm]",
            "[4,k-d4,7,hot]",
            "[5,pg-e,1,warm]"),
        byVersion.get(3));
    assertEquals(4, byVersion.stream().distinct().count());
    assertEquals(byVersion.get(3), rows(columns + table + ".latest"));
    // filters apply to the latest image as of the version
    assertEquals(
        List.of("[2,pg-b]"),
        rows("SELECT id, status FROM " + table + ".latest VERSION AS OF 1 WHERE id = 2"));
    assertEquals(
        List.of(),
        rows("SELECT id FROM " + table + ".latest VERSION AS OF 4 WHERE status = 'k-a4'"));
  }

  @Test
  void timeTravelOfTheDedupViewToAMissingVersionNamesIt() {
    Exception error =
        assertThrows(
            Exception.class,
            () -> spark.sql("SELECT * FROM " + table + ".latest VERSION AS OF 99").collect());
    assertTrue(message(error).contains("version 99"), message(error));
  }

  @Test
  void metadataTablesAsOfAVersionShowVersionsUpToIt() {
    for (long version = 1; version <= 4; version++) {
      String asOf = " VERSION AS OF " + version;
      String upTo = " WHERE version <= " + version;
      List<String> versions = new ArrayList<>();
      for (long v = 1; v <= version; v++) {
        versions.add("[" + v + "]");
      }
      assertEquals(versions, rows("SELECT version FROM " + table + ".versions" + asOf));
      assertEquals(
          rows("SELECT * FROM " + table + ".versions" + upTo),
          rows("SELECT * FROM " + table + ".versions" + asOf));
      assertEquals(
          rows("SELECT * FROM " + table + ".sources" + upTo),
          rows("SELECT * FROM " + table + ".sources" + asOf));
      assertEquals(
          rows("SELECT * FROM " + table + ".commits" + upTo),
          rows("SELECT * FROM " + table + ".commits" + asOf));
      assertEquals(
          rows("SELECT * FROM " + table + ".commits" + upTo),
          rows(
              "SELECT * FROM "
                  + table
                  + ".commits TIMESTAMP AS OF '"
                  + committedAt(version)
                  + "'"));
      assertEquals(
          versions,
          rows(
              spark
                  .read()
                  .option("version", String.valueOf(version))
                  .table(table + ".versions")
                  .select("version")));
      assertEquals(
          versions,
          rows(
              spark
                  .read()
                  .option("timestamp", committedAtInstant(version).toString())
                  .table(table + ".versions")
                  .select("version")));
      // the sources at that version are exactly the states the version records
      TableVersion recorded = store.readVersion(identifier, version);
      List<String> states =
          recorded.sourceStates().entrySet().stream()
              .map(entry -> "[" + entry.getKey() + "," + MetadataJson.stateJson(entry.getValue()))
              .map(text -> text + "]")
              .sorted()
              .toList();
      assertEquals(
          states,
          rows(
              "SELECT source, state FROM "
                  + table
                  + ".sources"
                  + asOf
                  + " WHERE version = "
                  + version));
    }
    assertEquals(4, spark.sql("SELECT * FROM " + table + ".versions").count());
    // version 3 changed the PostgreSQL state: the sources before it lack that state
    assertNotEquals(
        rows("SELECT state FROM " + table + ".sources VERSION AS OF 2 WHERE source = 'warm'"),
        rows("SELECT state FROM " + table + ".sources VERSION AS OF 3 WHERE source = 'warm'"));
  }

  @Test
  void filtersOnVersionAndLimitsAreReadFromTheStoreAndSelectTheSameRows() {
    List<String> conditions =
        List.of(
            "version = 2",
            "version > 2",
            "version >= 2 AND version < 4",
            "version IN (1, 3, 9)",
            "version < 1",
            "version > 9",
            "version <= 3 AND version IN (3, 4)",
            "version = 2 OR version = 4",
            "version > 1 AND operation = 'sync'",
            "version + 1 = 3");
    for (String metadataTable : List.of("versions", "sources", "commits")) {
      String name = table + "." + metadataTable;
      // every row, filtered by Spark: what the pushed filters must select
      Dataset<Row> all = spark.sql("SELECT * FROM " + name);
      spark.createDataFrame(all.collectAsList(), all.schema()).createOrReplaceTempView("every_row");
      for (String condition : conditions) {
        if (condition.contains("operation") && metadataTable.equals("sources")) {
          continue;
        }
        String query = "SELECT * FROM " + name + " WHERE " + condition;
        assertEquals(
            rows("SELECT * FROM every_row WHERE " + condition), rows(query), name + ": " + query);
      }
      assertEquals(
          rows("SELECT * FROM every_row WHERE version = 3"),
          rows("SELECT * FROM " + name + " VERSION AS OF 3 WHERE version >= 3"));
      assertEquals(
          List.of(),
          rows("SELECT * FROM " + name + " VERSION AS OF 2 WHERE version = 3"),
          "time travel bounds the pushed range");
      List<Row> limited = spark.sql("SELECT * FROM " + name + " LIMIT 2").collectAsList();
      assertEquals(2, limited.size(), name);
      assertEquals(
          rows("SELECT * FROM every_row WHERE version >= 3"),
          rows(
              "SELECT * FROM "
                  + name
                  + " WHERE version >= 3 LIMIT "
                  + spark.sql("SELECT * FROM every_row WHERE version >= 3").count()));
    }
  }

  @Test
  void locksRefuseTimeTravelAndSayWhatToReadInstead() {
    Exception sql =
        assertThrows(
            Exception.class,
            () -> spark.sql("SELECT * FROM " + table + ".locks VERSION AS OF 2").collect());
    assertTrue(message(sql).contains(namespace + "." + tableName + ".locks"), message(sql));
    assertTrue(message(sql).contains("not versioned"), message(sql));
    Exception timestamp =
        assertThrows(
            Exception.class,
            () ->
                spark
                    .sql(
                        "SELECT * FROM "
                            + table
                            + ".locks TIMESTAMP AS OF '"
                            + committedAt(2)
                            + "'")
                    .collect());
    assertTrue(message(timestamp).contains("not versioned"), message(timestamp));
    Exception option =
        assertThrows(
            Exception.class,
            () -> spark.read().option("version", "2").table(table + ".locks").collect());
    assertTrue(message(option).contains("version=2"), message(option));
    assertEquals(0, spark.sql("SELECT * FROM " + table + ".locks").count());
  }

  @Test
  void aMetadataTableRefusesTimeTravelAndAReadOptionThatDisagree() {
    assertEquals(
        List.of("[1]", "[2]", "[3]"),
        rows("SELECT version FROM " + table + ".versions VERSION AS OF 3 WITH ('version' = '3')"));
    Exception conflict =
        assertThrows(
            Exception.class,
            () ->
                spark
                    .sql(
                        "SELECT version FROM "
                            + table
                            + ".versions VERSION AS OF 3 WITH ('version' = '2')")
                    .collect());
    assertTrue(message(conflict).contains("version=2 selects version 2"), message(conflict));
  }

  @Test
  void theDedupViewRefusesTimeTravelAndAReadOptionThatDisagree() {
    String columns = "SELECT id, status, updated, _source FROM ";
    assertEquals(
        dedupByHand(2), rows(columns + table + ".latest VERSION AS OF 2 WITH ('version' = '2')"));
    Exception conflict =
        assertThrows(
            Exception.class,
            () ->
                spark
                    .sql(columns + table + ".latest VERSION AS OF 2 WITH ('version' = '3')")
                    .collect());
    assertTrue(message(conflict).contains("version=3 selects version 3"), message(conflict));
    assertTrue(message(conflict).contains(".latest"), message(conflict));
  }

  @Test
  void metadataTablesRefuseAMissingVersion() {
    Exception error =
        assertThrows(
            Exception.class,
            () -> spark.sql("SELECT * FROM " + table + ".versions VERSION AS OF 99").collect());
    assertTrue(message(error).contains("version 99"), message(error));
  }

  @Test
  void viewsResolveUnderTheCurrentNamespace() {
    SparkSession session = spark.newSession();
    session.sql("USE harness." + namespace);
    String columns = "SELECT id, status, updated, _source FROM ";
    assertEquals(dedupByHand(4), rows(session.sql(columns + tableName + ".latest")));
    assertEquals(
        dedupByHand(2), rows(session.sql(columns + tableName + ".latest VERSION AS OF 2")));
    assertEquals(
        dedupByHand(3),
        rows(
            session
                .read()
                .option("version", "3")
                .table(tableName + ".latest")
                .select("id", "status", "updated", "_source")));
    assertEquals(
        List.of("[1]", "[2]"),
        rows(session.sql("SELECT version FROM " + tableName + ".versions VERSION AS OF 2")));
    assertEquals(
        rows("SELECT * FROM " + table + ".sources"),
        rows(session.sql("SELECT * FROM " + tableName + ".sources")));
    assertEquals(
        rows("SELECT * FROM " + table + " VERSION AS OF 1"),
        rows(session.sql("SELECT * FROM " + tableName + " VERSION AS OF 1")));
    // without the USE, the same name is not found
    Exception unknown =
        assertThrows(
            Exception.class, () -> spark.sql("SELECT * FROM harness." + tableName + ".versions"));
    assertTrue(message(unknown).contains("TABLE_OR_VIEW_NOT_FOUND"), message(unknown));
  }

  @Test
  void aTableNamedLikeTheViewTakesPrecedenceUnderTheCurrentNamespace() {
    // table <namespace>.<shadow>, and namespace <shadow> holding a table named 'latest'
    String shadow = "shadow_" + suffix;
    String lake = "views_lake_" + suffix;
    spark.sql("CREATE TABLE iceberg." + lake + ".base (id BIGINT NOT NULL, status STRING)");
    spark.sql("INSERT INTO iceberg." + lake + ".base VALUES (1, 'the-view')");
    spark.sql("CREATE TABLE iceberg." + lake + ".latest (id BIGINT NOT NULL, status STRING)");
    spark.sql("INSERT INTO iceberg." + lake + ".latest VALUES (42, 'the-table')");
    spark.sql(
        "CREATE TABLE harness."
            + namespace
            + "."
            + shadow
            + " (id BIGINT NOT NULL, status STRING) TBLPROPERTIES ('source.cold.kind' ="
            + " 'iceberg', 'source.cold.connection' = 'lake', 'source.cold.table' = '"
            + lake
            + ".base', 'primary-key' = 'id')");
    spark.sql("CREATE NAMESPACE harness." + shadow);
    spark.sql(
        "CREATE TABLE harness."
            + shadow
            + ".latest (id BIGINT NOT NULL, status STRING) TBLPROPERTIES ('source.cold.kind' ="
            + " 'iceberg', 'source.cold.connection' = 'lake', 'source.cold.table' = '"
            + lake
            + ".latest')");
    SparkSession session = spark.newSession();
    session.sql("USE harness." + namespace);
    assertEquals(
        List.of("[42,the-table]"),
        rows(session.sql("SELECT id, status FROM " + shadow + ".latest")));
    assertEquals(
        List.of("[1,the-view]"),
        rows(session.sql("SELECT id, status FROM " + namespace + "." + shadow + ".latest")));
    // a metadata table name that no table shadows still resolves under the current namespace
    assertEquals(List.of("[1]"), rows(session.sql("SELECT version FROM " + shadow + ".versions")));
  }
}
