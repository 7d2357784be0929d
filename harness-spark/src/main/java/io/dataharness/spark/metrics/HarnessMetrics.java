package io.dataharness.spark.metrics;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.MetricRegistry;
import org.apache.spark.SparkEnv;
import org.apache.spark.metrics.source.Source;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The process-wide DataHarness metrics, published to Spark's metrics system as the source {@value
 * #SOURCE_NAME} (so every sink configured in {@code metrics.properties} reports them, as {@code
 * <app>.driver.dataharness.<metric>}). The write protocol updates them on every commit; {@link
 * #registerWithSpark()} registers the source once per JVM.
 */
public final class HarnessMetrics implements Source {
  private static final Logger LOG = LoggerFactory.getLogger(HarnessMetrics.class);

  /** The metrics source name in Spark's metrics system. */
  public static final String SOURCE_NAME = "dataharness";

  /** Commits that produced a new version (replays of an earlier commit excluded). */
  public static final String COMMITS = "commits";

  /** Commits whose idempotency key showed the batch was already committed (retried jobs). */
  public static final String REPLAYS = "commits.replayed";

  /** Milliseconds from taking the locks to publishing, per commit. */
  public static final String COMMIT_LATENCY = "commit.latency-ms";

  /** Milliseconds spent waiting for locks other writers held, per commit. */
  public static final String LOCK_WAIT = "lock.wait-ms";

  /** Attempts to take locks that found another writer holding one (each is retried). */
  public static final String LOCK_WAITS = "lock.waits";

  /** Writes that failed because another writer held a lock or changed a source first. */
  public static final String CONFLICTS = "conflicts";

  /** Rows moved between sources by movers. */
  public static final String ROWS_MOVED = "rows.moved";

  /** Rows appended to the table's write source. */
  public static final String ROWS_APPENDED = "rows.appended";

  /**
   * Prefix of the per-table gauges set each time a table's lag table is read: {@code
   * lag.seconds.<ns.t>} (its freshness: the age of the oldest change not yet visible) and {@code
   * lag.rows.<ns.t>} (the changes not yet visible).
   */
  public static final String LAG_SECONDS = "lag.seconds";

  public static final String LAG_ROWS = "lag.rows";

  private static final HarnessMetrics INSTANCE = new HarnessMetrics();

  private final MetricRegistry registry = new MetricRegistry();
  // the Spark environment the source is registered with: a new SparkContext in the same JVM (tests,
  // notebooks that restart their session) has a metrics system of its own
  private SparkEnv registeredWith;
  private final Counter commits = registry.counter(COMMITS);
  private final Counter replays = registry.counter(REPLAYS);
  private final Histogram commitLatency = registry.histogram(COMMIT_LATENCY);
  private final Histogram lockWait = registry.histogram(LOCK_WAIT);
  private final Counter lockWaits = registry.counter(LOCK_WAITS);
  private final Counter conflicts = registry.counter(CONFLICTS);
  private final Counter rowsMoved = registry.counter(ROWS_MOVED);
  private final Counter rowsAppended = registry.counter(ROWS_APPENDED);

  /** The last lag of each table, read by its gauges. */
  private static final class Lag {
    volatile double seconds;
    volatile long rows;
  }

  private final java.util.Map<String, Lag> lags = new java.util.concurrent.ConcurrentHashMap<>();

  private HarnessMetrics() {}

  /** Records a table's lag as its lag table computed it (see {@link #LAG_SECONDS}). */
  public void lag(String table, double seconds, long rows) {
    Lag lag =
        lags.computeIfAbsent(
            table,
            name -> {
              Lag created = new Lag();
              registry.gauge(LAG_SECONDS + "." + name, () -> () -> created.seconds);
              registry.gauge(LAG_ROWS + "." + name, () -> () -> created.rows);
              return created;
            });
    lag.seconds = seconds;
    lag.rows = rows;
  }

  /** The metrics of this JVM. */
  public static HarnessMetrics get() {
    return INSTANCE;
  }

  @Override
  public String sourceName() {
    return SOURCE_NAME;
  }

  @Override
  public MetricRegistry metricRegistry() {
    return registry;
  }

  /**
   * Registers the source with the running {@link SparkEnv}'s metrics system, once per Spark
   * environment (so once per JVM unless the SparkContext is replaced); does nothing when no Spark
   * environment runs (the Java API outside Spark). Safe to call often.
   */
  public static void registerWithSpark() {
    SparkEnv env = SparkEnv.get();
    if (env == null) {
      return;
    }
    synchronized (INSTANCE) {
      if (INSTANCE.registeredWith == env) {
        return;
      }
      INSTANCE.registeredWith = env;
      try {
        env.metricsSystem().registerSource(INSTANCE);
      } catch (RuntimeException e) {
        LOG.warn("Cannot register the DataHarness metrics source with Spark: {}", e.toString());
      }
    }
  }

  /** Records one commit of the write protocol. */
  public void committed(
      String operation, boolean replayed, long rows, long totalMillis, long lockWaitMillis) {
    if (replayed) {
      replays.inc();
      return;
    }
    commits.inc();
    commitLatency.update(totalMillis);
    lockWait.update(lockWaitMillis);
    if (rows > 0) {
      if ("move".equals(operation)) {
        rowsMoved.inc(rows);
      } else if ("append".equals(operation)) {
        rowsAppended.inc(rows);
      }
    }
  }

  /** Records an attempt to take locks that found one held. */
  public void lockWaited() {
    lockWaits.inc();
  }

  /** Records a write that failed on a lock held or a lost race. */
  public void conflicted() {
    conflicts.inc();
  }
}
