package io.dataharness.benchmark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.from_json;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Arrays;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;

/**
 * The harness scan against a hand-written Spark union of the same Kafka offsets, PostgreSQL table
 * and Iceberg snapshot, in one SparkSession, alternating, median of 5; and planning time of a table
 * with 1,000 sources when a filter prunes to one. Not a test: run with {@code ./mvnw -B -Pbench -pl
 * integration-tests -am verify -DskipTests}. Sizes: {@code -Dbench.iceberg.rows}, {@code
 * -Dbench.kafka.rows}, {@code -Dbench.postgres.rows}.
 */
public final class ReadBenchmark {
  private static final int RUNS = 5;
  private static final StructType EVENT =
      StructType.fromDDL("id BIGINT, country STRING, amount DOUBLE");

  public static void main(String[] args) throws Exception {
    long icebergRows = Long.getLong("bench.iceberg.rows", 2_000_000);
    int kafkaRows = Integer.getInteger("bench.kafka.rows", 200_000);
    long postgresRows = Long.getLong("bench.postgres.rows", 200_000);
    TestingSpark testing = TestingSpark.shared();
    SparkSession spark = testing.session();
    String topic = "bench_events";
    TestingKafka kafka = TestingKafka.shared();
    kafka.createTopic(topic, 3);
    long start = System.nanoTime();
    produce(kafka.bootstrapServers(), topic, kafkaRows);
    try (Connection connection = testing.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE bench_events AS SELECT g::bigint AS id, CASE WHEN g % 10 = 0 THEN 'DE'"
              + " ELSE 'FR' END AS country, (g % 100)::float8 AS amount FROM generate_series(1, "
              + postgresRows
              + ") g");
    }
    spark.sql(
        "CREATE TABLE iceberg.bench.events (id BIGINT, country STRING, amount DOUBLE) USING iceberg");
    spark
        .range(icebergRows)
        .selectExpr(
            "id",
            "CASE WHEN id % 10 = 0 THEN 'DE' ELSE 'FR' END AS country",
            "CAST(id % 100 AS DOUBLE) AS amount")
        .writeTo("iceberg.bench.events")
        .append();
    System.out.printf(
        "Data: %,d Iceberg rows, %,d Kafka JSON messages (3 partitions), %,d PostgreSQL rows;"
            + " loaded in %.1f s%n",
        icebergRows, kafkaRows, postgresRows, (System.nanoTime() - start) / 1e9);

    spark.sql("CREATE NAMESPACE IF NOT EXISTS harness.bench");
    spark.sql(
        "CREATE TABLE harness.bench.events (id BIGINT, country STRING, amount DOUBLE)"
            + " TBLPROPERTIES ('source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = 'public.bench_events', 'source.cold.kind' = 'iceberg',"
            + " 'source.cold.connection' = 'lake', 'source.cold.table' = 'bench.events')");
    TestingDatabase metadata = testing.metadataDatabase();
    try (HarnessStore store =
        HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password(), 2)) {
      TableVersion version = store.readLatest(TableIdentifier.of("bench", "events"));
      SourceState.Kafka offsets = (SourceState.Kafka) version.state("hot");
      long snapshot = ((SourceState.Iceberg) version.state("cold")).snapshotId().getAsLong();
      Supplier<Dataset<Row>> handWritten =
          () -> handWrittenUnion(spark, testing, topic, offsets, snapshot);
      Supplier<Dataset<Row>> harness = () -> spark.table("harness.bench.events");

      compare(
          "filtered count (country = 'DE')",
          () -> handWritten.get().filter("country = 'DE'").count(),
          () -> harness.get().filter("country = 'DE'").count());
      compare(
          "group by country, sum(amount)",
          () -> handWritten.get().groupBy("country").sum("amount").collectAsList().size(),
          () -> harness.get().groupBy("country").sum("amount").collectAsList().size());
      planningWithManySources(spark, store);
    }
  }

  private static void produce(String bootstrap, String topic, int rows) {
    Map<String, Object> config =
        Map.of(
            "bootstrap.servers",
            bootstrap,
            "key.serializer",
            StringSerializer.class.getName(),
            "value.serializer",
            StringSerializer.class.getName(),
            "linger.ms",
            20,
            "batch.size",
            262144);
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
      for (int i = 0; i < rows; i++) {
        producer.send(
            new ProducerRecord<>(
                topic,
                i % 3,
                null,
                String.format(
                    "{\"id\":%d,\"country\":\"%s\",\"amount\":%d.0}",
                    i, i % 10 == 0 ? "DE" : "FR", i % 100)));
      }
      producer.flush();
    }
  }

  /** What a team writes by hand today: the same offsets, table and snapshot, unioned. */
  private static Dataset<Row> handWrittenUnion(
      SparkSession spark,
      TestingSpark testing,
      String topic,
      SourceState.Kafka offsets,
      long snapshot) {
    StringBuilder starting = new StringBuilder("{\"" + topic + "\":{");
    StringBuilder ending = new StringBuilder("{\"" + topic + "\":{");
    offsets
        .partitions()
        .forEach(
            (partition, range) -> {
              starting
                  .append('"')
                  .append(partition)
                  .append("\":")
                  .append(range.start())
                  .append(',');
              ending.append('"').append(partition).append("\":").append(range.end()).append(',');
            });
    starting.setLength(starting.length() - 1);
    ending.setLength(ending.length() - 1);
    Dataset<Row> kafka =
        spark
            .read()
            .format("kafka")
            .option("kafka.bootstrap.servers", TestingKafka.shared().bootstrapServers())
            .option("subscribe", topic)
            .option("startingOffsets", starting + "}}")
            .option("endingOffsets", ending + "}}")
            .load()
            .select(from_json(col("value").cast("string"), EVENT).as("e"))
            .select("e.*");
    TestingDatabase source = testing.sourceDatabase();
    Dataset<Row> postgres =
        spark
            .read()
            .format("jdbc")
            .option("url", source.jdbcUrl())
            .option("user", source.user())
            .option("password", source.password())
            .option("dbtable", "public.bench_events")
            .option("fetchsize", "1000")
            .load()
            .select("id", "country", "amount");
    Dataset<Row> iceberg =
        spark.read().option("versionAsOf", String.valueOf(snapshot)).table("iceberg.bench.events");
    return kafka.unionByName(postgres).unionByName(iceberg);
  }

  private static void compare(String name, Runnable baseline, Runnable harness) {
    baseline.run(); // warm up both
    harness.run();
    double[] baselineMs = new double[RUNS];
    double[] harnessMs = new double[RUNS];
    for (int run = 0; run < RUNS; run++) {
      baselineMs[run] = time(baseline);
      harnessMs[run] = time(harness);
    }
    double baselineMedian = median(baselineMs);
    double harnessMedian = median(harnessMs);
    System.out.printf(
        "%-34s hand-written union %7.0f ms | harness %7.0f ms | ratio %.2f%n",
        name, baselineMedian, harnessMedian, harnessMedian / baselineMedian);
  }

  /** A table of 1,000 Iceberg sources, one per bucket, queried for one bucket. */
  private static void planningWithManySources(SparkSession spark, HarnessStore store) {
    TableIdentifier table = TableIdentifier.of("bench", "buckets");
    TableDefinition.Builder definition =
        TableDefinition.builder(
            table,
            Schema.of(
                Field.optional(1, "id", FieldType.LONG),
                Field.optional(2, "bucket", FieldType.INT)));
    for (int bucket = 0; bucket < 1000; bucket++) {
      definition.source(
          new SourceDefinition(
              "b" + bucket,
              SourceKind.ICEBERG,
              "lake",
              Map.of("table", "bench.bucket_" + bucket),
              Map.of(),
              "bucket = " + bucket),
          SourceState.Iceberg.empty());
    }
    store.createTable(definition.build());
    double[] planning = new double[RUNS * 2];
    for (int run = 0; run < planning.length; run++) {
      planning[run] =
          time(
              () ->
                  spark
                      .sql("SELECT count(*) FROM harness.bench.buckets WHERE bucket = 7")
                      .queryExecution()
                      .executedPlan());
    }
    System.out.printf(
        "Planning, 1,000 sources pruned to 1: median %.0f ms, max %.0f ms (%s)%n",
        median(planning),
        Arrays.stream(planning).max().orElse(0),
        Arrays.toString(Arrays.stream(planning).mapToLong(Math::round).toArray()));
    // the shared test services (broker, database) keep non-daemon threads: end the JVM here
    System.exit(0);
  }

  private static double time(Runnable body) {
    long start = System.nanoTime();
    body.run();
    return (System.nanoTime() - start) / 1e6;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
