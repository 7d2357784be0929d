package io.dataharness.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Iceberg JDBC catalog for tests, started once per JVM: its catalog tables live in a fresh
 * database of {@link TestingPostgres} and its warehouse is a fresh local directory under the JVM's
 * temporary directory ({@code target/} in Maven builds).
 *
 * <p>A fresh database per JVM matters: the JDBC catalog keeps table pointers, so a reused database
 * would point at metadata files of a warehouse that no longer exists.
 *
 * <p>Needs the Iceberg Spark runtime and Hadoop client jars on the class path (optional
 * dependencies of harness-testing: see its pom).
 */
public final class TestingIceberg implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TestingIceberg.class);
  private static final SharedInstance<TestingIceberg> SHARED =
      new SharedInstance<>("TestingIceberg", TestingIceberg::start);

  /** The name the catalog is initialized with; TestingSpark registers it under the same name. */
  public static final String CATALOG_NAME = "iceberg";

  private final TestingDatabase database;
  private final Path warehouse;
  private final JdbcCatalog catalog;

  private TestingIceberg(TestingDatabase database, Path warehouse, JdbcCatalog catalog) {
    this.database = database;
    this.warehouse = warehouse;
    this.catalog = catalog;
  }

  /** The catalog shared by every test in this JVM, created on first call. */
  public static synchronized TestingIceberg shared() {
    return SHARED.get();
  }

  /**
   * Properties of this catalog for a Spark catalog ({@code spark.sql.catalog.<name>.<key>}) or
   * {@code CatalogUtil}: {@code type=jdbc}, {@code uri}, {@code jdbc.user}, {@code jdbc.password},
   * {@code jdbc.schema-version} and {@code warehouse}.
   */
  public Map<String, String> catalogProperties() {
    return catalogProperties(database, warehouse);
  }

  private static Map<String, String> catalogProperties(TestingDatabase database, Path warehouse) {
    Map<String, String> properties = new LinkedHashMap<>();
    properties.put("type", "jdbc");
    properties.put("uri", database.jdbcUrl());
    properties.put("jdbc.user", database.user());
    properties.put("jdbc.password", database.password());
    properties.put("jdbc.schema-version", "V1");
    properties.put("warehouse", warehouse.toString());
    return properties;
  }

  /** The initialized catalog, shared: do not close it. */
  public Catalog catalog() {
    return catalog;
  }

  /** The local warehouse directory where tables keep their data and metadata files. */
  public Path warehouse() {
    return warehouse;
  }

  /** The database that holds the catalog's tables. */
  public TestingDatabase catalogDatabase() {
    return database;
  }

  @Override
  public void close() {
    catalog.close();
  }

  private static TestingIceberg start() {
    long startNanos = System.nanoTime();
    TestingDatabase database = TestingPostgres.shared().createDatabase("iceberg_catalog");
    Path warehouse;
    try {
      warehouse =
          Files.createTempDirectory(
              Path.of(System.getProperty("java.io.tmpdir")), "iceberg-warehouse-");
    } catch (IOException e) {
      throw new IllegalStateException(
          "Cannot create the Iceberg warehouse directory in "
              + System.getProperty("java.io.tmpdir")
              + ": "
              + e.getMessage()
              + ". Set -Djava.io.tmpdir to a writable directory",
          e);
    }
    JdbcCatalog catalog = new JdbcCatalog();
    catalog.setConf(new Configuration());
    try {
      catalog.initialize(CATALOG_NAME, catalogProperties(database, warehouse));
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "Cannot initialize the Iceberg JDBC catalog in database "
              + database.jdbcUrl()
              + ": "
              + e.getMessage(),
          e);
    }
    LOG.info(
        "Started Iceberg JDBC catalog in PostgreSQL database {} with warehouse {} in {} ms",
        database.name(),
        warehouse,
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
    return new TestingIceberg(database, warehouse, catalog);
  }
}
