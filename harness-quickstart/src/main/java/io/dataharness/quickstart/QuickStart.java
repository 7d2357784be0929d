package io.dataharness.quickstart;

import io.dataharness.spark.jobs.MoveResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.sql.SparkSession;

/**
 * The quick start: starts the local services, creates a harness table over a Kafka topic, a
 * PostgreSQL table and an Iceberg table, reads it, moves rows from Kafka to Iceberg while another
 * thread keeps counting the table, and shows the version history and a time-travel read.
 *
 * <p>Run it with {@code ./quickstart} at the repository root. Its data lives in the directory given
 * as the first argument (wiped by the script at start); everything stops when it ends.
 */
public final class QuickStart {
  private static final String TABLE = "harness.quickstart.events";
  private static final String TABLE_NAME = "quickstart.events";
  private static final String TOPIC = "quickstart_events";
  private static final int PARTITIONS = 3;
  private static final String[] REGIONS = {"eu", "us", "apac"};

  private final SparkSession spark;
  private final LocalServices services;
  private final long startNanos = System.nanoTime();

  private QuickStart(SparkSession spark, LocalServices services) {
    this.spark = spark;
    this.services = services;
  }

  public static void main(String[] args) {
    try {
      runQuickStart(args);
    } catch (Throwable e) {
      System.out.println();
      System.out.println("QUICK START FAILED: " + e);
      e.printStackTrace(System.out);
      System.out.flush();
      System.exit(1);
    }
  }

  private static void runQuickStart(String[] args) throws Exception {
    Path dataDirectory = Path.of(args.length > 0 ? args[0] : "quickstart-data").toAbsolutePath();
    Files.createDirectories(dataDirectory);
    long start = System.nanoTime();
    step("Starting local services (data under " + dataDirectory + ")");
    LocalServices services = LocalServices.start(dataDirectory);
    services.descriptions().forEach((name, where) -> say("%-17s %s", name + ":", where));
    SparkSession.Builder builder =
        SparkSession.builder()
            .master("local[2]")
            .appName("dataharness-quickstart")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.host", "localhost")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.warehouse.dir", dataDirectory.resolve("spark-warehouse").toString());
    say("Spark catalog settings (what a user configures):");
    for (Map.Entry<String, String> entry : services.sparkConf().entrySet()) {
      builder.config(entry.getKey(), entry.getValue());
      say(
          "  %s = %s",
          entry.getKey(), entry.getKey().endsWith("password") ? "***" : entry.getValue());
    }
    SparkSession spark = builder.getOrCreate();
    spark.sparkContext().setLogLevel("WARN");
    say("Spark %s local[2] started; services ready in %.1f s", spark.version(), seconds(start));
    int status = 0;
    try {
      new QuickStart(spark, services).run();
    } catch (Exception e) {
      status = 1;
      System.out.println();
      System.out.println("QUICK START FAILED: " + e);
      e.printStackTrace(System.out);
    } finally {
      spark.stop();
    }
    System.out.flush();
    // the services' shutdown hooks stop Kafka and PostgreSQL and drop the quick start's databases
    System.exit(status);
  }

  private void run() throws Exception {
    step("1. Source data: Kafka topic, PostgreSQL table, Iceberg table");
    services.kafka().createTopic(TOPIC, PARTITIONS);
    produce(1, 3000);
    say("Kafka topic %s: %d partitions, 3000 JSON messages (ids 1..3000)", TOPIC, PARTITIONS);
    try (Connection connection = services.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE public.recent_events (id BIGINT PRIMARY KEY, page TEXT, region TEXT,"
              + " amount DOUBLE PRECISION)");
      statement.execute(
          "INSERT INTO public.recent_events SELECT g, 'page-' || (g % 7), (ARRAY['eu','us','apac'])[1 +"
              + " g % 3], g / 10.0 FROM generate_series(10001, 10500) g");
    }
    say("PostgreSQL table public.recent_events: 500 rows (ids 10001..10500)");
    sql("CREATE NAMESPACE IF NOT EXISTS lake.quickstart");
    sql(
        "CREATE TABLE lake.quickstart.events_history (id BIGINT NOT NULL, page STRING, region"
            + " STRING, amount DOUBLE) USING iceberg");
    sql(
        "INSERT INTO lake.quickstart.events_history SELECT id, concat('page-', id % 7),"
            + " element_at(array('eu','us','apac'), CAST(1 + id % 3 AS INT)), id / 10.0 FROM"
            + " range(20001, 22001)");
    say("Iceberg table lake.quickstart.events_history: 2000 rows (ids 20001..22000)");

    step("2. One harness table over the three sources");
    String ddl =
        "CREATE TABLE "
            + TABLE
            + " (id BIGINT NOT NULL, page STRING, region STRING, amount DOUBLE)\n"
            + "TBLPROPERTIES (\n"
            + "  'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + TOPIC
            + "',\n"
            + "  'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = 'public.recent_events',\n"
            + "  'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = 'quickstart.events_history',\n"
            + "  'write.source' = 'hot', 'primary-key' = 'id')";
    sql("CREATE NAMESPACE IF NOT EXISTS harness.quickstart");
    say("%s", ddl);
    sql(ddl);
    show("SELECT _source, count(*) AS row_count FROM " + TABLE + " GROUP BY _source ORDER BY 1");
    show(
        "SELECT id, page, region, amount, _source, _kafka_partition, _kafka_offset FROM "
            + TABLE
            + " WHERE id IN (1, 2, 10001, 20001) ORDER BY id");

    step("3. New Kafka messages: fresh reads see them, a sync commit records them");
    produce(3001, 1000);
    say("produced 1000 more messages (ids 3001..4000)");
    say(
        "count now: %d (current reads see Kafka up to its live end); VERSION AS OF 1: %d"
            + " (pinned to the offsets version 1 recorded)",
        count(), scalar("SELECT count(*) FROM " + TABLE + " VERSION AS OF 1"));
    long synced = Movers.sync(spark, "harness", TABLE_NAME);
    say(
        "sync recorded the new end offsets as version %d; VERSION AS OF %d: %d",
        synced, synced, scalar("SELECT count(*) FROM " + TABLE + " VERSION AS OF " + synced));
    show(
        "SELECT version, source, state FROM "
            + TABLE
            + ".sources WHERE source = 'hot' ORDER BY version");

    step("4. Move Kafka -> Iceberg while another thread keeps querying");
    say("mover: %s", Movers.movePath(spark, "harness"));
    long before = count();
    long distinctBefore = distinctIds();
    say("before the move: %d rows, %d distinct ids", before, distinctBefore);
    List<long[]> observed = new CopyOnWriteArrayList<>();
    AtomicBoolean moving = new AtomicBoolean(true);
    Thread reader =
        new Thread(
            () -> {
              while (moving.get()) {
                observed.add(new long[] {count(), distinctIds()});
              }
            },
            "quickstart-reader");
    reader.start();
    List<MoveResult> moves = new ArrayList<>();
    long moveStart = System.nanoTime();
    try {
      for (int batch = 0; batch < 4; batch++) {
        MoveResult result = runMover("hot", "cold", 1000);
        moves.add(result);
        say(
            "move batch %d: %d rows hot -> cold, committed version %d",
            batch + 1, result.rowsMoved(), result.version());
      }
    } finally {
      moving.set(false);
      reader.join();
    }
    long after = count();
    long distinctAfter = distinctIds();
    long rowsMoved = moves.stream().mapToLong(MoveResult::rowsMoved).sum();
    boolean consistent =
        observed.stream().allMatch(seen -> seen[0] == before && seen[1] == distinctBefore)
            && after == before
            && distinctAfter == distinctBefore;
    say(
        "after the move: %d rows, %d distinct ids; the reader ran %d queries during the move, all"
            + " %s",
        after,
        distinctAfter,
        observed.size(),
        consistent ? "saw the same count" : "DID NOT see the same count");
    show("SELECT _source, count(*) AS row_count FROM " + TABLE + " GROUP BY _source ORDER BY 1");

    step("5. Version history and time travel");
    show("SELECT version, committed_at, operation, summary FROM " + TABLE + ".versions");
    show(
        "SELECT version, source, kind, state FROM "
            + TABLE
            + ".sources WHERE version = (SELECT max(version) FROM "
            + TABLE
            + ".versions)");
    show(
        "SELECT _source, count(*) AS row_count FROM "
            + TABLE
            + " VERSION AS OF 1 GROUP BY _source ORDER BY 1");
    long atVersionOne = scalar("SELECT count(*) FROM " + TABLE + " VERSION AS OF 1");
    long latest = scalar("SELECT max(version) FROM " + TABLE + ".versions");

    step("Summary");
    say("table          %s (sources hot = Kafka, warm = PostgreSQL, cold = Iceberg)", TABLE);
    say("versions       1..%d", latest);
    say("version 1      %d rows (VERSION AS OF 1)", atVersionOne);
    say("rows moved     %d (Kafka -> Iceberg, in %d batches)", rowsMoved, moves.size());
    say(
        "count          %d before the move, %d after, %d reads during it",
        before, after, observed.size());
    say("consistent     %s", consistent ? "yes" : "NO");
    say("mover          %s", Movers.movePath(spark, "harness"));
    say("took           %.1f s (move %.1f s)", seconds(startNanos), seconds(moveStart));
    if (!consistent || rowsMoved == 0) {
      throw new IllegalStateException("the move did not keep the table's count");
    }
  }

  /**
   * The mover step: {@code CALL harness.system.move(table => 'quickstart.events', source => 'hot',
   * target => 'cold', max_rows => N)}.
   */
  private MoveResult runMover(String source, String target, long maxRows) {
    return Movers.move(spark, "harness", TABLE_NAME, source, target, maxRows);
  }

  private void produce(int firstId, int count) {
    List<List<String>> byPartition = new ArrayList<>();
    for (int p = 0; p < PARTITIONS; p++) {
      byPartition.add(new ArrayList<>());
    }
    for (int id = firstId; id < firstId + count; id++) {
      byPartition
          .get(id % PARTITIONS)
          .add(
              String.format(
                  Locale.ROOT,
                  "{\"id\": %d, \"page\": \"page-%d\", \"region\": \"%s\", \"amount\": %.1f}",
                  id,
                  id % 7,
                  REGIONS[id % 3],
                  id / 10.0));
    }
    for (int p = 0; p < PARTITIONS; p++) {
      services.kafka().produceJson(TOPIC, p, byPartition.get(p));
    }
  }

  private long count() {
    return scalar("SELECT count(*) FROM " + TABLE);
  }

  private long distinctIds() {
    return scalar("SELECT count(DISTINCT id) FROM " + TABLE);
  }

  private long scalar(String query) {
    return spark.sql(query).first().getLong(0);
  }

  private void sql(String statement) {
    spark.sql(statement).collect();
  }

  private void show(String query) {
    say("> %s", query);
    spark.sql(query).show(30, false);
  }

  private static void step(String title) {
    System.out.println();
    System.out.println("== " + title + " ==");
  }

  private static void say(String format, Object... args) {
    System.out.println(String.format(Locale.ROOT, format, args));
  }

  private static double seconds(long startNanos) {
    return (System.nanoTime() - startNanos) / (double) TimeUnit.SECONDS.toNanos(1);
  }
}
