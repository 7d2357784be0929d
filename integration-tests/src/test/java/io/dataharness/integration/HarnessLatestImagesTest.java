package io.dataharness.integration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/** The dedup view {@code <table>.latest}: exactly the latest image of each primary key. */
class HarnessLatestImagesTest {
  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);

  @Test
  void latestImagePerKeyByOrderingColumnThenSourcePrecedence() throws Exception {
    String topic = "latest_" + suffix;
    TestingKafka kafka = TestingKafka.shared();
    kafka.createTopic(topic, 1);
    kafka.produceJson(
        topic,
        0,
        List.of(
            "{\"id\": 1, \"status\": \"kafka-5\", \"updated\": 5}",
            "{\"id\": 2, \"status\": \"kafka-1\", \"updated\": 1}",
            "{\"id\": 4, \"status\": \"kafka-7\", \"updated\": 7}"));
    try (Connection connection = testingSpark.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE latest_"
              + suffix
              + " (id BIGINT PRIMARY KEY, status TEXT, updated BIGINT);"
              + " INSERT INTO latest_"
              + suffix
              + " VALUES (1, 'pg-3', 3), (2, 'pg-4', 4), (3, 'pg-1', 1), (4, 'pg-7', 7)");
    }
    String namespace = "latest_" + suffix;
    String table = "harness." + namespace + ".orders";
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT NOT NULL, status STRING, updated BIGINT) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka', 'source.hot.topic'"
            + " = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = 'public.latest_"
            + suffix
            + "', 'primary-key' = 'id', 'ordering-column' = 'updated')");

    assertEquals(7, spark.table(table).count()); // every image
    List<String> latest =
        spark.sql("SELECT id, status, _source FROM " + table + ".latest").collectAsList().stream()
            .map(Row::toString)
            .sorted()
            .toList();
    // 1: kafka is newer; 2: postgres is newer; 3: only postgres; 4: a tie, kafka first by default
    assertEquals(
        List.of("[1,kafka-5,hot]", "[2,pg-4,warm]", "[3,pg-1,warm]", "[4,kafka-7,hot]"), latest);
    assertEquals(
        List.of("[2,pg-4]"),
        spark
            .sql("SELECT id, status FROM " + table + ".latest WHERE id = 2")
            .collectAsList()
            .stream()
            .map(Row::toString)
            .toList());
    // a filter on a non-key column applies to the latest image, not to older ones
    assertEquals(
        0, spark.sql("SELECT * FROM " + table + ".latest WHERE status = 'kafka-1'").count());
  }

  @Test
  void aTableWithoutPrimaryKeyHasNoDedupView() {
    String namespace = "nokey_" + suffix;
    spark.sql("CREATE NAMESPACE harness." + namespace);
    String lake = "iceberg.nokey_" + suffix + ".events";
    spark.sql("CREATE TABLE " + lake + " (id BIGINT) USING iceberg");
    spark.sql(
        "CREATE TABLE harness."
            + namespace
            + ".events (id BIGINT) TBLPROPERTIES ('source.cold.kind' = 'iceberg',"
            + " 'source.cold.connection' = 'lake', 'source.cold.table' = 'nokey_"
            + suffix
            + ".events')");
    Exception error =
        assertThrows(
            Exception.class,
            () -> spark.sql("SELECT * FROM harness." + namespace + ".events.latest").count());
    assertTrue(error.getMessage().contains("primary-key"), error.getMessage());
  }
}
