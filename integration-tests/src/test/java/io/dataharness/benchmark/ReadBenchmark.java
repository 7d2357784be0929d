package io.dataharness.benchmark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.from_json;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;

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
import io.dataharness.testing.BenchmarkResults;
import io.dataharness.testing.BenchmarkResults.Goal;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
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
    BenchmarkResults.start("2-reads");
    long icebergRows = Long.getLong("bench.iceberg.rows", 1_000_000);
    int kafkaRows = Integer.getInteger("bench.kafka.rows", 200_000);
    long postgresRows = Long.getLong("bench.postgres.rows", 100_000);
    TestingSpark testing = TestingSpark.shared();
    SparkSession spark = testing.session();
    spark.sparkContext().addSparkListener(TASK_CPU);
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
    spark.sql("CREATE TABLE iceberg.bench.segments (key BIGINT, segment STRING) USING iceberg");
    spark
        .range(1000)
        .selectExpr("id AS key", "concat('segment-', CAST(id % 10 AS STRING)) AS segment")
        .writeTo("iceberg.bench.segments")
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
      Dataset<Row> dimension = spark.table("iceberg.bench.segments");
      Supplier<Dataset<Row>> handWritten =
          () -> handWrittenUnion(spark, testing, topic, offsets, snapshot);
      for (String mode : new String[] {"FAILFAST", "PERMISSIVE"}) {
        Supplier<Dataset<Row>> harness =
            () -> spark.read().option("kafka.malformed", mode).table("harness.bench.events");
        compare(
            "read: filtered count, " + mode,
            () -> handWritten.get().filter("country = 'DE'"),
            () -> harness.get().filter("country = 'DE'"),
            frame -> frame.count());
        compare(
            "read: group-by, " + mode,
            () -> handWritten.get().groupBy("country").sum("amount"),
            () -> harness.get().groupBy("country").sum("amount"),
            frame -> frame.collectAsList().size());
        compare(
            "read: join with a 1,000-row dimension table, " + mode,
            () -> joined(handWritten.get(), dimension),
            () -> joined(harness.get(), dimension),
            frame -> frame.collectAsList().size());
      }
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
            .options(BenchmarkResults.baselineKafkaOptions())
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

  private static final TaskCpu TASK_CPU = new TaskCpu();

  /** Sums the executor CPU time of every finished task. */
  private static final class TaskCpu extends SparkListener {
    private final AtomicLong nanos = new AtomicLong();

    @Override
    public void onTaskEnd(SparkListenerTaskEnd taskEnd) {
      if (taskEnd.taskMetrics() != null) {
        nanos.addAndGet(taskEnd.taskMetrics().executorCpuTime());
      }
    }

    /** The CPU time of the tasks finished so far (after the listener bus delivered their ends). */
    long cpuNanos() {
      try {
        SparkContext.getOrCreate().listenerBus().waitUntilEmpty();
      } catch (java.util.concurrent.TimeoutException e) {
        throw new IllegalStateException("Spark's listener bus did not drain", e);
      }
      return nanos.get();
    }
  }

  /** Each event joined with its segment ({@code id % 1000}), counted and summed per segment. */
  private static Dataset<Row> joined(Dataset<Row> events, Dataset<Row> dimension) {
    return events
        .join(dimension, events.col("id").mod(1000).equalTo(dimension.col("key")))
        .groupBy("segment")
        .agg(count(lit(1)), sum("amount"));
  }

  /**
   * Times the query on both arms, alternating, after one warm-up each; records the medians. With
   * {@code -Dbench.explain=true}, prints both physical plans first.
   */
  private static void compare(
      String figure,
      Supplier<Dataset<Row>> baseline,
      Supplier<Dataset<Row>> harness,
      Function<Dataset<Row>, Object> action) {
    if (Boolean.getBoolean("bench.explain")) {
      System.out.println("== " + figure + ": hand-written union");
      System.out.println(baseline.get().queryExecution().executedPlan().treeString());
      System.out.println("== " + figure + ": harness");
      System.out.println(harness.get().queryExecution().executedPlan().treeString());
    }
    Object expected = action.apply(baseline.get()); // warm up both, and compare their answers
    Object actual = action.apply(harness.get());
    if (!expected.equals(actual)) {
      throw new IllegalStateException(
          figure + ": the harness answered " + actual + ", the hand-written union " + expected);
    }
    double[] baselineMs = new double[RUNS];
    double[] harnessMs = new double[RUNS];
    double[] baselineCpuMs = new double[RUNS];
    double[] harnessCpuMs = new double[RUNS];
    double[] pairRatios = new double[RUNS];
    for (int run = 0; run < RUNS; run++) {
      long cpu = TASK_CPU.cpuNanos();
      baselineMs[run] = BenchmarkResults.millis(() -> action.apply(baseline.get()));
      baselineCpuMs[run] = (TASK_CPU.cpuNanos() - cpu) / 1e6;
      cpu = TASK_CPU.cpuNanos();
      harnessMs[run] = BenchmarkResults.millis(() -> action.apply(harness.get()));
      harnessCpuMs[run] = (TASK_CPU.cpuNanos() - cpu) / 1e6;
      pairRatios[run] = harnessMs[run] / baselineMs[run];
    }
    // the machine may be shared: the ratio of each adjacent pair and the tasks' CPU time (which
    // other processes disturb less than wall time) show how far to trust the medians
    System.out.printf(
        "%s: hand-written union runs %s ms (task CPU %s ms), harness runs %s ms (task CPU %s ms);"
            + " median pair ratio %.2f, task CPU ratio %.2f%n",
        figure,
        runs(baselineMs),
        runs(baselineCpuMs),
        runs(harnessMs),
        runs(harnessCpuMs),
        BenchmarkResults.median(pairRatios),
        BenchmarkResults.median(harnessCpuMs) / BenchmarkResults.median(baselineCpuMs));
    BenchmarkResults.record(
        figure,
        "ms",
        BenchmarkResults.median(harnessMs),
        BenchmarkResults.median(baselineMs),
        "hand-written union",
        Goal.ratioAtMost(1.0));
  }

  private static String runs(double[] values) {
    return Arrays.toString(Arrays.stream(values).mapToLong(Math::round).toArray());
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
          BenchmarkResults.millis(
              () ->
                  spark
                      .sql("SELECT count(*) FROM harness.bench.buckets WHERE bucket = 7")
                      .queryExecution()
                      .executedPlan());
    }
    System.out.printf("Planning, 1,000 sources pruned to 1: runs %s ms%n", runs(planning));
    BenchmarkResults.record(
        "read: planning a table of 1,000 sources pruned to one",
        "ms",
        BenchmarkResults.median(planning),
        Goal.atMost(100));
    // the shared test services (broker, database) keep non-daemon threads: end the JVM here
    System.exit(0);
  }
}
