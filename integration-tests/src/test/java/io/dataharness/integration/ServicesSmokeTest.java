package io.dataharness.integration;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.from_json;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/**
 * Proves that the test services work together in one JVM: Spark reads a real Kafka broker between
 * explicit offsets, a real PostgreSQL table through its JDBC reader, and an Iceberg table (JDBC
 * catalog in PostgreSQL) at an older snapshot.
 */
class ServicesSmokeTest {
  private static final StructType EVENT = StructType.fromDDL("id BIGINT, amount BIGINT");

  private final SparkSession spark = TestingSpark.shared().session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);

  @Test
  void sparkReadsKafkaBetweenExplicitPerPartitionOffsets() {
    TestingKafka kafka = TestingKafka.shared();
    String topic = "smoke_events_" + suffix;
    kafka.createTopic(topic, 3);
    for (int partition = 0; partition < 3; partition++) {
      List<String> events = new ArrayList<>();
      for (int index = 0; index < 10; index++) {
        events.add(
            String.format("{\"id\": %d, \"amount\": %d}", partition * 100 + index, index + 1));
      }
      assertEquals(
          List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L),
          kafka.produceJson(topic, partition, events));
    }
    assertEquals(Map.of(0, 10L, 1, 10L, 2, 10L), kafka.endOffsets(topic));
    kafka.deleteRecordsBefore(topic, 0, 2);
    assertEquals(Map.of(0, 2L, 1, 0L, 2, 0L), kafka.startOffsets(topic));

    // partition 0: offsets [2, 7) -> amounts 3..7; partition 1: [0, 10) -> 1..10; partition 2: none
    Dataset<Row> events =
        spark
            .read()
            .format("kafka")
            .option("kafka.bootstrap.servers", kafka.bootstrapServers())
            .option("subscribe", topic)
            .option("startingOffsets", offsetsJson(topic, 2, 0, 5))
            .option("endingOffsets", offsetsJson(topic, 7, 10, 5))
            .load()
            .select(
                col("partition"),
                col("offset"),
                from_json(col("value").cast("string"), EVENT).as("event"))
            .select("partition", "offset", "event.*");

    Row totals =
        events
            .selectExpr("count(*)", "sum(amount)", "sum(id)", "min(offset)", "max(offset)")
            .first();
    assertEquals(15L, totals.getLong(0));
    assertEquals((3 + 4 + 5 + 6 + 7) + 55L, totals.getLong(1));
    assertEquals((2 + 3 + 4 + 5 + 6) + (1000L + 45), totals.getLong(2));
    assertEquals(0L, totals.getLong(3));
    assertEquals(9L, totals.getLong(4));
    assertEquals(
        List.of(0, 1),
        events.select("partition").distinct().orderBy("partition").collectAsList().stream()
            .map(row -> row.getInt(0))
            .toList());
  }

  @Test
  void sparkReadsPostgresTableThroughJdbc() throws SQLException {
    TestingDatabase database = TestingPostgres.shared().createDatabase("smoke_jdbc");
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE TABLE orders (id bigint PRIMARY KEY, amount bigint NOT NULL)");
      statement.execute("INSERT INTO orders SELECT n, n * 2 FROM generate_series(1, 100) AS n");
    }

    Dataset<Row> orders =
        spark
            .read()
            .format("jdbc")
            .option("url", database.jdbcUrl())
            .option("user", database.user())
            .option("password", database.password())
            .option("dbtable", "orders")
            .load();

    Row all = orders.selectExpr("count(*)", "sum(amount)").first();
    assertEquals(100L, all.getLong(0));
    assertEquals(10_100L, all.getLong(1));
    Row filtered = orders.where("id > 90").selectExpr("count(*)", "sum(amount)").first();
    assertEquals(10L, filtered.getLong(0));
    assertEquals(2L * (91 + 92 + 93 + 94 + 95 + 96 + 97 + 98 + 99 + 100), filtered.getLong(1));
  }

  @Test
  void sparkReadsIcebergTableAtAnOlderSnapshot() {
    String table = "iceberg.smoke.events_" + suffix;
    spark.sql("CREATE NAMESPACE IF NOT EXISTS iceberg.smoke");
    spark.sql("CREATE TABLE " + table + " (id BIGINT, amount BIGINT) USING iceberg");
    spark.sql("INSERT INTO " + table + " VALUES (1, 10), (2, 20)");
    long firstSnapshot =
        TestingIceberg.shared()
            .catalog()
            .loadTable(TableIdentifier.of("smoke", "events_" + suffix))
            .currentSnapshot()
            .snapshotId();
    spark.sql("INSERT INTO " + table + " VALUES (3, 30), (4, 40), (5, 50)");

    Row current = spark.sql("SELECT count(*), sum(amount) FROM " + table).first();
    assertEquals(5L, current.getLong(0));
    assertEquals(150L, current.getLong(1));
    Row atFirstSnapshot =
        spark
            .sql("SELECT count(*), sum(amount) FROM " + table + " VERSION AS OF " + firstSnapshot)
            .first();
    assertEquals(2L, atFirstSnapshot.getLong(0));
    assertEquals(30L, atFirstSnapshot.getLong(1));
    Row throughReadOption =
        spark
            .read()
            .option("versionAsOf", firstSnapshot)
            .table(table)
            .selectExpr("count(*)", "sum(amount)")
            .first();
    assertEquals(2L, throughReadOption.getLong(0));
    assertEquals(30L, throughReadOption.getLong(1));
  }

  private static String offsetsJson(String topic, long... offsetByPartition) {
    StringBuilder json = new StringBuilder("{\"" + topic + "\": {");
    for (int partition = 0; partition < offsetByPartition.length; partition++) {
      json.append(partition == 0 ? "" : ", ")
          .append('"')
          .append(partition)
          .append("\": ")
          .append(offsetByPartition[partition]);
    }
    return json.append("}}").toString();
  }
}
