package io.dataharness.benchmark;

import io.dataharness.metadata.BulkVersions;
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
import io.dataharness.testing.BenchmarkResults;
import io.dataharness.testing.BenchmarkResults.Goal;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingSpark;
import java.util.Map;
import java.util.function.LongSupplier;
import org.apache.spark.sql.SparkSession;

/**
 * Filtered queries on the metadata tables ({@code .versions}, {@code .sources}, {@code .commits})
 * of a table with 1,000 sources and 1,000,000 versions in the PostgreSQL store, through Spark SQL;
 * the baseline is the store's own API reading the same versions. Not a test: run with {@code ./mvnw
 * -B -Pbench verify -DskipTests}.
 */
public final class MetadataTablesBenchmark {
  private static final int SOURCES = 1000;
  private static final int VERSIONS = Integer.getInteger("bench.versions", 1_000_000);
  private static final int RUNS = 9;

  public static void main(String[] args) throws Exception {
    BenchmarkResults.start("4-metadata-tables");
    TestingSpark testing = TestingSpark.shared();
    SparkSession spark = testing.session();
    TestingDatabase metadata = testing.metadataDatabase();
    TableIdentifier table = TableIdentifier.of("bench_meta", "history");
    try (HarnessStore store =
        HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password(), 2)) {
      store.createNamespace("bench_meta", Map.of());
      TableDefinition.Builder definition =
          TableDefinition.builder(table, Schema.of(Field.required(1, "id", FieldType.LONG)));
      for (int source = 0; source < SOURCES; source++) {
        definition.source(
            new SourceDefinition("p" + source, SourceKind.KAFKA, "kafka", Map.of("topic", "t")),
            SourceState.Kafka.of(Map.of(0, new SourceState.OffsetRange(0, 0))));
      }
      store.createTable(definition.build());
      double seconds = BulkVersions.load(metadata, table, VERSIONS, SOURCES);
      System.out.printf(
          "Bulk-loaded %,d versions of %s (%,d sources) in %.1f s%n",
          VERSIONS, table, SOURCES, seconds);

      String name = "harness.bench_meta.history";
      long middle = VERSIONS / 2;
      long recent = VERSIONS - 10;
      measure(
          ".versions WHERE version = n",
          () ->
              (long)
                  spark
                      .sql("SELECT * FROM " + name + ".versions WHERE version = " + middle)
                      .collectAsList()
                      .size(),
          () -> (long) store.history(table, middle, 1).size());
      measure(
          ".versions WHERE version > n (10 rows)",
          () ->
              (long)
                  spark
                      .sql("SELECT * FROM " + name + ".versions WHERE version > " + recent)
                      .collectAsList()
                      .size(),
          () -> (long) store.history(table, recent + 1, 1000).size());
      measure(
          ".sources WHERE version = n (1,000 rows)",
          () ->
              (long)
                  spark
                      .sql("SELECT * FROM " + name + ".sources WHERE version = " + middle)
                      .collectAsList()
                      .size(),
          () -> (long) store.readVersion(table, middle).sourceStates().size());
      measure(
          ".commits WHERE version > n (10 versions)",
          () ->
              (long)
                  spark
                      .sql("SELECT * FROM " + name + ".commits WHERE version > " + recent)
                      .collectAsList()
                      .size(),
          () -> (long) store.history(table, recent + 1, 1000).size());
      measure(
          ".versions LIMIT 10",
          () ->
              (long)
                  spark.sql("SELECT * FROM " + name + ".versions LIMIT 10").collectAsList().size(),
          () -> (long) store.history(table, 1, 10).size());
    }
    testing.close();
    System.exit(0); // the shared test services' threads would keep the JVM alive
  }

  /** Median of {@link #RUNS} runs of each, alternating, after one warm-up of each. */
  private static void measure(String figure, LongSupplier ours, LongSupplier baseline) {
    ours.getAsLong();
    baseline.getAsLong();
    double[] oursMs = new double[RUNS];
    double[] baselineMs = new double[RUNS];
    for (int run = 0; run < RUNS; run++) {
      oursMs[run] = BenchmarkResults.millis(ours::getAsLong);
      baselineMs[run] = BenchmarkResults.millis(baseline::getAsLong);
    }
    BenchmarkResults.record(
        String.format("metadata table %s, %,d versions", figure, VERSIONS),
        "ms",
        BenchmarkResults.median(oursMs),
        BenchmarkResults.median(baselineMs),
        "store API",
        Goal.atMost(100));
  }
}
