package io.dataharness.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One local SparkSession per JVM ({@code local[2]}, no UI, 4 shuffle partitions) with:
 *
 * <ul>
 *   <li>catalog {@code iceberg}: Iceberg's {@code SparkCatalog} over {@link TestingIceberg}, with
 *       Iceberg's SQL extensions;
 *   <li>catalog {@code harness}, only when {@code io.dataharness.spark.HarnessCatalog} is on the
 *       class path: its metadata in a fresh {@link TestingPostgres} database ({@link
 *       #metadataDatabase()}) and three named connections: {@code kafka} ({@link TestingKafka}),
 *       {@code pg} (the fresh database {@link #sourceDatabase()} for source tables) and {@code
 *       lake} (the Spark catalog {@code iceberg}).
 * </ul>
 *
 * <p>The test JVM needs Spark's {@code --add-opens} flags (the parent pom's surefire argLine).
 */
public final class TestingSpark implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TestingSpark.class);
  private static final SharedInstance<TestingSpark> SHARED =
      new SharedInstance<>("TestingSpark", TestingSpark::start);
  private static final String HARNESS_CATALOG_CLASS = "io.dataharness.spark.HarnessCatalog";

  private final SparkSession session;
  private final TestingDatabase metadataDatabase;
  private final TestingDatabase sourceDatabase;

  private TestingSpark(
      SparkSession session, TestingDatabase metadataDatabase, TestingDatabase sourceDatabase) {
    this.session = session;
    this.metadataDatabase = metadataDatabase;
    this.sourceDatabase = sourceDatabase;
  }

  /** The session shared by every test in this JVM, started on first call. */
  public static synchronized TestingSpark shared() {
    return SHARED.get();
  }

  /** The shared session: do not stop it, and prefer fresh table names over changing its conf. */
  public SparkSession session() {
    return session;
  }

  /** The database of the {@code harness} catalog's connection {@code pg}, for source tables. */
  public TestingDatabase sourceDatabase() {
    return sourceDatabase;
  }

  /** The database that holds the {@code harness} catalog's metadata. */
  public TestingDatabase metadataDatabase() {
    return metadataDatabase;
  }

  @Override
  public void close() {
    session.stop();
  }

  private static TestingSpark start() {
    long startNanos = System.nanoTime();
    TestingPostgres postgres = TestingPostgres.shared();
    TestingDatabase metadataDatabase = postgres.createDatabase("harness_metadata");
    TestingDatabase sourceDatabase = postgres.createDatabase("harness_sources");
    SparkSession.Builder builder =
        SparkSession.builder()
            .master("local[2]")
            .appName("dataharness-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.default.parallelism", "2")
            .config("spark.driver.host", "localhost")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.warehouse.dir", temporaryDirectory("spark-warehouse-").toString())
            .config(
                "spark.sql.extensions",
                "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions");
    configureIceberg(builder);
    boolean harnessCatalog = isOnClassPath(HARNESS_CATALOG_CLASS);
    if (harnessCatalog) {
      configureHarness(builder, metadataDatabase, sourceDatabase);
    }
    SparkSession session;
    try {
      session = builder.getOrCreate();
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "Cannot start the local SparkSession: "
              + e.getMessage()
              + ". Run the test JVM with Spark's --add-opens flags (the parent pom's"
              + " spark.jvm.flags in surefire's argLine)",
          e);
    }
    LOG.info(
        "Started local SparkSession (Spark {}) with catalogs iceberg{} in {} ms",
        session.version(),
        harnessCatalog ? " and harness" : "",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
    return new TestingSpark(session, metadataDatabase, sourceDatabase);
  }

  private static void configureIceberg(SparkSession.Builder builder) {
    String prefix = "spark.sql.catalog." + TestingIceberg.CATALOG_NAME;
    builder.config(prefix, "org.apache.iceberg.spark.SparkCatalog");
    for (Map.Entry<String, String> property :
        TestingIceberg.shared().catalogProperties().entrySet()) {
      builder.config(prefix + "." + property.getKey(), property.getValue());
    }
    // tests also change tables through TestingIceberg.catalog(); a cached table would hide that
    builder.config(prefix + ".cache-enabled", "false");
  }

  private static void configureHarness(
      SparkSession.Builder builder,
      TestingDatabase metadataDatabase,
      TestingDatabase sourceDatabase) {
    String prefix = "spark.sql.catalog.harness";
    builder
        .config(prefix, HARNESS_CATALOG_CLASS)
        .config(prefix + ".uri", metadataDatabase.jdbcUrl())
        .config(prefix + ".user", metadataDatabase.user())
        .config(prefix + ".password", metadataDatabase.password())
        .config(prefix + ".connection.kafka.kind", "kafka")
        .config(
            prefix + ".connection.kafka.bootstrap-servers",
            TestingKafka.shared().bootstrapServers())
        .config(prefix + ".connection.pg.kind", "jdbc")
        .config(prefix + ".connection.pg.url", sourceDatabase.jdbcUrl())
        .config(prefix + ".connection.pg.user", sourceDatabase.user())
        .config(prefix + ".connection.pg.password", sourceDatabase.password())
        .config(prefix + ".connection.lake.kind", "iceberg")
        .config(prefix + ".connection.lake.spark-catalog", TestingIceberg.CATALOG_NAME);
  }

  private static boolean isOnClassPath(String className) {
    try {
      Class.forName(className, false, TestingSpark.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  private static Path temporaryDirectory(String prefix) {
    try {
      return Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), prefix);
    } catch (IOException e) {
      throw new IllegalStateException(
          "Cannot create a temporary directory in "
              + System.getProperty("java.io.tmpdir")
              + ": "
              + e.getMessage(),
          e);
    }
  }
}
