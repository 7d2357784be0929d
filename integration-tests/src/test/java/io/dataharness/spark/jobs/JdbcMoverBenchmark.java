package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.from_json;
import static org.apache.spark.sql.functions.row_number;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.testing.BenchmarkResults;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Not a test: the moves into and out of PostgreSQL against the plain Spark jobs a user would write
 * for the same work on the same data, alternating which arm goes first.
 *
 * <ul>
 *   <li><b>kafka -> jdbc</b>: two batches (ids [0, n/2) at version 1, then ids [n/4, 3n/4) at
 *       version 2, so half of the second batch updates keys of the first). The plain job reads the
 *       batch's offsets, keeps the newest message per key (window), writes it to an unlogged
 *       staging table with Spark's JDBC writer and merges it with {@code INSERT ... ON CONFLICT DO
 *       UPDATE ... WHERE newer}. Both target tables have the primary key.
 *   <li><b>jdbc -> iceberg</b>: n rows, 90% older than an hour. The plain job reads the old rows
 *       with Spark's JDBC reader, {@code MERGE}s them into Iceberg by key (the newer image wins)
 *       and deletes them from PostgreSQL.
 * </ul>
 *
 * <p>The harness does more than the plain jobs: it keeps every version readable (history images,
 * staging branches, tags) and is exactly-once across crashes; the plain jobs are neither.
 */
public final class JdbcMoverBenchmark {
  private static final TestingSpark TESTING = TestingSpark.shared();
  private static final SparkSession SPARK = TESTING.session();
  private static final TestingKafka KAFKA = TestingKafka.shared();
  private static final TestingDatabase DATABASE = TESTING.sourceDatabase();
  private static final int PARTITIONS = 3;

  private JdbcMoverBenchmark() {}

  public static void main(String[] args) throws Exception {
    BenchmarkResults.start("3-movers-jdbc");
    int messages = Integer.getInteger("bench.jdbc.messages", 200_000);
    int rows = Integer.getInteger("bench.jdbc.rows", 300_000);
    int rounds = Integer.getInteger("bench.rounds", 5);

    // -Dbench.jdbc.movers=upserts or =archive runs one of them
    String only = System.getProperty("bench.jdbc.movers", "");
    boolean upserts = !only.equals("archive");
    boolean archive = !only.equals("upserts");
    // warm-up: class loading and code generation for both arms
    if (upserts) {
      kafkaToJdbc(20_000, true);
    }
    if (archive) {
      jdbcToIceberg(20_000, true);
    }
    double[][] upsertRates = new double[2][rounds];
    double[][] archiveRates = new double[2][rounds];
    for (int round = 0; round < rounds; round++) {
      double[] upsert = upserts ? kafkaToJdbc(messages, round % 2 == 0) : new double[2];
      double[] archived = archive ? jdbcToIceberg(rows, round % 2 == 0) : new double[2];
      for (int arm = 0; arm < 2; arm++) {
        upsertRates[arm][round] = upsert[arm];
        archiveRates[arm][round] = archived[arm];
      }
    }
    if (upserts) {
      report("mover kafka -> jdbc", messages, upsertRates, "plain Spark JDBC + ON CONFLICT job");
    }
    if (archive) {
      report("mover jdbc -> iceberg", rows, archiveRates, "plain Spark JDBC + MERGE + DELETE job");
    }
    System.exit(0);
  }

  private static void report(String figure, int rows, double[][] rates, String baseline) {
    System.out.printf(
        "%nRESULT %s rows=%d mover=%s rows/s plain=%s rows/s%n",
        figure,
        rows,
        Arrays.toString(Arrays.stream(rates[0]).mapToLong(Math::round).toArray()),
        Arrays.toString(Arrays.stream(rates[1]).mapToLong(Math::round).toArray()));
    BenchmarkResults.record(
        figure,
        "rows/s",
        BenchmarkResults.median(rates[0]),
        BenchmarkResults.median(rates[1]),
        baseline,
        BenchmarkResults.Goal.ratioAtLeast(0.9));
  }

  /** Returns {mover rows/s, plain job rows/s} over both batches. */
  private static double[] kafkaToJdbc(int messages, boolean moverFirst) throws Exception {
    String suffix = UUID.randomUUID().toString().substring(0, 8);
    String topic = "upserts_" + suffix;
    String plainTopic = "plain_upserts_" + suffix;
    String harnessPg = "public.upserts_" + suffix;
    String plainTable = "public.plain_upserts_" + suffix;
    for (String table : List.of(harnessPg, plainTable)) {
      execute("CREATE TABLE " + table + " (id bigint PRIMARY KEY, message text, version bigint)");
    }
    for (String name : List.of(topic, plainTopic)) {
      KAFKA.createTopic(name, PARTITIONS);
    }
    TableIdentifier identifier = TableIdentifier.of("upserts_" + suffix, "events");
    SPARK.sql("CREATE NAMESPACE harness." + identifier.namespace());
    SPARK.sql(
        "CREATE TABLE harness."
            + identifier
            + " (id BIGINT NOT NULL, message STRING, version BIGINT) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + harnessPg
            + "', 'primary-key' = 'id', 'ordering-column' = 'version')");
    long[][] batches = {{0, messages / 2, 1}, {messages / 4, messages * 3L / 4, 2}};
    double moverSeconds = 0;
    double plainSeconds = 0;
    Map<Integer, Long> plainStart = null;
    for (long[] batch : batches) {
      for (String name : List.of(topic, plainTopic)) {
        MoverBenchmark.produce(KAFKA, name, PARTITIONS, batch[0], batch[1], batch[2]);
      }
      SyncJob.run(JobArguments.catalog(SPARK, "harness"), identifier);
      Map<Integer, Long> plainEnd = KAFKA.endOffsets(plainTopic);
      long expected = batch[1] - batch[0];
      for (int arm = 0; arm < 2; arm++) {
        long start = System.nanoTime();
        if ((arm == 0) == moverFirst) {
          long moved = move(identifier, "hot", "warm", Optional.empty(), suffix);
          moverSeconds += (System.nanoTime() - start) / 1e9;
          check("kafka -> jdbc mover", moved, expected);
        } else {
          plainUpsert(plainTopic, plainStart, plainEnd, plainTable, suffix);
          plainSeconds += (System.nanoTime() - start) / 1e9;
        }
      }
      plainStart = plainEnd;
    }
    // both tables hold ids [0, 3n/4): the first quarter at version 1, the rest at version 2
    String summary = "SELECT count(*), sum(version) FROM ";
    String moved = query(summary + harnessPg);
    String plain = query(summary + plainTable);
    String expected = (messages * 3L / 4) + "," + (messages / 4 + messages);
    if (!moved.equals(expected) || !plain.equals(expected)) {
      throw new IllegalStateException(
          "kafka -> jdbc: mover table " + moved + ", plain table " + plain + ", want " + expected);
    }
    System.out.printf(
        "%nkafka -> jdbc: %d messages, mover %.2f s, plain %.2f s (%s first)%n",
        messages, moverSeconds, plainSeconds, moverFirst ? "mover" : "plain");
    return new double[] {messages / moverSeconds, messages / plainSeconds};
  }

  /**
   * The job a user writes by hand: newest message per key of the offset range, staged with Spark's
   * JDBC writer, merged in one statement.
   */
  private static void plainUpsert(
      String topic, Map<Integer, Long> from, Map<Integer, Long> to, String table, String suffix)
      throws SQLException {
    StructType json =
        new StructType()
            .add("id", DataTypes.LongType)
            .add("message", DataTypes.StringType)
            .add("version", DataTypes.LongType);
    Dataset<Row> newest =
        SPARK
            .read()
            .format("kafka")
            .option("kafka.bootstrap.servers", KAFKA.bootstrapServers())
            .option("subscribe", topic)
            .option("startingOffsets", from == null ? "earliest" : offsets(topic, from))
            .option("endingOffsets", offsets(topic, to))
            .options(BenchmarkResults.baselineKafkaOptions())
            .option("kafka.isolation.level", "read_committed")
            .load()
            .select(from_json(col("value").cast("string"), json).as("m"), col("offset"))
            .select(col("m.id").as("id"), col("m.message"), col("m.version"), col("offset"))
            .withColumn(
                "rank",
                row_number()
                    .over(
                        Window.partitionBy("id")
                            .orderBy(col("version").desc_nulls_last(), col("offset").desc())))
            .filter(col("rank").equalTo(1))
            .select("id", "message", "version");
    String stage = "public.plain_stage_" + suffix;
    execute("CREATE UNLOGGED TABLE " + stage + " (LIKE " + table + ")");
    newest
        .write()
        .format("jdbc")
        .mode(SaveMode.Append)
        .option("url", DATABASE.jdbcUrl())
        .option("user", DATABASE.user())
        .option("password", DATABASE.password())
        .option("dbtable", stage)
        .option("batchsize", "5000")
        .save();
    execute(
        "INSERT INTO "
            + table
            + " AS t SELECT * FROM "
            + stage
            + " ON CONFLICT (id) DO UPDATE SET message = excluded.message, version ="
            + " excluded.version WHERE excluded.version > t.version OR t.version IS NULL",
        "DROP TABLE " + stage);
  }

  private static String offsets(String topic, Map<Integer, Long> offsets) {
    return "{\""
        + topic
        + "\": {"
        + offsets.entrySet().stream()
            .map(e -> "\"" + e.getKey() + "\": " + e.getValue())
            .collect(Collectors.joining(", "))
        + "}}";
  }

  /** Returns {mover rows/s, plain job rows/s}: rows older than an hour, into Iceberg. */
  private static double[] jdbcToIceberg(int rows, boolean moverFirst) throws Exception {
    String suffix = UUID.randomUUID().toString().substring(0, 8);
    String harnessPg = "public.archive_" + suffix;
    String plainPg = "public.plain_archive_" + suffix;
    String plainIceberg = TestingIceberg.CATALOG_NAME + ".plain_archive_" + suffix + ".events";
    long old = rows * 9L / 10;
    for (String table : List.of(harnessPg, plainPg)) {
      execute(
          "CREATE TABLE "
              + table
              + " (id bigint PRIMARY KEY, message text, updated_at timestamptz NOT NULL)",
          "INSERT INTO "
              + table
              + " SELECT g, 'message ' || g, CASE WHEN g < "
              + old
              + " THEN now() - interval '2 hours' ELSE now() END FROM generate_series(0, "
              + (rows - 1)
              + ") g");
    }
    String namespace = "archive_" + suffix;
    TableIdentifier identifier = TableIdentifier.of(namespace, "events");
    SPARK.sql("CREATE NAMESPACE harness." + namespace);
    SPARK.sql(
        "CREATE TABLE harness."
            + namespace
            + ".events (id BIGINT NOT NULL, message STRING, updated_at TIMESTAMP NOT NULL)"
            + " TBLPROPERTIES ('source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + harnessPg
            + "', 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = 'lake_archive_"
            + suffix
            + ".events', 'primary-key' = 'id', 'ordering-column' = 'updated_at')");
    SPARK.sql(
        "CREATE TABLE "
            + plainIceberg
            + " (id BIGINT NOT NULL, message STRING, updated_at TIMESTAMP NOT NULL) USING iceberg");
    double moverSeconds = 0;
    double plainSeconds = 0;
    for (int arm = 0; arm < 2; arm++) {
      long start = System.nanoTime();
      if ((arm == 0) == moverFirst) {
        long moved = move(identifier, "warm", "cold", Optional.of(Duration.ofHours(1)), suffix);
        moverSeconds = (System.nanoTime() - start) / 1e9;
        check("jdbc -> iceberg mover", moved, old);
      } else {
        plainArchive(plainPg, plainIceberg, Instant.now().minus(Duration.ofHours(1)));
        plainSeconds = (System.nanoTime() - start) / 1e9;
      }
    }
    String expected = old + "," + (rows - old);
    String moved =
        icebergCount(TestingIceberg.CATALOG_NAME + ".lake_archive_" + suffix + ".events")
            + ","
            + query("SELECT count(*) FROM " + harnessPg);
    String plain = icebergCount(plainIceberg) + "," + query("SELECT count(*) FROM " + plainPg);
    if (!moved.equals(expected) || !plain.equals(expected)) {
      throw new IllegalStateException(
          "jdbc -> iceberg (Iceberg rows, PostgreSQL rows): mover "
              + moved
              + ", plain "
              + plain
              + ", want "
              + expected);
    }
    System.out.printf(
        "%njdbc -> iceberg: %d rows, mover %.2f s, plain %.2f s (%s first)%n",
        old, moverSeconds, plainSeconds, moverFirst ? "mover" : "plain");
    return new double[] {old / moverSeconds, old / plainSeconds};
  }

  /** The job a user writes by hand: read the old rows, merge them into Iceberg, delete them. */
  private static void plainArchive(String postgres, String iceberg, Instant cutoff)
      throws SQLException {
    String older = " WHERE updated_at < '" + cutoff + "'::timestamptz";
    SPARK
        .read()
        .format("jdbc")
        .option("url", DATABASE.jdbcUrl())
        .option("user", DATABASE.user())
        .option("password", DATABASE.password())
        .option("query", "SELECT id, message, updated_at FROM " + postgres + older)
        .option("fetchsize", "1000")
        .load()
        .createOrReplaceTempView("plain_archive_batch");
    SPARK
        .sql(
            "MERGE INTO "
                + iceberg
                + " t USING plain_archive_batch s ON t.id = s.id"
                + " WHEN MATCHED AND s.updated_at >= t.updated_at THEN UPDATE SET *"
                + " WHEN NOT MATCHED THEN INSERT *")
        .collect();
    SPARK.catalog().dropTempView("plain_archive_batch");
    execute("DELETE FROM " + postgres + older);
  }

  private static long move(
      TableIdentifier table,
      String source,
      String target,
      Optional<Duration> olderThan,
      String suffix) {
    return MoveJob.run(
            SPARK,
            JobArguments.catalog(SPARK, "harness"),
            new MoveRequest(
                table, source, target, OptionalLong.empty(), olderThan, "bench-" + suffix))
        .rowsMoved();
  }

  private static long icebergCount(String table) {
    return SPARK.sql("SELECT count(*) FROM " + table).collectAsList().get(0).getLong(0);
  }

  private static void check(String what, long moved, long expected) {
    if (moved != expected) {
      throw new IllegalStateException(what + " moved " + moved + " rows, want " + expected);
    }
  }

  private static void execute(String... statements) throws SQLException {
    try (Connection connection = DATABASE.connect();
        Statement statement = connection.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }

  /** The first row of {@code sql}, its columns joined by commas. */
  private static String query(String sql) throws SQLException {
    try (Connection connection = DATABASE.connect();
        Statement statement = connection.createStatement();
        ResultSet result = statement.executeQuery(sql)) {
      result.next();
      List<String> values = new ArrayList<>();
      for (int i = 1; i <= result.getMetaData().getColumnCount(); i++) {
        values.add(result.getString(i));
      }
      return String.join(",", values);
    }
  }
}
