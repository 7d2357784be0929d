package io.dataharness.spark.source;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class PostgresSourcesTest {
  private static final Schema SCHEMA =
      Schema.of(
          Field.required(1, "id", FieldType.LONG),
          Field.optional(2, "message", FieldType.STRING),
          Field.optional(3, "amount", FieldType.decimal(10, 2)));

  private TestingDatabase database;
  private ConnectionConfig connection;

  @BeforeEach
  void createDatabase() {
    database = TestingPostgres.shared().createDatabase("pg_sources");
    connection =
        new ConnectionConfig(
            "hot",
            SourceKind.JDBC,
            Map.of(
                "url", database.jdbcUrl(),
                "user", database.user(),
                "password", database.password()));
  }

  @Test
  void registerCreatesTableHistoryAndTrigger() throws SQLException {
    SourceState.Jdbc state = PostgresSources.register(connection, source("app.orders"), SCHEMA);

    assertEquals(
        List.of(
            "id bigint NO",
            "message text YES",
            "amount numeric(10,2) YES",
            "harness_valid_from timestamp with time zone NO",
            "harness_xid xid8 YES"),
        columns("app", "orders"));
    assertEquals(
        List.of(
            "id bigint YES",
            "message text YES",
            "amount numeric(10,2) YES",
            "harness_valid_from timestamp with time zone NO",
            "harness_valid_to timestamp with time zone NO",
            "harness_xid xid8 YES",
            "harness_deleted_xid xid8 YES",
            "harness_moved boolean YES"),
        columns("app", "orders_harness_history"));
    assertEquals(
        List.of(
            "harness_refuse_truncate",
            "harness_versioning",
            "harness_versioning_deletes",
            "harness_versioning_replica_deletes"),
        query(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'app.orders'::regclass AND NOT"
                + " tgisinternal ORDER BY tgname"));
    assertEquals(
        List.of("orders_harness_history_ended", "orders_harness_history_to"),
        query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'orders_harness_history' ORDER BY"
                + " indexname"));
    assertFalse(state.readTimestamp().isAfter(Instant.now()));
    assertTrue(state.pgSnapshot().isPresent(), state.toString());
    assertEquals(List.of(), asOf(source("app.orders"), state.readTimestamp()));
    assertEquals(List.of(), asOf(source("app.orders"), state));
  }

  @Test
  void everyHarnessTypeIsCreatedAsItsPostgresType() throws SQLException {
    Schema schema =
        Schema.of(
            Field.optional(1, "flag", FieldType.BOOLEAN),
            Field.optional(2, "small", FieldType.INT),
            Field.optional(3, "big", FieldType.LONG),
            Field.optional(4, "ratio", FieldType.FLOAT),
            Field.optional(5, "precise", FieldType.DOUBLE),
            Field.optional(6, "text", FieldType.STRING),
            Field.optional(7, "bytes", FieldType.BINARY),
            Field.optional(8, "day", FieldType.DATE),
            Field.optional(9, "at", FieldType.TIMESTAMP),
            Field.optional(10, "local_at", FieldType.TIMESTAMP_NTZ),
            Field.optional(11, "price", FieldType.decimal(12, 3)));

    PostgresSources.register(connection, source("typed"), schema);

    assertEquals(
        List.of(
            "flag boolean YES",
            "small integer YES",
            "big bigint YES",
            "ratio real YES",
            "precise double precision YES",
            "text text YES",
            "bytes bytea YES",
            "day date YES",
            "at timestamp with time zone YES",
            "local_at timestamp without time zone YES",
            "price numeric(12,3) YES",
            "harness_valid_from timestamp with time zone NO",
            "harness_xid xid8 YES"),
        columns("public", "typed"));
  }

  @Test
  void rowsThatExistedBeforeRegistrationAreVisibleAtEveryReadTimestamp() throws SQLException {
    execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, message text, amount numeric(10,2))",
        "INSERT INTO orders VALUES (1, 'one', 1.50), (2, 'two', NULL)");
    Instant beforeRegistration = Instant.parse("2001-01-01T00:00:00Z");

    SourceState.Jdbc state = PostgresSources.register(connection, source("orders"), SCHEMA);
    Instant later = PostgresSources.safeReadTimestamp(connection);

    List<String> expected = List.of("1|one|1.50", "2|two|null");
    assertEquals(expected, asOf(source("orders"), beforeRegistration));
    assertEquals(expected, asOf(source("orders"), state.readTimestamp()));
    assertEquals(expected, asOf(source("orders"), later));
  }

  @Test
  void readsAtAnEarlierTimestampReturnTheOldImagesExactly() throws SQLException {
    execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, message text, amount numeric(10,2))",
        "INSERT INTO orders VALUES (1, 'one', 1.00), (2, 'two', 2.00)");
    Instant first = PostgresSources.register(connection, source("orders"), SCHEMA).readTimestamp();

    execute(
        "INSERT INTO orders VALUES (3, 'three', 3.00)",
        "UPDATE orders SET message = 'uno', amount = 1.10 WHERE id = 1",
        "DELETE FROM orders WHERE id = 2");
    Instant second = PostgresSources.safeReadTimestamp(connection);
    execute("UPDATE orders SET message = 'eins' WHERE id = 1", "DELETE FROM orders WHERE id = 3");
    Instant third = PostgresSources.safeReadTimestamp(connection);

    assertEquals(List.of("1|one|1.00", "2|two|2.00"), asOf(source("orders"), first));
    assertEquals(List.of("1|uno|1.10", "3|three|3.00"), asOf(source("orders"), second));
    assertEquals(List.of("1|eins|1.10"), asOf(source("orders"), third));
    // the table itself holds only the current images; the old ones are in the history table
    assertEquals(List.of("1"), query("SELECT id FROM orders"));
    assertEquals(
        List.of("1|one", "1|uno", "2|two", "3|three"),
        query("SELECT id || '|' || message FROM orders_harness_history ORDER BY 1"));
  }

  /**
   * A DELETE statement's images go to the history table once, by the statement trigger, or by the
   * row trigger where statement triggers do not fire (logical replication applies changes with
   * {@code session_replication_role = replica}).
   */
  @Test
  void aDeleteKeepsEveryImageItRemovedOnceAlsoWhenLogicalReplicationAppliesIt()
      throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) SELECT g, 'm' || g FROM generate_series(1, 6) g");
    SourceState.Jdbc inserted = PostgresSources.currentState(connection, source("orders"), null);
    // one transaction: a row updated and then deleted with two others
    execute(
        "BEGIN",
        "UPDATE orders SET message = 'changed 1' WHERE id = 1",
        "DELETE FROM orders WHERE id <= 3",
        "COMMIT");
    SourceState.Jdbc deleted = PostgresSources.currentState(connection, source("orders"), inserted);
    execute("SET session_replication_role = replica", "DELETE FROM orders WHERE id IN (4, 5)");
    SourceState.Jdbc replicated =
        PostgresSources.currentState(connection, source("orders"), deleted);

    assertEquals(
        List.of("1|m1|null", "2|m2|null", "3|m3|null", "4|m4|null", "5|m5|null", "6|m6|null"),
        asOf(source("orders"), inserted));
    assertEquals(List.of("4|m4|null", "5|m5|null", "6|m6|null"), asOf(source("orders"), deleted));
    assertEquals(List.of("6|m6|null"), asOf(source("orders"), replicated));
    assertEquals(
        List.of("1|m1", "1|changed 1", "2|m2", "3|m3", "4|m4", "5|m5"),
        query(
            "SELECT id || '|' || message FROM orders_harness_history"
                + " ORDER BY id, harness_valid_from"));
    assertEquals(
        List.of("t"),
        query(
            "SELECT bool_and(harness_deleted_xid IS NOT NULL AND harness_valid_to >"
                + " harness_valid_from) FROM orders_harness_history"));
  }

  @Test
  void anUpdateEndsTheOldImageExactlyWhenTheNewOneBegins() throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute(
        "INSERT INTO orders (id, message) VALUES (1, 'one')",
        "UPDATE orders SET message = 'uno' WHERE id = 1");

    assertEquals(
        List.of("t"),
        query(
            "SELECT h.harness_valid_to = o.harness_valid_from FROM orders o JOIN"
                + " orders_harness_history h USING (id)"));
  }

  @Test
  void registeringTwiceIsHarmless() throws SQLException {
    execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, message text, amount numeric(10,2))",
        "INSERT INTO orders VALUES (1, 'one', 1.00)");
    Instant first = PostgresSources.register(connection, source("orders"), SCHEMA).readTimestamp();
    execute("UPDATE orders SET message = 'uno' WHERE id = 1");

    Instant second = PostgresSources.register(connection, source("orders"), SCHEMA).readTimestamp();
    execute("UPDATE orders SET message = 'eins' WHERE id = 1");
    Instant third = PostgresSources.safeReadTimestamp(connection);

    assertEquals(List.of("1|one|1.00"), asOf(source("orders"), first));
    assertEquals(List.of("1|uno|1.00"), asOf(source("orders"), second));
    assertEquals(List.of("1|eins|1.00"), asOf(source("orders"), third));
    assertEquals(List.of("2"), query("SELECT count(*) FROM orders_harness_history"));
    assertEquals(
        List.of(
            "harness_refuse_truncate",
            "harness_versioning",
            "harness_versioning_deletes",
            "harness_versioning_replica_deletes"),
        query(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT"
                + " tgisinternal ORDER BY tgname"));
  }

  @Test
  void registeringAgainFollowsAColumnAddedToTheTable() throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute(
        "ALTER TABLE orders ADD COLUMN region text",
        "INSERT INTO orders (id, message, region) VALUES (1, 'one', 'eu')");
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("UPDATE orders SET region = 'us' WHERE id = 1");

    assertEquals(List.of("eu"), query("SELECT region FROM orders_harness_history"));
  }

  @Test
  void aTransactionOpenWhenTheReadTimestampIsTakenStaysInvisibleAtItAfterItCommits()
      throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) VALUES (1, 'committed')");
    try (Connection writer = database.connect()) {
      writer.setAutoCommit(false);
      try (Statement statement = writer.createStatement()) {
        statement.execute("INSERT INTO orders (id, message) VALUES (2, 'open')");
        statement.execute("UPDATE orders SET message = 'changed by open' WHERE id = 1");
      }
      Instant whileOpen = PostgresSources.safeReadTimestamp(connection);
      writer.commit();

      assertEquals(List.of("1|committed|null"), asOf(source("orders"), whileOpen));
      Instant afterCommit = PostgresSources.safeReadTimestamp(connection);
      assertEquals(
          List.of("1|changed by open|null", "2|open|null"), asOf(source("orders"), afterCommit));
    }
  }

  @Test
  void aTransactionOpenWhenTheReadTimestampIsTakenStaysInvisibleAtItAfterItRollsBack()
      throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) VALUES (1, 'committed')");
    try (Connection writer = database.connect()) {
      writer.setAutoCommit(false);
      try (Statement statement = writer.createStatement()) {
        statement.execute("DELETE FROM orders WHERE id = 1");
      }
      Instant whileOpen = PostgresSources.safeReadTimestamp(connection);
      writer.rollback();

      assertEquals(List.of("1|committed|null"), asOf(source("orders"), whileOpen));
      assertEquals(
          List.of("1|committed|null"),
          asOf(source("orders"), PostgresSources.safeReadTimestamp(connection)));
    }
  }

  @Test
  void aTransactionOpenWhenTheSnapshotIsTakenStaysInvisibleInItWholeAfterItCommits()
      throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute(
        "INSERT INTO orders (id, message) VALUES (1, 'committed')",
        "INSERT INTO orders (id, message) VALUES (3, 'to delete')");
    SourceState.Jdbc before = PostgresSources.currentState(connection, source("orders"), null);
    try (Connection writer = database.connect()) {
      writer.setAutoCommit(false);
      try (Statement statement = writer.createStatement()) {
        statement.execute("INSERT INTO orders (id, message) VALUES (2, 'open')");
        statement.execute("UPDATE orders SET message = 'changed by open' WHERE id = 1");
        statement.execute("DELETE FROM orders WHERE id = 3");
      }
      SourceState.Jdbc whileOpen =
          PostgresSources.currentState(connection, source("orders"), before);
      writer.commit();

      List<String> untouched = List.of("1|committed|null", "3|to delete|null");
      assertEquals(untouched, asOf(source("orders"), before));
      assertEquals(untouched, asOf(source("orders"), whileOpen));
      SourceState.Jdbc afterCommit =
          PostgresSources.currentState(connection, source("orders"), whileOpen);
      assertEquals(
          List.of("1|changed by open|null", "2|open|null"), asOf(source("orders"), afterCommit));
      // the images are stamped with the transaction that wrote and the one that ended them
      assertEquals(
          List.of("true"),
          query(
              "SELECT bool_and(h.harness_deleted_xid = o.harness_xid)::text FROM orders o JOIN"
                  + " orders_harness_history h ON h.id = o.id"));
    }
  }

  /**
   * A move's images are kept out of the index by transaction: they are marked as the move's, its
   * row records when its delete ended them, and reads of snapshots that miss the move find them by
   * that. A session that only names a move in the setting marks nothing.
   */
  @Test
  void aMovesImagesAreReadByTheSnapshotsThatMissTheMoveOnly() throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    SourceState.Jdbc before = PostgresSources.currentState(connection, source("orders"), null);
    PostgresMoves.Deleted deleted = move("move-1", 2);
    SourceState.Jdbc afterMove = PostgresSources.currentState(connection, source("orders"), before);
    try (Connection application = database.connect()) {
      application.setAutoCommit(false);
      try (Statement statement = application.createStatement()) {
        statement.execute("SELECT set_config('dataharness.move', 'move-1', true)");
        statement.execute("DELETE FROM orders WHERE id = 3");
      }
      application.commit();
    }
    SourceState.Jdbc afterDelete =
        PostgresSources.currentState(connection, source("orders"), afterMove);

    assertEquals(2, deleted.rows());
    assertEquals(List.of("1|a|null", "2|b|null", "3|c|null"), asOf(source("orders"), before));
    assertEquals(List.of("3|c|null"), asOf(source("orders"), afterMove));
    assertEquals(List.of(), asOf(source("orders"), afterDelete));
    assertEquals(
        List.of("1:true:true", "2:true:true", "3:null:false"),
        query(
            "SELECT h.id || ':' || coalesce(h.harness_moved::text, 'null') || ':' ||"
                + " (h.harness_valid_to = m.images_at AND h.harness_deleted_xid = m.xid)::text"
                + " FROM orders_harness_history h, harness_moves m WHERE m.intent_id = 'move-1'"
                + " ORDER BY h.id"));
    assertEquals(
        List.of("1|a|null", "2|b|null"),
        queryColumns(
            PostgresMoves.deletedRowsQuery(source("orders"), SCHEMA, null, deleted),
            "id",
            "message",
            "amount"));
    // a snapshot that sees every move reads no move's images: the check runs once, before any
    String plan =
        String.join(
            "\n",
            query("EXPLAIN " + PostgresSources.asOfQuery(source("orders"), SCHEMA, afterDelete)));
    assertTrue(plan.contains("One-Time Filter: ($"), plan);
  }

  @Test
  void readersOfATableAnEarlierHarnessRegisteredReadEveryImageUntilItIsRegisteredAgain()
      throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) VALUES (1, 'a'), (2, 'b')");
    SourceState.Jdbc before = PostgresSources.currentState(connection, source("orders"), null);
    move("move-1", 1);
    // as an earlier harness left it (registering again installs the function)
    execute("DROP FUNCTION orders_harness_unseen_moves(pg_snapshot)");

    String earlier = PostgresSources.asOfQuery(connection, source("orders"), SCHEMA, before);
    assertFalse(earlier.contains("unseen_moves"), earlier);
    assertEquals(List.of("1|a|null", "2|b|null"), queryColumns(earlier, "id", "message", "amount"));
    PostgresSources.register(connection, source("orders"), SCHEMA);
    String current = PostgresSources.asOfQuery(connection, source("orders"), SCHEMA, before);
    assertTrue(current.contains("unseen_moves"), current);
    assertEquals(List.of("1|a|null", "2|b|null"), queryColumns(current, "id", "message", "amount"));
  }

  /** Deletes the first {@code rows} rows of orders by id as the move {@code intentId}. */
  private PostgresMoves.Deleted move(String intentId, long rows) throws SQLException {
    try (Connection mover = database.connect()) {
      mover.setAutoCommit(false);
      PostgresMoves.claimMove(mover, source("orders"), intentId);
      PostgresMoves.Deleted deleted =
          PostgresMoves.deleteBatch(
              mover, source("orders"), intentId, null, null, List.of("id"), OptionalLong.of(rows));
      mover.commit();
      return deleted;
    }
  }

  /**
   * A clock reading can fall between two rows of one transaction (each row is stamped with its own
   * clock value): a state holding only that timestamp shows part of the transaction once it
   * commits; a state holding the snapshot taken at the same moment shows none of it.
   */
  @Test
  void aStateTakenBetweenTwoWritesOfATransactionShowsNoneOfIt() throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) VALUES (1, 'committed')");
    Instant clock;
    String snapshot;
    try (Connection writer = database.connect()) {
      writer.setAutoCommit(false);
      try (Statement statement = writer.createStatement()) {
        statement.execute("INSERT INTO orders (id, message) VALUES (2, 'first of open')");
      }
      // as a Java API writer takes its state (see docs/non-spark-writers.md)
      try (Connection other = database.connect();
          Statement statement = other.createStatement();
          ResultSet now =
              statement.executeQuery("SELECT clock_timestamp(), pg_current_snapshot()::text")) {
        now.next();
        clock = now.getObject(1, java.time.OffsetDateTime.class).toInstant();
        snapshot = now.getString(2);
      }
      try (Statement statement = writer.createStatement()) {
        statement.execute("INSERT INTO orders (id, message) VALUES (3, 'second of open')");
      }
      writer.commit();
    }

    assertEquals(
        List.of("1|committed|null", "2|first of open|null"),
        asOf(source("orders"), new SourceState.Jdbc(clock)));
    assertEquals(
        List.of("1|committed|null"), asOf(source("orders"), new SourceState.Jdbc(clock, snapshot)));
  }

  @Test
  void aStateWrittenWithoutASnapshotStillReadsByTimestamp() throws SQLException {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) VALUES (1, 'first')");
    Instant first = PostgresSources.safeReadTimestamp(connection);
    execute("UPDATE orders SET message = 'second' WHERE id = 1");

    assertEquals(List.of("1|first|null"), asOf(source("orders"), new SourceState.Jdbc(first)));
  }

  @Test
  void rowsWrittenBeforeRegistrationAreVisibleInEverySnapshotUntilChanged() throws SQLException {
    execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, message text, amount numeric(10,2))",
        "INSERT INTO orders VALUES (1, 'before', NULL), (2, 'before', NULL)");
    SourceState.Jdbc registered = PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("UPDATE orders SET message = 'after' WHERE id = 1", "DELETE FROM orders WHERE id = 2");

    assertEquals(List.of("1|before|null", "2|before|null"), asOf(source("orders"), registered));
    assertEquals(
        List.of("1|after|null"),
        asOf(source("orders"), PostgresSources.currentState(connection, source("orders"), null)));
  }

  /**
   * An application transaction writes several rows while states are taken in a loop (as sync does):
   * every state shows all of each transaction's rows or none.
   */
  @Test
  void everyStateShowsAllOrNoneOfEachTransaction() throws Exception {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    execute("INSERT INTO orders (id, message) SELECT g, 'round 0' FROM generate_series(1, 5) g");
    java.util.concurrent.atomic.AtomicBoolean stop =
        new java.util.concurrent.atomic.AtomicBoolean();
    List<SourceState.Jdbc> states = java.util.Collections.synchronizedList(new ArrayList<>());
    Thread syncing =
        new Thread(
            () -> {
              SourceState.Jdbc last = null;
              while (!stop.get()) {
                last = PostgresSources.currentState(connection, source("orders"), last);
                states.add(last);
              }
            });
    syncing.start();
    try (Connection writer = database.connect()) {
      writer.setAutoCommit(false);
      for (int round = 1; round <= 20; round++) {
        try (Statement statement = writer.createStatement()) {
          // one transaction: updates every row one by one (each stamped with its own clock) and
          // inserts one row per round
          for (int id = 1; id <= 5; id++) {
            statement.execute("UPDATE orders SET message = 'round " + round + "' WHERE id = " + id);
          }
          statement.execute(
              "INSERT INTO orders (id, message) VALUES ("
                  + (100 + round)
                  + ", 'round "
                  + round
                  + "')");
        }
        // a state taken wholly while the transaction is open, before it commits (two new states:
        // the first may have started before the writes)
        int taken = states.size();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (states.size() < taken + 2 && System.nanoTime() < deadline) {
          Thread.sleep(1);
        }
        writer.commit();
      }
    } finally {
      stop.set(true);
      syncing.join();
    }
    assertTrue(states.size() > 40, "states taken: " + states.size());
    for (SourceState.Jdbc state : states) {
      List<String> rows = asOf(source("orders"), state);
      java.util.Set<String> rounds = new java.util.TreeSet<>();
      long inserted = 0;
      for (String row : rows) {
        String[] parts = row.split("\\|");
        if (Long.parseLong(parts[0]) <= 5) {
          rounds.add(parts[1]);
        } else {
          inserted++;
        }
      }
      assertEquals(1, rounds.size(), "state " + state + " shows rows of several rounds: " + rows);
      int round = Integer.parseInt(rounds.iterator().next().substring("round ".length()));
      assertEquals(round, inserted, "state " + state + ": " + rows);
    }
  }

  @Test
  void aWriterWhoseStartTimeIsHiddenIsWaitedFor() throws Exception {
    PostgresSources.register(connection, source("orders"), SCHEMA);
    String suffix = database.name();
    execute(
        "CREATE ROLE reader_" + suffix + " LOGIN PASSWORD 'reader'",
        "CREATE ROLE writer_" + suffix + " LOGIN PASSWORD 'writer'",
        "GRANT ALL ON SCHEMA public TO writer_" + suffix,
        "GRANT ALL ON orders, orders_harness_history TO writer_" + suffix);
    ConnectionConfig unprivileged =
        new ConnectionConfig(
            "hot",
            SourceKind.JDBC,
            Map.of("url", database.jdbcUrl(), "user", "reader_" + suffix, "password", "reader"));
    try (Connection writer =
        java.sql.DriverManager.getConnection(database.jdbcUrl(), "writer_" + suffix, "writer")) {
      writer.setAutoCommit(false);
      try (Statement statement = writer.createStatement()) {
        statement.execute("INSERT INTO orders (id, message) VALUES (1, 'open')");
      }
      CompletableFuture<Instant> readTimestamp =
          CompletableFuture.supplyAsync(() -> PostgresSources.safeReadTimestamp(unprivileged));
      await()
          .during(Duration.ofMillis(500))
          .atMost(Duration.ofSeconds(5))
          .until(() -> !readTimestamp.isDone());
      writer.commit();

      Instant afterCommit = readTimestamp.get(10, TimeUnit.SECONDS);
      assertEquals(List.of("1|open|null"), asOf(source("orders"), afterCommit));
    } finally {
      // roles belong to the server, not to the test's database
      execute(
          "DROP OWNED BY reader_" + suffix + ", writer_" + suffix,
          "DROP ROLE reader_" + suffix,
          "DROP ROLE writer_" + suffix);
    }
  }

  @Test
  void columnMappingReadsAndCreatesTheSourceColumn() throws SQLException {
    SourceDefinition mapped =
        new SourceDefinition(
            "hot",
            SourceKind.JDBC,
            "hot",
            Map.of("table", "orders"),
            Map.of("message", "msg"),
            null);

    PostgresSources.register(connection, mapped, SCHEMA);
    execute("INSERT INTO orders (id, msg, amount) VALUES (1, 'hello', 9.99)");

    assertEquals(
        List.of("id bigint NO", "msg text YES", "amount numeric(10,2) YES"),
        columns("public", "orders").subList(0, 3));
    String sql =
        PostgresSources.asOfQuery(mapped, SCHEMA, PostgresSources.safeReadTimestamp(connection));
    assertEquals(List.of("1|hello"), queryColumns(sql, "id", "message"));
  }

  @Test
  void fieldsTheTableLacksReadAsNull() throws SQLException {
    execute("CREATE TABLE orders (id bigint, message text)", "INSERT INTO orders VALUES (1, 'a')");
    PostgresSources.register(connection, source("orders"), SCHEMA);
    List<String> columns = PostgresSources.sourceColumns(connection, source("orders"));
    assertEquals(List.of("id", "message"), columns);

    String sql =
        PostgresSources.asOfQuery(
            source("orders"),
            SCHEMA,
            PostgresSources.safeReadTimestamp(connection),
            Set.copyOf(columns));

    assertEquals(List.of("1|a|null"), queryColumns(sql, "id", "message", "amount"));
  }

  @Test
  void asOfQueryRendersTheReadTimestampInUtcWithMicroseconds() {
    String sql =
        PostgresSources.asOfQuery(
            source("app.orders"), SCHEMA, Instant.parse("2026-11-22T10:00:00.123456789Z"));

    assertTrue(sql.contains("TIMESTAMPTZ '2026-11-22 10:00:00.123456+00'"), sql);
    assertTrue(sql.contains("FROM \"app\".\"orders\" WHERE"), sql);
    assertTrue(sql.contains("FROM \"app\".\"orders_harness_history\" WHERE"), sql);
  }

  @Test
  void systemColumnNamesAreRefusedForUserColumns() throws SQLException {
    SourceDefinition mappedToSystem =
        new SourceDefinition(
            "hot",
            SourceKind.JDBC,
            "hot",
            Map.of("table", "orders"),
            Map.of("message", "harness_valid_from"),
            null);
    ValidationException mapped =
        assertThrows(
            ValidationException.class,
            () -> PostgresSources.register(connection, mappedToSystem, SCHEMA));
    assertTrue(mapped.getMessage().contains("harness_valid_from"), mapped.getMessage());

    execute("CREATE TABLE clash (id bigint, harness_valid_from text)");
    ValidationException clash =
        assertThrows(
            ValidationException.class,
            () -> PostgresSources.register(connection, source("clash"), SCHEMA));
    assertTrue(clash.getMessage().contains("rename that column"), clash.getMessage());
  }

  @Test
  void badTableOptionsAreClearErrors() {
    ValidationException missing =
        assertThrows(
            ValidationException.class,
            () ->
                PostgresSources.register(
                    connection,
                    new SourceDefinition("hot", SourceKind.JDBC, "hot", Map.of()),
                    SCHEMA));
    assertTrue(missing.getMessage().contains("source.hot.table"), missing.getMessage());

    ValidationException tooLong =
        assertThrows(
            ValidationException.class,
            () -> PostgresSources.register(connection, source("t".repeat(50)), SCHEMA));
    assertTrue(tooLong.getMessage().contains("too long"), tooLong.getMessage());
  }

  @Test
  void unreachableDatabaseNamesTheConnectionSettings() {
    ConnectionConfig wrong =
        new ConnectionConfig(
            "hot",
            SourceKind.JDBC,
            Map.of("url", "jdbc:postgresql://localhost:1/none", "user", "nobody"));

    SourceUnavailableException error =
        assertThrows(
            SourceUnavailableException.class, () -> PostgresSources.safeReadTimestamp(wrong));
    assertTrue(error.getMessage().contains("connection.hot.url"), error.getMessage());
  }

  private static SourceDefinition source(String table) {
    return new SourceDefinition("hot", SourceKind.JDBC, "hot", Map.of("table", table));
  }

  private List<String> asOf(SourceDefinition source, SourceState.Jdbc state) throws SQLException {
    return queryColumns(
        PostgresSources.asOfQuery(source, SCHEMA, state), "id", "message", "amount");
  }

  private List<String> asOf(SourceDefinition source, Instant readTimestamp) throws SQLException {
    return queryColumns(
        PostgresSources.asOfQuery(source, SCHEMA, readTimestamp), "id", "message", "amount");
  }

  /** The named columns of each row, joined by '|', sorted. */
  private List<String> queryColumns(String sql, String... names) throws SQLException {
    List<String> rows = new ArrayList<>();
    try (Connection jdbc = database.connect();
        Statement statement = jdbc.createStatement();
        ResultSet result = statement.executeQuery(sql)) {
      while (result.next()) {
        List<String> values = new ArrayList<>();
        for (String name : names) {
          values.add(String.valueOf(result.getObject(name)));
        }
        rows.add(String.join("|", values));
      }
    }
    rows.sort(null);
    return rows;
  }

  private List<String> query(String sql) throws SQLException {
    List<String> rows = new ArrayList<>();
    try (Connection jdbc = database.connect();
        Statement statement = jdbc.createStatement();
        ResultSet result = statement.executeQuery(sql)) {
      while (result.next()) {
        rows.add(result.getString(1));
      }
    }
    return rows;
  }

  private List<String> columns(String schema, String table) throws SQLException {
    return query(
        "SELECT column_name || ' ' || CASE WHEN data_type = 'numeric' THEN 'numeric(' ||"
            + " numeric_precision || ',' || numeric_scale || ')' ELSE data_type END || ' ' ||"
            + " is_nullable FROM information_schema.columns WHERE table_schema = '"
            + schema
            + "' AND table_name = '"
            + table
            + "' ORDER BY ordinal_position");
  }

  private void execute(String... statements) throws SQLException {
    try (Connection jdbc = database.connect();
        Statement statement = jdbc.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }
}
