package io.dataharness.metadata;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Measures the PostgreSQL store against a raw single-row PostgreSQL UPDATE commit on the same
 * server, and the time to load versions of a table with 1,000 sources and 1,000,000 versions. Not a
 * test: run with {@code ./mvnw -B -Pbench -pl harness-metadata -am verify -DskipTests}.
 */
public final class HarnessStoreBenchmark {
  private static final int LATENCY_COMMITS = 3000;
  private static final Duration THROUGHPUT_WINDOW = Duration.ofSeconds(5);
  private static final int SOURCES = 1000;
  private static final int VERSIONS = 1_000_000;

  public static void main(String[] args) throws Exception {
    TestingPostgres postgres = TestingPostgres.shared();
    System.out.println("Server: " + postgres.description());
    TestingDatabase database = postgres.createDatabase("harness_bench");
    // the embedded test server turns synchronous_commit off; measure durable commits, as in
    // production
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      statement.execute("ALTER DATABASE " + database.name() + " SET synchronous_commit = on");
    }
    System.out.println("Both arms commit durably (synchronous_commit = on)");
    try (HarnessStore store =
        HarnessStores.open(database.jdbcUrl(), database.user(), database.password(), 20)) {
      TableIdentifier table = createTable(store, "commits", 16);

      double[] raw = rawUpdateLatencies(database);
      double[] harness = harnessCommitLatencies(store, table);
      System.out.printf(
          "%nSingle writer commit latency (ms), %d commits%n%-28s p50 %6.3f  p99 %6.3f%n%-28s p50"
              + " %6.3f  p99 %6.3f%n%-28s p50 %6.2fx p99 %6.2fx%n",
          LATENCY_COMMITS,
          "raw PostgreSQL UPDATE",
          percentile(raw, 50),
          percentile(raw, 99),
          "harness commit (locked)",
          percentile(harness, 50),
          percentile(harness, 99),
          "ratio harness / raw",
          percentile(harness, 50) / percentile(raw, 50),
          percentile(harness, 99) / percentile(raw, 99));

      System.out.printf(
          "%nThroughput over %d s, each writer on its own source / row%n",
          THROUGHPUT_WINDOW.toSeconds());
      for (int writers : new int[] {1, 4, 16}) {
        Throughput rawRate = rawUpdateThroughput(database, writers);
        Throughput harnessRate = harnessThroughput(store, table, writers);
        System.out.printf(
            "%2d writers: raw %7.0f commits/s | harness %7.0f commits/s, %d failures | ratio"
                + " %.2f%n",
            writers,
            rawRate.perSecond(),
            harnessRate.perSecond(),
            harnessRate.failures(),
            harnessRate.perSecond() / rawRate.perSecond());
      }
      versionLoad(store, database);
    }
    postgres.close();
  }

  private static TableIdentifier createTable(HarnessStore store, String name, int sources) {
    if (!store.namespaceExists("bench")) {
      store.createNamespace("bench", Map.of());
    }
    TableIdentifier table = TableIdentifier.of("bench", name);
    TableDefinition.Builder definition =
        TableDefinition.builder(table, Schema.of(Field.required(1, "id", FieldType.LONG)));
    for (int source = 0; source < sources; source++) {
      definition.source(
          new SourceDefinition("p" + source, SourceKind.KAFKA, "kafka", Map.of("topic", "t")),
          kafka(0));
    }
    store.createTable(definition.build());
    return table;
  }

  private static SourceState.Kafka kafka(long end) {
    return SourceState.Kafka.of(Map.of(0, new SourceState.OffsetRange(0, end)));
  }

  private static double[] rawUpdateLatencies(TestingDatabase database) throws Exception {
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE TABLE raw_counters (id INT PRIMARY KEY, counter BIGINT NOT NULL)");
      statement.execute("INSERT INTO raw_counters SELECT g, 0 FROM generate_series(0, 15) g");
      try (PreparedStatement update =
          connection.prepareStatement(
              "UPDATE raw_counters SET counter = counter + 1 WHERE id = ?")) {
        double[] latencies = new double[LATENCY_COMMITS];
        for (int i = -500; i < LATENCY_COMMITS; i++) {
          long start = System.nanoTime();
          update.setInt(1, 0);
          update.executeUpdate();
          if (i >= 0) {
            latencies[i] = (System.nanoTime() - start) / 1e6;
          }
        }
        return latencies;
      }
    }
  }

  private static double[] harnessCommitLatencies(HarnessStore store, TableIdentifier table) {
    SourceLock lock = store.acquireLock(table, "p0", "bench", Duration.ofMinutes(10));
    double[] latencies = new double[LATENCY_COMMITS];
    for (int i = -500; i < LATENCY_COMMITS; i++) {
      long start = System.nanoTime();
      store.newTransaction(table).withLock(lock).setSourceState("p0", kafka(i + 501)).commit();
      if (i >= 0) {
        latencies[i] = (System.nanoTime() - start) / 1e6;
      }
    }
    store.releaseLock(lock);
    return latencies;
  }

  record Throughput(double perSecond, long failures) {}

  /** A writer's loop body: one commit. */
  @FunctionalInterface
  interface Commit {
    void run(long sequence) throws Exception;

    /** Frees what {@link Writer#open} took (a lock: every acquisition needs a free lock). */
    default void close() throws Exception {}
  }

  /** A writer: prepares its own resources, and hands back its commit. */
  @FunctionalInterface
  interface Writer {
    Commit open(int writer) throws Exception;
  }

  private static Throughput measure(int writers, Writer writer) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(writers);
    AtomicLong commits = new AtomicLong();
    AtomicLong failures = new AtomicLong();
    long deadline = System.nanoTime() + THROUGHPUT_WINDOW.toNanos();
    List<Future<?>> futures = new ArrayList<>();
    for (int w = 0; w < writers; w++) {
      int id = w;
      futures.add(
          pool.submit(
              () -> {
                Commit commit = writer.open(id);
                try {
                  for (long sequence = 1; System.nanoTime() < deadline; sequence++) {
                    try {
                      commit.run(sequence);
                      commits.incrementAndGet();
                    } catch (Exception e) {
                      failures.incrementAndGet();
                    }
                  }
                } finally {
                  commit.close();
                }
                return null;
              }));
    }
    for (Future<?> future : futures) {
      future.get();
    }
    pool.shutdown();
    return new Throughput(commits.get() / (double) THROUGHPUT_WINDOW.toSeconds(), failures.get());
  }

  private static Throughput rawUpdateThroughput(TestingDatabase database, int writers)
      throws Exception {
    return measure(
        writers,
        writer -> {
          Connection connection = database.connect();
          PreparedStatement update =
              connection.prepareStatement(
                  "UPDATE raw_counters SET counter = counter + 1 WHERE id = ?");
          update.setInt(1, writer);
          return sequence -> update.executeUpdate();
        });
  }

  private static Throughput harnessThroughput(
      HarnessStore store, TableIdentifier table, int writers) throws Exception {
    return measure(
        writers,
        writer -> {
          String source = "p" + writer;
          SourceLock lock =
              store.acquireLock(table, source, "bench-" + writer, Duration.ofMinutes(5));
          long base =
              ((SourceState.Kafka) store.readLatest(table).state(source)).partition(0).end();
          return new Commit() {
            @Override
            public void run(long sequence) {
              store
                  .newTransaction(table)
                  .withLock(lock)
                  .setSourceState(source, kafka(base + sequence))
                  .commit();
            }

            @Override
            public void close() {
              store.releaseLock(lock);
            }
          };
        });
  }

  /**
   * Loads a table of 1,000 sources and 1,000,000 versions (each version changes one source, as
   * commits would write it, but inserted in bulk) and times loading the latest and old versions.
   */
  private static void versionLoad(HarnessStore store, TestingDatabase database) throws Exception {
    TableIdentifier table = createTable(store, "history", SOURCES);
    long loadStart = System.nanoTime();
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      long tableId;
      try (var rows =
          statement.executeQuery(
              "SELECT table_id FROM harness_tables WHERE table_name = 'history'")) {
        rows.next();
        tableId = rows.getLong(1);
      }
      statement.execute(
          "INSERT INTO harness_versions (table_id, version, schema_id, committed_at, operation,"
              + " summary, changes) SELECT "
              + tableId
              + ", g, 1, now() - make_interval(secs => ("
              + VERSIONS
              + " - g) / 100.0), 'sync', '{}', '{\"sources\":[],\"external-state\":{}}' FROM"
              + " generate_series(2, "
              + VERSIONS
              + ") g");
      statement.execute(
          "INSERT INTO harness_source_states (table_id, source_id, version, state) SELECT "
              + tableId
              + ", 'p' || (g % "
              + SOURCES
              + "), g, '{\"kind\":\"kafka\",\"partitions\":{\"0\":{\"start\":0,\"end\":' || g ||"
              + " '}}}' FROM generate_series(2, "
              + VERSIONS
              + ") g");
      statement.execute(
          "UPDATE harness_tables SET current_version = "
              + VERSIONS
              + " WHERE table_id = "
              + tableId);
      statement.execute("ANALYZE");
    }
    System.out.printf(
        "%nBulk-loaded %,d versions over %,d sources in %.1f s%n",
        VERSIONS, SOURCES, (System.nanoTime() - loadStart) / 1e9);
    double[] latest = new double[200];
    double[] old = new double[200];
    for (int i = -20; i < latest.length; i++) {
      long start = System.nanoTime();
      TableVersion version = store.readLatest(table);
      if (i >= 0) {
        latest[i] = (System.nanoTime() - start) / 1e6;
      }
      if (version.sourceStates().size() != SOURCES) {
        throw new IllegalStateException("expected " + SOURCES + " sources");
      }
      long number = ThreadLocalRandom.current().nextLong(2, VERSIONS);
      start = System.nanoTime();
      store.readVersion(table, number);
      if (i >= 0) {
        old[i] = (System.nanoTime() - start) / 1e6;
      }
    }
    System.out.printf(
        "Load latest version (1,000 sources): p50 %.2f ms, p99 %.2f ms%n",
        percentile(latest, 50), percentile(latest, 99));
    System.out.printf(
        "Load a random old version:           p50 %.2f ms, p99 %.2f ms%n",
        percentile(old, 50), percentile(old, 99));
  }

  private static double percentile(double[] values, int percentile) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[
        Math.min(sorted.length - 1, (int) Math.ceil(percentile / 100.0 * sorted.length) - 1)];
  }
}
