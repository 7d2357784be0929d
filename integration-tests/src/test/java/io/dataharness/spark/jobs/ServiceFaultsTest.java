package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingPostgres;
import io.dataharness.testing.TestingSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.stream.LongStream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A service a move depends on goes down in the middle of the job and comes back: the PostgreSQL
 * source database and the Iceberg catalog's database, each a dedicated database on the real
 * PostgreSQL server made unreachable for real (every connection terminated, new ones refused with
 * {@code ALLOW_CONNECTIONS false}) and then restored. The move fails with an error that names the
 * service, the connection and what to do; versions, locks and both sources are unchanged; the rerun
 * after the service returns moves every row exactly once.
 */
class ServiceFaultsTest {
  private static final List<Long> OLD_IDS = List.of(1L, 2L, 3L, 4L, 5L, 6L);
  private static final List<Long> ALL_IDS = LongStream.rangeClosed(1, 9).boxed().toList();

  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();

  /**
   * A harness catalog of its own: metadata, the PostgreSQL source database and the Iceberg catalog
   * (a Spark catalog over its own JDBC catalog database and warehouse) are dedicated databases, so
   * one of them can go down without touching the services other tests share.
   */
  private final class Fixture {
    final String suffix = UUID.randomUUID().toString().substring(0, 8);
    final String catalogName = "faults_" + suffix;
    final String icebergCatalog = "lake_" + suffix;
    final TestingDatabase metadata = TestingPostgres.shared().createDatabase("faults_metadata");
    final TestingDatabase source = TestingPostgres.shared().createDatabase("faults_source");
    final TestingDatabase lake = TestingPostgres.shared().createDatabase("faults_lake");
    final String namespace = "faults";
    final TableIdentifier identifier = TableIdentifier.of(namespace, "events");
    final String table = catalogName + "." + namespace + ".events";

    Fixture() throws Exception {
      Path warehouse = Files.createTempDirectory("faults-warehouse-");
      String iceberg = "spark.sql.catalog." + icebergCatalog;
      spark.conf().set(iceberg, "org.apache.iceberg.spark.SparkCatalog");
      for (Map.Entry<String, String> property :
          Map.of(
                  "type", "jdbc",
                  "uri", lake.jdbcUrl(),
                  "jdbc.user", lake.user(),
                  "jdbc.password", lake.password(),
                  "jdbc.schema-version", "V1",
                  "warehouse", warehouse.toString(),
                  "cache-enabled", "false")
              .entrySet()) {
        spark.conf().set(iceberg + "." + property.getKey(), property.getValue());
      }
      String prefix = "spark.sql.catalog." + catalogName;
      spark.conf().set(prefix, HarnessCatalog.class.getName());
      spark.conf().set(prefix + ".uri", metadata.jdbcUrl());
      spark.conf().set(prefix + ".user", metadata.user());
      spark.conf().set(prefix + ".password", metadata.password());
      spark.conf().set(prefix + ".connection.pg.kind", "jdbc");
      spark.conf().set(prefix + ".connection.pg.url", source.jdbcUrl());
      spark.conf().set(prefix + ".connection.pg.user", source.user());
      spark.conf().set(prefix + ".connection.pg.password", source.password());
      spark.conf().set(prefix + ".connection.lake.kind", "iceberg");
      spark.conf().set(prefix + ".connection.lake.spark-catalog", icebergCatalog);
      execute(
          source,
          "CREATE TABLE public.rows (id bigint PRIMARY KEY, message text,"
              + " updated_at timestamptz NOT NULL)",
          "INSERT INTO public.rows SELECT g, 'old ' || g, now() - interval '2 hours'"
              + " FROM generate_series(1, 6) g",
          "INSERT INTO public.rows SELECT g, 'new ' || g, now() FROM generate_series(7, 9) g");
      spark.sql("CREATE NAMESPACE " + icebergCatalog + ".lake");
      spark.sql("CREATE NAMESPACE " + catalogName + "." + namespace);
      spark.sql(
          "CREATE TABLE "
              + table
              + " (id BIGINT NOT NULL, message STRING, updated_at TIMESTAMP NOT NULL)"
              + " TBLPROPERTIES ('source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
              + " 'source.warm.table' = 'public.rows', 'source.cold.kind' = 'iceberg',"
              + " 'source.cold.connection' = 'lake', 'source.cold.table' = 'lake.events',"
              + " 'primary-key' = 'id', 'ordering-column' = 'updated_at')");
    }

    HarnessCatalog catalog() {
      return (HarnessCatalog)
          ((org.apache.spark.sql.classic.SparkSession) spark)
              .sessionState()
              .catalogManager()
              .catalog(catalogName);
    }

    MoveResult moveOlderThanAnHour() {
      return PostgresToIcebergMover.move(
          spark,
          catalog(),
          new MoveRequest(
              identifier,
              "warm",
              "cold",
              OptionalLong.empty(),
              Optional.of(Duration.ofHours(1)),
              "faults-test"));
    }

    long currentVersion() {
      return catalog().store().loadTable(identifier).currentVersion();
    }

    int locks() {
      return catalog().store().listLocks(identifier).size();
    }

    List<Long> postgresIds() throws Exception {
      List<Long> ids = new ArrayList<>();
      try (Connection connection = source.connect();
          Statement statement = connection.createStatement();
          ResultSet rows = statement.executeQuery("SELECT id FROM public.rows ORDER BY id")) {
        while (rows.next()) {
          ids.add(rows.getLong(1));
        }
      }
      return ids;
    }

    List<Long> icebergIds() {
      return ids("SELECT id FROM " + icebergCatalog + ".lake.events");
    }

    List<Long> unionIds() {
      return ids("SELECT id FROM " + table);
    }

    /** Checks that the failed move changed nothing: versions, locks, both sources. */
    void assertUnchanged() throws Exception {
      assertEquals(1, currentVersion());
      assertEquals(0, locks(), "the failed move's lock is released");
      assertEquals(ALL_IDS, postgresIds());
      assertEquals(List.of(), icebergIds());
      assertEquals(ALL_IDS, unionIds());
    }

    /** Runs the move again after the service returned and checks it landed exactly once. */
    void assertRerunMovesExactlyOnce() throws Exception {
      MoveResult retried = moveOlderThanAnHour();
      assertEquals(6, retried.rowsMoved());
      assertEquals(List.of(7L, 8L, 9L), postgresIds());
      assertEquals(OLD_IDS, icebergIds());
      assertEquals(ALL_IDS, unionIds());
      assertEquals(0, locks());
      // and once more: nothing is left to move, nothing is duplicated
      MoveResult again = moveOlderThanAnHour();
      assertEquals(0, again.rowsMoved());
      assertEquals(ALL_IDS, unionIds());
      assertEquals(OLD_IDS, icebergIds());
    }
  }

  @Test
  void aMoveWhileThePostgresSourceIsDownFailsClearlyChangesNothingAndTheRerunLandsOnce()
      throws Exception {
    Fixture fixture = new Fixture();
    assertEquals(ALL_IDS, fixture.unionIds());

    RuntimeException failure;
    takeDown(fixture.source);
    try {
      failure = assertThrows(RuntimeException.class, fixture::moveOlderThanAnHour);
    } finally {
      bringBack(fixture.source);
    }

    String message = failure.getMessage();
    assertTrue(message.startsWith("Cannot "), message);
    assertTrue(message.contains("PostgreSQL"), message);
    assertTrue(message.contains("connection 'pg'"), message);
    assertTrue(message.contains(fixture.source.name()), message);
    assertTrue(message.contains("warm"), message);
    assertTrue(message.contains(fixture.identifier.toString()), message);
    assertTrue(message.contains("rerun"), message);
    fixture.assertUnchanged();
    fixture.assertRerunMovesExactlyOnce();
  }

  @Test
  void aMoveWhileTheIcebergCatalogIsDownFailsClearlyChangesNothingAndTheRerunLandsOnce()
      throws Exception {
    Fixture fixture = new Fixture();
    assertEquals(ALL_IDS, fixture.unionIds());

    RuntimeException failure;
    takeDown(fixture.lake);
    try {
      failure = assertThrows(RuntimeException.class, fixture::moveOlderThanAnHour);
    } finally {
      bringBack(fixture.lake);
    }

    String message = failure.getMessage();
    assertTrue(message.startsWith("Cannot "), message);
    assertTrue(message.contains("Iceberg"), message);
    assertTrue(message.contains("connection 'lake'"), message);
    assertTrue(message.contains(fixture.icebergCatalog), message);
    assertTrue(message.contains("cold"), message);
    assertTrue(message.contains(fixture.identifier.toString()), message);
    assertTrue(message.contains("rerun"), message);
    fixture.assertUnchanged();
    fixture.assertRerunMovesExactlyOnce();
  }

  @Test
  void aReadWhileTheIcebergCatalogIsDownNamesTheCatalogAndWorksAgainOnceItIsBack()
      throws Exception {
    Fixture fixture = new Fixture();
    assertEquals(6, fixture.moveOlderThanAnHour().rowsMoved());
    long version = fixture.currentVersion();
    assertEquals(ALL_IDS, fixture.unionIds());

    RuntimeException failure;
    takeDown(fixture.lake);
    try {
      failure = assertThrows(RuntimeException.class, fixture::unionIds);
    } finally {
      bringBack(fixture.lake);
    }

    String message = failure.getMessage();
    assertTrue(message.startsWith("Cannot read source 'cold' (iceberg) of "), message);
    assertTrue(message.contains(fixture.identifier + " at version " + version), message);
    assertTrue(message.contains("Iceberg catalog " + fixture.icebergCatalog), message);
    assertTrue(message.contains(fixture.lake.jdbcUrl()), message);
    assertTrue(message.contains("connection 'lake'"), message);
    assertTrue(message.contains("lake.events"), message);
    assertTrue(message.contains("retry"), message);
    assertTrue(!message.contains("expired"), message);
    // the outage changed nothing, and the same read works once the catalog is back
    assertEquals(version, fixture.currentVersion());
    assertEquals(ALL_IDS, fixture.unionIds());
    assertEquals(OLD_IDS, fixture.icebergIds());
    assertEquals(List.of(7L, 8L, 9L), fixture.postgresIds());
  }

  /**
   * Runs {@code write} with {@code down} taken down and checks that it fails naming the service and
   * the connection, and changes nothing (version, locks, rows of both sources); then runs it again
   * with the database back and returns its result rows.
   */
  private List<org.apache.spark.sql.Row> failsWhileDownThenWorks(
      Fixture fixture,
      TestingDatabase down,
      String service,
      String connection,
      String action,
      String sql)
      throws Exception {
    long version = fixture.currentVersion();
    List<Long> union = fixture.unionIds();
    List<Long> postgres = fixture.postgresIds();
    List<Long> iceberg = fixture.icebergIds();
    Exception failure;
    takeDown(down);
    try {
      failure = assertThrows(Exception.class, () -> spark.sql(sql).collectAsList());
    } finally {
      bringBack(down);
    }
    String message = failure.getMessage();
    assertTrue(message.startsWith("Cannot " + action), sql + ": " + message);
    assertTrue(message.contains(service), sql + ": " + message);
    assertTrue(message.contains("connection '" + connection + "'"), sql + ": " + message);
    assertTrue(message.contains(fixture.identifier.toString()), sql + ": " + message);
    assertTrue(message.contains("once"), sql + ": " + message);
    assertEquals(version, fixture.currentVersion(), sql);
    assertEquals(0, fixture.locks(), sql);
    assertEquals(union, fixture.unionIds(), sql);
    assertEquals(postgres, fixture.postgresIds(), sql);
    assertEquals(iceberg, fixture.icebergIds(), sql);
    return spark.sql(sql).collectAsList();
  }

  @Test
  void appendsCompactExpireAndRollbackWhileTheirServiceIsDownFailClearlyAndWorkOnceItIsBack()
      throws Exception {
    Fixture fixture = new Fixture();
    assertEquals(6, fixture.moveOlderThanAnHour().rowsMoved());
    String table = "'" + fixture.identifier + "'";
    String procedures = fixture.catalogName + ".system.";

    spark.sql("ALTER TABLE " + fixture.table + " SET TBLPROPERTIES ('write.source' = 'warm')");
    failsWhileDownThenWorks(
        fixture,
        fixture.source,
        "PostgreSQL",
        "pg",
        "append to " + fixture.identifier,
        "INSERT INTO " + fixture.table + " VALUES (10, 'appended', current_timestamp())");
    assertEquals(List.of(7L, 8L, 9L, 10L), fixture.postgresIds());

    spark.sql("ALTER TABLE " + fixture.table + " SET TBLPROPERTIES ('write.source' = 'cold')");
    long beforeIcebergAppend = fixture.currentVersion();
    failsWhileDownThenWorks(
        fixture,
        fixture.lake,
        "Iceberg catalog " + fixture.icebergCatalog,
        "lake",
        "append to " + fixture.identifier,
        "INSERT INTO " + fixture.table + " VALUES (11, 'appended', current_timestamp())");
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 11L), fixture.icebergIds());

    failsWhileDownThenWorks(
        fixture,
        fixture.lake,
        "Iceberg catalog " + fixture.icebergCatalog,
        "lake",
        "compact",
        "CALL "
            + procedures
            + "compact(table => "
            + table
            + ", source => 'cold', options => map('min-input-files', '1'))");

    failsWhileDownThenWorks(
        fixture,
        fixture.lake,
        "Iceberg catalog " + fixture.icebergCatalog,
        "lake",
        "roll back",
        "CALL "
            + procedures
            + "rollback_to_version(table => "
            + table
            + ", version => "
            + beforeIcebergAppend
            + ")");
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), fixture.icebergIds());

    for (TestingDatabase down : List.of(fixture.lake, fixture.source)) {
      failsWhileDownThenWorks(
          fixture,
          down,
          down == fixture.lake ? "Iceberg catalog " + fixture.icebergCatalog : "PostgreSQL",
          down == fixture.lake ? "lake" : "pg",
          "expire versions",
          "CALL "
              + procedures
              + "expire_versions(table => "
              + table
              + ", older_than => '0 seconds', retain_last => 1)");
    }
  }

  /** Which dedicated database goes down, and after which step of the move. */
  enum Fault {
    SOURCE_AFTER_INTENT(PostgresToIcebergMover.Step.INTENT_COMMIT, "PostgreSQL", "pg"),
    CATALOG_AFTER_INTENT(PostgresToIcebergMover.Step.INTENT_COMMIT, "Iceberg", "lake"),
    CATALOG_AFTER_SOURCE_DELETE(PostgresToIcebergMover.Step.SOURCE_DELETE, "Iceberg", "lake"),
    CATALOG_AFTER_STAGED_WRITE(PostgresToIcebergMover.Step.STAGED_WRITE, "Iceberg", "lake"),
    CATALOG_AFTER_HARNESS_COMMIT(PostgresToIcebergMover.Step.HARNESS_COMMIT, "Iceberg", "lake");

    final PostgresToIcebergMover.Step step;
    final String service;
    final String connection;

    Fault(PostgresToIcebergMover.Step step, String service, String connection) {
      this.step = step;
      this.service = service;
      this.connection = connection;
    }
  }

  @ParameterizedTest
  @EnumSource(Fault.class)
  void aServiceLostInTheMiddleOfAMoveFailsItClearlyAndTheRerunLandsOnce(Fault fault)
      throws Exception {
    Fixture fixture = new Fixture();
    TestingDatabase down = fault.connection.equals("pg") ? fixture.source : fixture.lake;
    PostgresToIcebergMover.afterStep =
        step -> {
          if (step == fault.step) {
            try {
              takeDown(down);
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
          }
        };
    RuntimeException failure;
    try {
      failure = assertThrows(RuntimeException.class, fixture::moveOlderThanAnHour);
    } finally {
      PostgresToIcebergMover.afterStep = step -> {};
      bringBack(down);
    }

    String message = failure.getMessage();
    assertTrue(message.startsWith("Cannot move source 'warm' of table "), message);
    assertTrue(message.contains(fault.service), message);
    assertTrue(message.contains("connection '" + fault.connection + "'"), message);
    assertTrue(message.contains("rerun"), message);
    // nothing is lost or doubled while the move is unfinished, and no lock is left behind
    assertEquals(0, fixture.locks(), "the failed move's lock is released");
    assertEquals(ALL_IDS, fixture.unionIds());
    assertTrue(fixture.currentVersion() >= 1);
    fixture.assertRerunMovesExactlyOnce();
  }

  @AfterEach
  void removeFault() {
    PostgresToIcebergMover.afterStep = step -> {};
  }

  /** Refuses new connections to the database and terminates every open one. */
  private static void takeDown(TestingDatabase database) throws Exception {
    execute(
        TestingIceberg.shared().catalogDatabase(),
        "ALTER DATABASE " + database.name() + " ALLOW_CONNECTIONS false",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"
            + database.name()
            + "'");
  }

  private static void bringBack(TestingDatabase database) throws Exception {
    execute(
        TestingIceberg.shared().catalogDatabase(),
        "ALTER DATABASE " + database.name() + " ALLOW_CONNECTIONS true");
  }

  private static void execute(TestingDatabase database, String... statements) throws Exception {
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }

  private List<Long> ids(String sql) {
    return spark.sql(sql + " ORDER BY id").collectAsList().stream()
        .map(row -> row.getLong(0))
        .toList();
  }
}
