package io.dataharness.chaos;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import io.dataharness.testing.TestingSpark;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.spark.sql.SparkSession;

/**
 * The services of one chaos run: a fresh metadata store database and source database on the shared
 * PostgreSQL, a fresh 3-partition topic, a fresh Iceberg namespace in the shared JDBC catalog, and
 * one harness table {@code (id, message, updated_at)} with primary key {@code id}, ordering column
 * {@code updated_at} and the sources {@code hot} (Kafka, the write source), {@code warm}
 * (PostgreSQL) and {@code cold} (Iceberg).
 *
 * <p>The test JVM gets two sessions with a harness catalog over the same store: the reader's
 * long-lived session {@link #readerSession} (catalog {@link #READ_CATALOG}) whose Iceberg catalog
 * caches tables, as Spark's default does for a notebook or a Thrift server; and the shared test
 * session (catalog {@link #CHECK_CATALOG}), whose Iceberg catalog does not cache, for the final
 * verification, so it sees what is stored. Both Iceberg catalogs are named {@code iceberg}: the
 * Iceberg JDBC catalog keeps tables per catalog name.
 */
final class ChaosEnvironment {
  static final int PARTITIONS = 3;
  static final String READ_CATALOG = "chaos";
  static final String CHECK_CATALOG = "chaos_check";

  final SparkSession spark = TestingSpark.shared().session();
  final SparkSession readerSession = spark.newSession();
  final TestingKafka kafka = TestingKafka.shared();
  final TestingIceberg iceberg = TestingIceberg.shared();
  final TestingDatabase storeDatabase;
  final TestingDatabase sourceDatabase;
  final String suffix = UUID.randomUUID().toString().substring(0, 8);
  final String topic = "chaos_" + suffix;
  final String namespace = "chaos_" + suffix;
  final TableIdentifier table = TableIdentifier.of(namespace, "events");
  final String postgresTable = "public.chaos_events_" + suffix;
  final String icebergTable = "chaos_lake_" + suffix + ".events";
  final Path workDirectory;

  ChaosEnvironment() {
    TestingPostgres postgres = TestingPostgres.shared();
    this.storeDatabase = postgres.createDatabase("chaos_metadata");
    this.sourceDatabase = postgres.createDatabase("chaos_sources");
    try {
      this.workDirectory =
          Files.createDirectories(
              Path.of(System.getProperty("java.io.tmpdir"), "chaos-" + suffix).toAbsolutePath());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    kafka.createTopic(topic, PARTITIONS);
    readerSession.conf().set("spark.sql.catalog.iceberg.cache-enabled", "true");
    harnessOptions()
        .forEach(
            (key, value) ->
                readerSession.conf().set("spark.sql.catalog." + READ_CATALOG + key, value));
    harnessOptions()
        .forEach(
            (key, value) -> spark.conf().set("spark.sql.catalog." + CHECK_CATALOG + key, value));
    spark.sql("CREATE NAMESPACE " + CHECK_CATALOG + "." + namespace);
    spark.sql(
        "CREATE TABLE "
            + qualified(CHECK_CATALOG)
            + " (id BIGINT NOT NULL, message STRING, updated_at TIMESTAMP NOT NULL) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + postgresTable
            + "', 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = '"
            + icebergTable
            + "', 'primary-key' = 'id', 'ordering-column' = 'updated_at',"
            + " 'write.source' = 'hot')");
  }

  /**
   * Options of a harness catalog over this run's store and sources (keys start with a dot, or are
   * empty for the catalog class itself), its Iceberg connection through the Spark catalog {@code
   * iceberg}.
   */
  Map<String, String> harnessOptions() {
    Map<String, String> options = new LinkedHashMap<>();
    options.put("", HarnessCatalog.class.getName());
    options.put(".uri", storeDatabase.jdbcUrl());
    options.put(".user", storeDatabase.user());
    options.put(".password", storeDatabase.password());
    options.put(".connection.kafka.kind", "kafka");
    options.put(".connection.kafka.bootstrap-servers", kafka.bootstrapServers());
    options.put(".connection.pg.kind", "jdbc");
    options.put(".connection.pg.url", sourceDatabase.jdbcUrl());
    options.put(".connection.pg.user", sourceDatabase.user());
    options.put(".connection.pg.password", sourceDatabase.password());
    options.put(".connection.lake.kind", "iceberg");
    options.put(".connection.lake.spark-catalog", TestingIceberg.CATALOG_NAME);
    return options;
  }

  /**
   * The Spark configuration of a job process, as {@code spark-submit --conf} would pass it: local
   * master, Iceberg's SQL extensions, catalog {@code iceberg} (Iceberg's default caching) and
   * catalog {@code harness} over this run's store.
   */
  Map<String, String> jobSparkConf(String appName) {
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("spark.master", "local[2]");
    conf.put("spark.app.name", appName);
    conf.put("spark.ui.enabled", "false");
    conf.put("spark.sql.shuffle.partitions", "2");
    conf.put("spark.default.parallelism", "2");
    conf.put("spark.driver.host", "localhost");
    conf.put("spark.driver.bindAddress", "127.0.0.1");
    conf.put("spark.sql.session.timeZone", "UTC");
    conf.put("spark.sql.warehouse.dir", workDirectory.resolve("spark-warehouse").toString());
    conf.put(
        "spark.sql.extensions",
        "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions");
    conf.put("spark.sql.catalog.iceberg", "org.apache.iceberg.spark.SparkCatalog");
    iceberg
        .catalogProperties()
        .forEach((key, value) -> conf.put("spark.sql.catalog.iceberg." + key, value));
    harnessOptions().forEach((key, value) -> conf.put("spark.sql.catalog.harness" + key, value));
    return conf;
  }

  String qualified(String catalog) {
    return catalog + "." + namespace + ".events";
  }

  HarnessStore store() {
    return catalog(CHECK_CATALOG).store();
  }

  HarnessCatalog catalog(String name) {
    return (HarnessCatalog)
        ((org.apache.spark.sql.classic.SparkSession) spark)
            .sessionState()
            .catalogManager()
            .catalog(name);
  }
}
