package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.read.ReplaceHarnessRelations;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Kafka broker of a source stops and starts again: a dedicated in-process KRaft broker (not the
 * one other tests share), stopped for real and started again at the same bootstrap servers. A sync
 * or a Kafka -> Iceberg move while it is down fails within the connection's Kafka timeout with an
 * error naming Kafka, the bootstrap servers and the connection; versions, locks and the Iceberg
 * table are unchanged; after the broker is back the rerun moves every message exactly once.
 */
class KafkaFaultsTest {
  private static TestingKafka kafka;

  private final SparkSession spark = TestingSpark.shared().session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String catalogName = "kfaults_" + suffix;
  private final String topic = "events_" + suffix;
  private final String icebergNamespace = "kfaults_lake_" + suffix;
  private final TableIdentifier table = TableIdentifier.of("kfaults", "events");
  private final String qualified = catalogName + ".kfaults.events";

  @BeforeAll
  static void startBroker() {
    kafka = TestingKafka.startDedicated();
  }

  @AfterEach
  void removeFault() {
    CrashPoints.hook = point -> {};
  }

  @AfterAll
  static void stopBroker() {
    kafka.close();
  }

  private HarnessContext catalog() {
    return JobArguments.catalog(spark, catalogName);
  }

  private void createTable() {
    createTable(null);
  }

  /**
   * The table: sources hot (Kafka, the dedicated broker) and cold (Iceberg), plus warm (the
   * PostgreSQL table public.rows of {@code postgres}, primary key id) when {@code postgres} is
   * given.
   */
  private void createTable(TestingDatabase postgres) {
    TestingDatabase metadata = TestingPostgres.shared().createDatabase("kfaults_metadata");
    String prefix = "spark.sql.catalog." + catalogName;
    spark.conf().set(prefix, "io.dataharness.spark.HarnessCatalog");
    spark.conf().set(prefix + ".uri", metadata.jdbcUrl());
    spark.conf().set(prefix + ".user", metadata.user());
    spark.conf().set(prefix + ".password", metadata.password());
    spark.conf().set(prefix + ".connection.kafka.kind", "kafka");
    spark.conf().set(prefix + ".connection.kafka.bootstrap-servers", kafka.bootstrapServers());
    spark.conf().set(prefix + ".connection.kafka.kafka.default.api.timeout.ms", "5000");
    spark.conf().set(prefix + ".connection.lake.kind", "iceberg");
    spark.conf().set(prefix + ".connection.lake.spark-catalog", TestingIceberg.CATALOG_NAME);
    if (postgres != null) {
      spark.conf().set(prefix + ".connection.pg.kind", "jdbc");
      spark.conf().set(prefix + ".connection.pg.url", postgres.jdbcUrl());
      spark.conf().set(prefix + ".connection.pg.user", postgres.user());
      spark.conf().set(prefix + ".connection.pg.password", postgres.password());
    }
    kafka.createTopic(topic, 2);
    spark.sql("CREATE NAMESPACE " + catalogName + ".kfaults");
    spark.sql(
        "CREATE TABLE "
            + qualified
            + " (id BIGINT NOT NULL, message STRING) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + topic
            + "', 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = '"
            + icebergNamespace
            + ".events'"
            + (postgres == null
                ? ""
                : ", 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
                    + " 'source.warm.table' = 'public.rows', 'primary-key' = 'id'")
            + ")");
  }

  private void produce(long from, long to) {
    for (int partition = 0; partition < 2; partition++) {
      List<String> values = new ArrayList<>();
      for (long id = from; id < to; id++) {
        if (id % 2 == partition) {
          values.add(String.format("{\"id\": %d, \"message\": \"m%d\"}", id, id));
        }
      }
      kafka.produceJson(topic, partition, values);
    }
  }

  private MoveResult move() {
    return move("hot", "cold");
  }

  private MoveResult move(String source, String target) {
    return MoveJob.run(
        spark,
        catalog(),
        new MoveRequest(table, source, target, OptionalLong.empty(), Optional.empty(), "kfaults"));
  }

  private static List<Long> postgresIds(TestingDatabase database) throws Exception {
    List<Long> ids = new ArrayList<>();
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT id FROM public.rows ORDER BY id")) {
      while (rows.next()) {
        ids.add(rows.getLong(1));
      }
    }
    return ids;
  }

  private List<Long> ids(String sql) {
    return spark.sql(sql).collectAsList().stream().map(row -> row.getLong(0)).sorted().toList();
  }

  private long currentVersion() {
    return catalog().store().loadTable(table).currentVersion();
  }

  private static void assertNamesKafka(RuntimeException failure, String bootstrapServers) {
    String message = failure.getMessage();
    assertTrue(message.startsWith("Cannot "), message);
    assertTrue(message.contains("Kafka"), message);
    assertTrue(message.contains(bootstrapServers), message);
    assertTrue(message.contains("connection 'kafka'"), message);
    assertTrue(message.contains("bootstrap-servers"), message);
  }

  @Test
  void aSyncAndAMoveWhileTheBrokerIsDownFailClearlyChangeNothingAndTheRerunLandsOnce() {
    createTable();
    produce(0, 10);
    spark.sql("CALL " + catalogName + ".system.sync(table => 'kfaults.events')").collect();
    long version = currentVersion();
    assertEquals(MoveFixture.range(0, 10), ids("SELECT id FROM " + qualified));

    RuntimeException syncFailure;
    RuntimeException moveFailure;
    kafka.stopBroker();
    try {
      syncFailure = assertThrows(RuntimeException.class, () -> SyncJob.run(catalog(), table));
      moveFailure = assertThrows(RuntimeException.class, this::move);
    } finally {
      kafka.startBroker();
    }

    assertNamesKafka(syncFailure, kafka.bootstrapServers());
    assertTrue(
        syncFailure.getMessage().startsWith("Cannot sync table " + table + ": "),
        syncFailure.getMessage());
    assertNamesKafka(moveFailure, kafka.bootstrapServers());
    assertTrue(
        moveFailure
            .getMessage()
            .startsWith("Cannot move source 'hot' of table " + table + " to source 'cold': "),
        moveFailure.getMessage());
    assertTrue(moveFailure.getMessage().contains("rerun"), moveFailure.getMessage());
    assertEquals(version, currentVersion());
    assertEquals(0, catalog().store().listLocks(table).size());
    assertEquals(MoveFixture.range(0, 10), ids("SELECT id FROM " + qualified));
    assertEquals(
        List.of(),
        ids("SELECT id FROM " + TestingIceberg.CATALOG_NAME + "." + icebergNamespace + ".events"));

    MoveResult moved = move();
    assertEquals(10, moved.rowsMoved());
    assertEquals(MoveFixture.range(0, 10), ids("SELECT id FROM " + qualified));
    assertEquals(
        MoveFixture.range(0, 10),
        ids("SELECT id FROM " + TestingIceberg.CATALOG_NAME + "." + icebergNamespace + ".events"));
    assertEquals(0, move().rowsMoved());
    assertEquals(MoveFixture.range(0, 10), ids("SELECT id FROM " + qualified));
  }

  @Test
  void aReadWhileTheBrokerIsDownFailsNamingTheBrokerTopicAndOffsetsAndWorksOnceItIsBack() {
    createTable();
    produce(0, 10);
    spark.sql("CALL " + catalogName + ".system.sync(table => 'kfaults.events')").collect();
    long version = currentVersion();
    String select = "SELECT id FROM " + qualified;
    assertEquals(MoveFixture.range(0, 10), ids(select));
    // planned (offsets checked) while the broker answers, run after it stopped: lost mid-read,
    // through the native union (Spark's Kafka reader) and through the harness's own reader
    Dataset<Row> planned = spark.sql(select);
    planned.queryExecution().executedPlan();
    Dataset<Row> plannedOwnReader;
    spark.conf().set(ReplaceHarnessRelations.ENABLED, "false");
    try {
      plannedOwnReader = spark.sql(select);
      plannedOwnReader.queryExecution().executedPlan();
    } finally {
      spark.conf().unset(ReplaceHarnessRelations.ENABLED);
    }

    RuntimeException beforeFailure;
    Exception midReadFailure;
    Exception nativeMidReadFailure;
    kafka.stopBroker();
    try {
      beforeFailure = assertThrows(RuntimeException.class, () -> ids(select));
      midReadFailure = assertThrows(Exception.class, plannedOwnReader::collectAsList);
      nativeMidReadFailure = assertThrows(Exception.class, planned::collectAsList);
    } finally {
      kafka.startBroker();
    }

    String read = "Cannot read source 'hot' (kafka) of " + table + " at version " + version + ": ";
    String before = beforeFailure.getMessage();
    assertTrue(before.startsWith(read), before);
    assertTrue(before.contains("Kafka at " + kafka.bootstrapServers()), before);
    assertTrue(before.contains("connection 'kafka'"), before);
    assertTrue(before.contains("topic " + topic + " partition 0 offsets [0, "), before);
    assertTrue(before.contains("partition 1 offsets [0, "), before);
    assertTrue(before.contains("retry the read"), before);
    // the harness's reader and Spark's Kafka reader (in the native union) fail alike, within the
    // connection's Kafka timeout
    for (Exception failure : List.of(midReadFailure, nativeMidReadFailure)) {
      String midRead = failure.getMessage();
      assertTrue(midRead.contains(read + "Kafka at " + kafka.bootstrapServers()), midRead);
      assertTrue(midRead.contains("connection 'kafka'"), midRead);
      assertTrue(midRead.contains("of topic " + topic + " partition "), midRead);
      assertTrue(midRead.contains(" offsets [0, "), midRead);
      assertTrue(midRead.contains("retry the read"), midRead);
    }

    // nothing changed, and the same reads return every row once the broker is back
    assertEquals(version, currentVersion());
    assertEquals(MoveFixture.range(0, 10), ids(select));
    assertEquals(
        MoveFixture.range(0, 10),
        spark.sql(select).collectAsList().stream().map(row -> row.getLong(0)).sorted().toList());
  }

  @Test
  void aKafkaToPostgresMoveWhilePostgresOrTheBrokerIsDownFailsClearlyAndTheRerunLandsOnce()
      throws Exception {
    TestingDatabase postgres = TestingPostgres.shared().createDatabase("kfaults_source");
    createTable(postgres);
    produce(0, 10);
    spark.sql("CALL " + catalogName + ".system.sync(table => 'kfaults.events')").collect();
    long version = currentVersion();
    Object hotState = catalog().store().readLatest(table).state("hot");
    String select = "SELECT id FROM " + qualified;
    assertEquals(MoveFixture.range(0, 10), ids(select));

    RuntimeException postgresFailure;
    TestingPostgres.shared().refuseConnections(postgres);
    try {
      postgresFailure = assertThrows(RuntimeException.class, () -> move("hot", "warm"));
    } finally {
      TestingPostgres.shared().allowConnections(postgres);
    }
    String message = postgresFailure.getMessage();
    assertTrue(
        message.startsWith("Cannot move source 'hot' of table " + table + " to source 'warm': "),
        message);
    assertTrue(message.contains("PostgreSQL"), message);
    assertTrue(message.contains(postgres.name()), message);
    assertTrue(message.contains("connection 'pg'"), message);
    assertTrue(message.contains("rerun the move"), message);
    assertEquals(version, currentVersion());
    assertEquals(0, catalog().store().listLocks(table).size());
    assertEquals(hotState, catalog().store().readLatest(table).state("hot"));
    assertEquals(List.of(), postgresIds(postgres));
    assertEquals(MoveFixture.range(0, 10), ids(select));

    RuntimeException kafkaFailure;
    kafka.stopBroker();
    try {
      kafkaFailure = assertThrows(RuntimeException.class, () -> move("hot", "warm"));
    } finally {
      kafka.startBroker();
    }
    assertNamesKafka(kafkaFailure, kafka.bootstrapServers());
    assertTrue(
        kafkaFailure
            .getMessage()
            .startsWith("Cannot move source 'hot' of table " + table + " to source 'warm': "),
        kafkaFailure.getMessage());
    assertTrue(kafkaFailure.getMessage().contains("rerun the move"), kafkaFailure.getMessage());
    assertEquals(version, currentVersion());
    assertEquals(0, catalog().store().listLocks(table).size());
    assertEquals(hotState, catalog().store().readLatest(table).state("hot"));
    assertEquals(List.of(), postgresIds(postgres));
    assertEquals(MoveFixture.range(0, 10), ids(select));

    // PostgreSQL lost in the middle: after the move recorded its intent, before the upsert
    RuntimeException midMoveFailure;
    CrashPoints.hook =
        point -> {
          if (point.equals(CrashPoints.BEFORE_TARGET_WRITE)) {
            TestingPostgres.shared().refuseConnections(postgres);
          }
        };
    try {
      midMoveFailure = assertThrows(RuntimeException.class, () -> move("hot", "warm"));
    } finally {
      CrashPoints.hook = point -> {};
      TestingPostgres.shared().allowConnections(postgres);
    }
    message = midMoveFailure.getMessage();
    assertTrue(
        message.startsWith("Cannot move source 'hot' of table " + table + " to source 'warm': "),
        message);
    assertTrue(message.contains("PostgreSQL"), message);
    assertTrue(message.contains("connection 'pg'"), message);
    assertTrue(message.contains("rerun the move"), message);
    // the intent is a version that changes no state: every version reads the same rows
    assertEquals(version + 1, currentVersion());
    assertEquals(1, catalog().store().readLatest(table).openIntents().size());
    assertEquals(0, catalog().store().listLocks(table).size());
    assertEquals(hotState, catalog().store().readLatest(table).state("hot"));
    assertEquals(List.of(), postgresIds(postgres));
    assertEquals(MoveFixture.range(0, 10), ids(select));

    // with both back, the rerun moves every message exactly once, and a second one finds nothing
    assertEquals(10, move("hot", "warm").rowsMoved());
    assertEquals(List.of(), catalog().store().readLatest(table).openIntents());
    assertEquals(MoveFixture.range(0, 10), postgresIds(postgres));
    assertEquals(MoveFixture.range(0, 10), ids(select));
    assertEquals(MoveFixture.range(0, 10), ids(select + " WHERE _source = 'warm'"));
    assertEquals(0, move("hot", "warm").rowsMoved());
    assertEquals(MoveFixture.range(0, 10), ids(select));
  }

  @Test
  void anAppendWhileTheBrokerIsDownFailsClearlyChangesNothingAndWorksOnceItIsBack() {
    createTable();
    spark.sql("ALTER TABLE " + qualified + " SET TBLPROPERTIES ('write.source' = 'hot')");
    produce(0, 4);
    spark.sql("CALL " + catalogName + ".system.sync(table => 'kfaults.events')").collect();
    long version = currentVersion();
    String select = "SELECT id FROM " + qualified;
    String insert = "INSERT INTO " + qualified + " VALUES (100, 'appended')";

    RuntimeException failure;
    kafka.stopBroker();
    try {
      failure = assertThrows(RuntimeException.class, () -> spark.sql(insert).collectAsList());
    } finally {
      kafka.startBroker();
    }

    assertNamesKafka(failure, kafka.bootstrapServers());
    assertTrue(
        failure.getMessage().startsWith("Cannot append to " + table + ": "), failure.getMessage());
    assertTrue(failure.getMessage().contains("run the INSERT again"), failure.getMessage());
    assertEquals(version, currentVersion());
    assertEquals(0, catalog().store().listLocks(table).size());
    assertEquals(MoveFixture.range(0, 4), ids(select));

    spark.sql(insert).collectAsList();
    assertEquals(List.of(0L, 1L, 2L, 3L, 100L), ids(select));
  }
}
