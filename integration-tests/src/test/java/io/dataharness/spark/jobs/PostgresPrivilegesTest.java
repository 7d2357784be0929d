package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The grants of docs/postgresql-privileges.md are enough, on a real PostgreSQL server: a metadata
 * store user that owns only its schema, a source user that owns only the tables it registers (and
 * may create in their schema), and application roles with only INSERT, UPDATE and DELETE on a
 * registered table. Each role gets exactly the statements the page lists; PUBLIC's default rights
 * on the databases and on schema public are revoked, so nothing works by accident.
 */
class PostgresPrivilegesTest {
  private static final String SUFFIX = UUID.randomUUID().toString().substring(0, 8);
  private static final String CATALOG = "privileged_" + SUFFIX;
  private static final String STORE_USER = "harness_store_" + SUFFIX;
  private static final String SOURCE_USER = "harness_source_" + SUFFIX;
  private static final String APPLICATION_USER = "app_writer_" + SUFFIX;
  private static final String PASSWORD = "secret-" + SUFFIX;
  private static final String SCHEMA = "sales";

  private static final SparkSession spark = TestingSpark.shared().session();
  private static TestingDatabase metadata;
  private static TestingDatabase sourceDatabase;
  private static TestingDatabase administration;

  @BeforeAll
  static void grantWhatTheDocsSay() throws SQLException {
    metadata = TestingPostgres.shared().createDatabase("privileges_metadata");
    sourceDatabase = TestingPostgres.shared().createDatabase("privileges_source");
    administration = TestingPostgres.shared().createDatabase("privileges_administration");
    try (Connection admin = administration.connect();
        Statement statement = admin.createStatement()) {
      for (String role : List.of(STORE_USER, SOURCE_USER, APPLICATION_USER)) {
        statement.execute("CREATE ROLE " + role + " LOGIN PASSWORD '" + PASSWORD + "'");
      }
    }
    try (Connection admin = metadata.connect();
        Statement statement = admin.createStatement()) {
      // docs/postgresql-privileges.md, the metadata store user
      statement.execute("REVOKE ALL ON DATABASE " + metadata.name() + " FROM PUBLIC");
      statement.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
      statement.execute("GRANT CONNECT ON DATABASE " + metadata.name() + " TO " + STORE_USER);
      statement.execute("CREATE SCHEMA " + STORE_USER + " AUTHORIZATION " + STORE_USER);
    }
    try (Connection admin = sourceDatabase.connect();
        Statement statement = admin.createStatement()) {
      statement.execute("REVOKE ALL ON DATABASE " + sourceDatabase.name() + " FROM PUBLIC");
      statement.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
      statement.execute("CREATE SCHEMA " + SCHEMA);
      // docs/postgresql-privileges.md, the source connection user
      statement.execute(
          "GRANT CONNECT, TEMPORARY ON DATABASE " + sourceDatabase.name() + " TO " + SOURCE_USER);
      statement.execute("GRANT USAGE, CREATE ON SCHEMA " + SCHEMA + " TO " + SOURCE_USER);
      statement.execute("GRANT pg_read_all_stats TO " + SOURCE_USER);
      // docs/postgresql-privileges.md, an application role (table grants come per table)
      statement.execute(
          "GRANT CONNECT ON DATABASE " + sourceDatabase.name() + " TO " + APPLICATION_USER);
      statement.execute("GRANT USAGE ON SCHEMA " + SCHEMA + " TO " + APPLICATION_USER);
    }
    String prefix = "spark.sql.catalog." + CATALOG;
    spark.conf().set(prefix, "io.dataharness.spark.HarnessCatalog");
    spark.conf().set(prefix + ".uri", metadata.jdbcUrl());
    spark.conf().set(prefix + ".user", STORE_USER);
    spark.conf().set(prefix + ".password", PASSWORD);
    spark.conf().set(prefix + ".connection.kafka.kind", "kafka");
    spark
        .conf()
        .set(
            prefix + ".connection.kafka.bootstrap-servers",
            TestingKafka.shared().bootstrapServers());
    spark.conf().set(prefix + ".connection.pg.kind", "jdbc");
    spark.conf().set(prefix + ".connection.pg.url", sourceDatabase.jdbcUrl());
    spark.conf().set(prefix + ".connection.pg.user", SOURCE_USER);
    spark.conf().set(prefix + ".connection.pg.password", PASSWORD);
    spark.conf().set(prefix + ".connection.lake.kind", "iceberg");
    spark.conf().set(prefix + ".connection.lake.spark-catalog", TestingIceberg.CATALOG_NAME);
  }

  @AfterAll
  static void dropRoles() throws SQLException {
    // the roles own objects only in these two databases
    try (Connection admin = administration.connect();
        Statement statement = admin.createStatement()) {
      for (TestingDatabase database : List.of(metadata, sourceDatabase)) {
        statement.execute("DROP DATABASE IF EXISTS " + database.name() + " WITH (FORCE)");
      }
      for (String role : List.of(STORE_USER, SOURCE_USER, APPLICATION_USER)) {
        statement.execute("DROP ROLE IF EXISTS " + role);
      }
    }
  }

  /** A harness table over a fresh topic, PostgreSQL table (created by the harness) and lake. */
  private record Table(String suffix, String topic, TableIdentifier id, String qualified) {
    String pgTable() {
      return SCHEMA + ".events_" + suffix;
    }

    String historyTable() {
      return SCHEMA + ".events_" + suffix + "_harness_history";
    }
  }

  /**
   * @param existing whether the PostgreSQL table exists before registration (created by the source
   *     user, so it owns it), rather than created by the harness
   */
  private static Table createTable(boolean existing) throws SQLException {
    String suffix = UUID.randomUUID().toString().substring(0, 8);
    String namespace = "privileges_" + suffix;
    Table table =
        new Table(
            suffix,
            "privileges_" + suffix,
            TableIdentifier.of(namespace, "events"),
            CATALOG + "." + namespace + ".events");
    TestingKafka.shared().createTopic(table.topic(), 1);
    if (existing) {
      try (Connection owner = connectAs(SOURCE_USER)) {
        execute(
            owner,
            "CREATE TABLE "
                + table.pgTable()
                + " (id bigint PRIMARY KEY, message text, version bigint)");
      }
    }
    spark.sql("CREATE NAMESPACE " + CATALOG + "." + namespace);
    spark.sql(
        "CREATE TABLE "
            + table.qualified()
            + " (id BIGINT NOT NULL, message STRING, version BIGINT) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + table.topic()
            + "', 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = 'privileges_"
            + suffix
            + ".events', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + table.pgTable()
            + "', 'primary-key' = 'id', 'ordering-column' = 'version')");
    return table;
  }

  private static void produce(Table table, long from, long to, String message) {
    List<String> values = new ArrayList<>();
    for (long id = from; id < to; id++) {
      values.add(MoveFixture.event(id, message + id, 1));
    }
    TestingKafka.shared().produceJson(table.topic(), 0, values);
  }

  private static long sync(Table table) {
    spark.sql("CALL " + CATALOG + ".system.sync(table => '" + table.id() + "')").collect();
    return latestVersion(table);
  }

  private static long latestVersion(Table table) {
    return JobArguments.catalog(spark, CATALOG).store().readLatest(table.id()).version();
  }

  private static MoveResult move(Table table, String source, String target, Long maxRows) {
    return MoveJob.run(
        spark,
        JobArguments.catalog(spark, CATALOG),
        new MoveRequest(
            table.id(),
            source,
            target,
            maxRows == null ? OptionalLong.empty() : OptionalLong.of(maxRows),
            Optional.empty(),
            "privileges-test"));
  }

  /** The rows (id, message, source) the harness table reads at a version, sorted. */
  private static List<String> rowsAt(Table table, long version) {
    return spark
        .sql("SELECT id, message, _source FROM " + table.qualified() + " VERSION AS OF " + version)
        .collectAsList()
        .stream()
        .map(Row::toString)
        .sorted()
        .collect(Collectors.toList());
  }

  /** What every version of the table reads, version by version. */
  private static List<List<String>> everyVersion(Table table) {
    List<List<String>> versions = new ArrayList<>();
    for (long version = 1; version <= latestVersion(table); version++) {
      versions.add(rowsAt(table, version));
    }
    return versions;
  }

  private static Connection connectAs(String user) throws SQLException {
    return DriverManager.getConnection(sourceDatabase.jdbcUrl(), user, PASSWORD);
  }

  private static void execute(Connection connection, String sql) throws SQLException {
    try (Statement statement = connection.createStatement()) {
      statement.execute(sql);
    }
  }

  private static List<String> pgRows(Connection connection, String sql) throws SQLException {
    List<String> rows = new ArrayList<>();
    try (Statement statement = connection.createStatement();
        ResultSet result = statement.executeQuery(sql)) {
      while (result.next()) {
        rows.add(result.getLong(1) + ":" + result.getString(2));
      }
    }
    return rows;
  }

  /**
   * Kafka rows upserted into PostgreSQL ({@code warm}), then moved on to Iceberg ({@code cold}).
   */
  private static Table tableWithRowsInPostgres(boolean existing) throws SQLException {
    Table table = createTable(existing);
    produce(table, 0, 10, "m");
    sync(table);
    assertEquals(10, move(table, "hot", "warm", null).rowsMoved());
    return table;
  }

  @Test
  void leastPrivilegedStoreAndSourceUsersRegisterCommitAndMoveBothWays() throws SQLException {
    Table table = tableWithRowsInPostgres(false);
    long upserted = latestVersion(table);
    List<String> expected = new ArrayList<>();
    for (long id = 0; id < 10; id++) {
      expected.add("[" + id + ",m" + id + ",warm]");
    }
    assertEquals(expected.stream().sorted().toList(), rowsAt(table, upserted));

    // a newer message for id 3 is merged over the row there (an update through the trigger)
    TestingKafka.shared().produceJson(table.topic(), 0, List.of(MoveFixture.event(3, "new", 2)));
    sync(table);
    assertEquals(1, move(table, "hot", "warm", null).rowsMoved());

    // jdbc -> iceberg: the source user deletes the batch and reads it back from the history table
    MoveResult cold = move(table, "warm", "cold", 4L);
    assertEquals(4, cold.rowsMoved());
    List<String> latest = rowsAt(table, cold.version());
    assertEquals(10, latest.size(), latest.toString());
    assertEquals(
        4, latest.stream().filter(row -> row.endsWith(",cold]")).count(), latest.toString());
    assertTrue(
        latest.contains("[3,new,warm]") || latest.contains("[3,new,cold]"), latest.toString());
    // the versions before still read what they read
    assertEquals(expected.stream().sorted().toList(), rowsAt(table, upserted));

    // everything the harness created in PostgreSQL belongs to the source user, nothing to others
    try (Connection owner = connectAs(SOURCE_USER)) {
      assertEquals(
          List.of(),
          pgRows(
              owner,
              "SELECT 0, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                  + " WHERE n.nspname = '"
                  + SCHEMA
                  + "' AND c.relname LIKE '%"
                  + table.suffix()
                  + "%' AND pg_get_userbyid(c.relowner) <> current_user"));
    }
  }

  @Test
  void anApplicationRoleWithOnlyDmlGrantsWritesAndOldVersionsReadTheOldRows() throws SQLException {
    Table table = tableWithRowsInPostgres(true);
    try (Connection owner = connectAs(SOURCE_USER)) {
      execute(
          owner,
          "GRANT SELECT, INSERT, UPDATE, DELETE ON " + table.pgTable() + " TO " + APPLICATION_USER);
    }
    long before = sync(table);
    List<String> readBefore = rowsAt(table, before);

    try (Connection application = connectAs(APPLICATION_USER)) {
      execute(application, "UPDATE " + table.pgTable() + " SET message = 'changed' WHERE id = 1");
      execute(application, "DELETE FROM " + table.pgTable() + " WHERE id = 2");
      execute(
          application,
          "INSERT INTO " + table.pgTable() + " (id, message, version) VALUES (100, 'app', 1)");

      // it cannot touch the history table: not write old versions, not read them
      for (String sql :
          List.of(
              "INSERT INTO "
                  + table.historyTable()
                  + " (id, message, harness_valid_from, harness_valid_to) VALUES (7, 'forged',"
                  + " '-infinity', 'infinity')",
              "DELETE FROM " + table.historyTable(),
              "SELECT * FROM " + table.historyTable())) {
        SQLException refused = assertThrows(SQLException.class, () -> execute(application, sql));
        assertTrue(refused.getMessage().contains("permission denied"), refused.getMessage());
      }
    }
    long after = sync(table);
    assertEquals(readBefore, rowsAt(table, before));
    List<String> readAfter = rowsAt(table, after);
    assertTrue(readAfter.contains("[1,changed,warm]"), readAfter.toString());
    assertTrue(readAfter.contains("[100,app,warm]"), readAfter.toString());
    assertTrue(readAfter.stream().noneMatch(row -> row.startsWith("[2,")), readAfter.toString());
    assertEquals(readBefore.size(), readAfter.size());
    assertTrue(readBefore.contains("[1,m1,warm]") && readBefore.contains("[2,m2,warm]"));

    // and the source user still moves what the application changed, through the history table
    MoveResult cold = move(table, "warm", "cold", 1000L);
    assertEquals(10, cold.rowsMoved());
    assertEquals(
        readAfter.stream().map(row -> row.replace(",warm]", ",cold]")).sorted().toList(),
        rowsAt(table, cold.version()));
    assertEquals(readBefore, rowsAt(table, before));
  }

  @Test
  void truncateIsRefusedForEveryRoleAndEveryVersionReadsTheSameRows() throws SQLException {
    Table table = tableWithRowsInPostgres(true);
    try (Connection owner = connectAs(SOURCE_USER)) {
      execute(owner, "DELETE FROM " + table.pgTable() + " WHERE id = 9");
    }
    sync(table);
    List<List<String>> versions = everyVersion(table);

    try (Connection owner = connectAs(SOURCE_USER);
        Connection superuser = sourceDatabase.connect()) {
      for (Connection connection : List.of(owner, superuser)) {
        SQLException refused =
            assertThrows(
                SQLException.class, () -> execute(connection, "TRUNCATE " + table.pgTable()));
        assertTrue(
            refused.getMessage().contains("Cannot truncate " + table.pgTable())
                && refused.getMessage().contains("DELETE FROM " + table.pgTable()),
            refused.getMessage());
      }
      assertEquals(9, pgRows(owner, "SELECT id, message FROM " + table.pgTable()).size());
    }
    sync(table);
    List<List<String>> afterwards = everyVersion(table);
    assertEquals(versions, afterwards.subList(0, versions.size()));
    assertEquals(versions.get(versions.size() - 1), afterwards.get(afterwards.size() - 1));
  }

  @Test
  void aTableRegisteredByAnEarlierHarnessGetsTheTruncateTriggerAndDefinerRightsOnItsNextSync()
      throws SQLException {
    Table table = tableWithRowsInPostgres(true);
    String function = SCHEMA + ".events_" + table.suffix() + "_harness_versioning()";
    try (Connection owner = connectAs(SOURCE_USER)) {
      // what an earlier harness installed: an invoker's trigger function, no TRUNCATE trigger, no
      // DELETE statement trigger (nor its replica twin) and a B-tree on (valid_to, valid_from)
      execute(owner, "DROP TRIGGER IF EXISTS harness_refuse_truncate ON " + table.pgTable());
      execute(owner, "DROP TRIGGER IF EXISTS harness_versioning_deletes ON " + table.pgTable());
      execute(
          owner, "DROP TRIGGER IF EXISTS harness_versioning_replica_deletes ON " + table.pgTable());
      execute(owner, "DROP INDEX " + table.historyTable() + "_to");
      execute(
          owner,
          "CREATE INDEX events_"
              + table.suffix()
              + "_harness_history_as_of ON "
              + table.historyTable()
              + " (harness_valid_to, harness_valid_from)");
      execute(owner, "ALTER FUNCTION " + function + " SECURITY INVOKER");
      // ... and no mark on moves' images: a B-tree on every image's ending transaction
      execute(owner, "DROP INDEX " + table.historyTable() + "_ended");
      execute(
          owner,
          "CREATE INDEX events_"
              + table.suffix()
              + "_harness_history_xid ON "
              + table.historyTable()
              + " (harness_deleted_xid)");
      execute(owner, "ALTER TABLE " + table.historyTable() + " DROP COLUMN harness_moved");
      execute(owner, "ALTER TABLE " + SCHEMA + ".harness_moves DROP COLUMN images_at");
      execute(
          owner,
          "DROP FUNCTION "
              + SCHEMA
              + ".events_"
              + table.suffix()
              + "_harness_unseen_moves(pg_snapshot)");
      execute(
          owner,
          "GRANT SELECT, INSERT, UPDATE, DELETE ON " + table.pgTable() + " TO " + APPLICATION_USER);
    }
    try (Connection application = connectAs(APPLICATION_USER)) {
      SQLException refused =
          assertThrows(
              SQLException.class,
              () ->
                  execute(
                      application,
                      "UPDATE " + table.pgTable() + " SET message = 'changed' WHERE id = 1"));
      assertTrue(refused.getMessage().contains("permission denied"), refused.getMessage());
    }

    long synced = sync(table); // registers the table again
    List<String> read = rowsAt(table, synced);
    try (Connection application = connectAs(APPLICATION_USER)) {
      execute(application, "DELETE FROM " + table.pgTable() + " WHERE id = 1");
    }
    try (Connection owner = connectAs(SOURCE_USER)) {
      SQLException refused =
          assertThrows(SQLException.class, () -> execute(owner, "TRUNCATE " + table.pgTable()));
      assertTrue(
          refused.getMessage().contains("Cannot truncate " + table.pgTable()),
          refused.getMessage());
    }
    long after = sync(table);
    assertEquals(read, rowsAt(table, synced));
    assertEquals(read.size() - 1, rowsAt(table, after).size());
    try (Connection owner = connectAs(SOURCE_USER)) {
      assertEquals(
          List.of(
              "0:events_" + table.suffix() + "_harness_history_ended",
              "0:events_" + table.suffix() + "_harness_history_to"),
          pgRows(
              owner,
              "SELECT 0, indexname FROM pg_indexes WHERE tablename = 'events_"
                  + table.suffix()
                  + "_harness_history' ORDER BY indexname"));
      // the deleted row's image is kept once
      assertEquals(
          List.of("1:null"),
          pgRows(owner, "SELECT count(*), NULL FROM " + table.historyTable() + " WHERE id = 1"));
    }
  }

  @Test
  void aTableOwnedByAnotherRoleRegistersThroughMembershipOfThatRole() throws SQLException {
    String ownerRole = "orders_owner_" + SUFFIX;
    String orders = SCHEMA + ".orders_" + SUFFIX;
    Table table = createTable(false);
    try (Connection admin = sourceDatabase.connect()) {
      execute(admin, "CREATE ROLE " + ownerRole + " NOLOGIN");
      execute(admin, "GRANT USAGE, CREATE ON SCHEMA " + SCHEMA + " TO " + ownerRole);
      execute(
          admin,
          "CREATE TABLE " + orders + " (id bigint PRIMARY KEY, message text, version bigint)");
      execute(admin, "ALTER TABLE " + orders + " OWNER TO " + ownerRole);
      execute(admin, "INSERT INTO " + orders + " VALUES (1, 'one', 1), (2, 'two', 1)");
      // docs/postgresql-privileges.md: membership instead of a transfer of ownership
      execute(admin, "GRANT " + ownerRole + " TO " + SOURCE_USER);
      execute(
          admin, "GRANT SELECT, INSERT, UPDATE, DELETE ON " + orders + " TO " + APPLICATION_USER);
    }
    try {
      spark.sql(
          "ALTER TABLE "
              + table.qualified()
              + " SET TBLPROPERTIES ('source.orders.kind' = 'jdbc', 'source.orders.connection' ="
              + " 'pg', 'source.orders.table' = '"
              + orders
              + "')");
      long registered = latestVersion(table);
      try (Connection application = connectAs(APPLICATION_USER)) {
        execute(application, "UPDATE " + orders + " SET message = 'uno' WHERE id = 1");
        execute(application, "DELETE FROM " + orders + " WHERE id = 2");
        SQLException refused =
            assertThrows(SQLException.class, () -> execute(application, "TRUNCATE " + orders));
        assertTrue(refused.getMessage().contains("permission denied"), refused.getMessage());
      }
      try (Connection source = connectAs(SOURCE_USER)) {
        SQLException refused =
            assertThrows(SQLException.class, () -> execute(source, "TRUNCATE " + orders));
        assertTrue(
            refused.getMessage().contains("Cannot truncate " + orders), refused.getMessage());
      }
      long after = sync(table);
      String atRegistration =
          "SELECT id, message, _source FROM "
              + table.qualified()
              + " VERSION AS OF %d WHERE _source = 'orders'";
      assertEquals(
          List.of("[1,one,orders]", "[2,two,orders]"),
          spark.sql(String.format(atRegistration, registered)).collectAsList().stream()
              .map(Row::toString)
              .sorted()
              .toList());
      assertEquals(
          List.of("[1,uno,orders]"),
          spark.sql(String.format(atRegistration, after)).collectAsList().stream()
              .map(Row::toString)
              .sorted()
              .toList());
    } finally {
      try (Connection admin = sourceDatabase.connect()) {
        execute(admin, "DROP TABLE " + orders);
        execute(admin, "REVOKE " + ownerRole + " FROM " + SOURCE_USER);
        execute(admin, "REVOKE ALL ON SCHEMA " + SCHEMA + " FROM " + ownerRole);
        execute(admin, "DROP ROLE " + ownerRole);
      }
    }
  }
}
