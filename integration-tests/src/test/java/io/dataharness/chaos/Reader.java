package io.dataharness.chaos;

import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * A reader in the test JVM's long-lived session (catalog {@link ChaosEnvironment#READ_CATALOG},
 * whose Iceberg catalog caches tables as Spark's default does): reads the table's current state
 * and, alternately, the latest version pinned ({@code VERSION AS OF}), and counts reads that show
 * an id twice and reads that fail.
 */
final class Reader implements Runnable {
  private final SparkSession spark;
  private final String table;
  private final LongSupplier latestVersion;
  private final Random random;
  private final AtomicBoolean stop;

  final AtomicLong reads = new AtomicLong();
  final AtomicLong readsWithDuplicates = new AtomicLong();
  final AtomicLong duplicateRows = new AtomicLong();
  final AtomicLong failures = new AtomicLong();
  final Map<String, Long> failureMessages = new ConcurrentHashMap<>();

  Reader(
      SparkSession spark, String table, LongSupplier latestVersion, long seed, AtomicBoolean stop) {
    this.spark = spark;
    this.table = table;
    this.latestVersion = latestVersion;
    this.random = new Random(seed);
    this.stop = stop;
  }

  @Override
  public void run() {
    boolean pinned = false;
    while (!stop.get()) {
      String sql = "SELECT count(*), count(DISTINCT id) FROM " + table;
      try {
        if (pinned) {
          sql += " VERSION AS OF " + latestVersion.getAsLong();
        }
        Row counts = spark.sql(sql).collectAsList().get(0);
        reads.incrementAndGet();
        long extra = counts.getLong(0) - counts.getLong(1);
        if (extra > 0) {
          readsWithDuplicates.incrementAndGet();
          duplicateRows.addAndGet(extra);
        }
      } catch (RuntimeException e) {
        failures.incrementAndGet();
        failureMessages.merge(ChaosReport.shorten(ChaosReport.describe(e)), 1L, Long::sum);
      }
      pinned = !pinned;
      Pause.millis(200 + random.nextInt(800));
    }
  }
}
