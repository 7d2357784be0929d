package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * Appends to a table whose {@code write.source} names several sources route each row to the one
 * source whose partition filter it matches, on real services: one source per Kafka partition, a
 * PostgreSQL source and an Iceberg source, with range filters on an INT column that a text
 * comparison would get wrong ({@code '9' >= '10'}).
 */
class RoutedAppendTest {
  private final SparkSession spark = TestingSpark.shared().session();
  private final TestingKafka kafka = TestingKafka.shared();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "routed_" + suffix;
  private final String topic = "routed_" + suffix;
  private final TableIdentifier table = TableIdentifier.of(namespace, "events");
  private final String qualified = "harness." + namespace + ".events";
  private final String pgTable = "public.routed_" + suffix;
  private final String icebergTable = "iceberg.routed_" + suffix + ".events";

  /** The write source of a row of partition {@code part}, as the filters below declare. */
  private static String expectedSource(long part) {
    if (part == 0) {
      return "hot0";
    }
    if (part == 1) {
      return "hot1";
    }
    if (part >= 2 && part < 10) {
      return "warm";
    }
    return part >= 10 ? "cold" : null;
  }

  private void createTable() {
    kafka.createTopic(topic, 2);
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + qualified
            + " (id BIGINT NOT NULL, part INT, payload STRING) TBLPROPERTIES ("
            + "'source.hot0.kind' = 'kafka', 'source.hot0.connection' = 'kafka',"
            + " 'source.hot0.topic' = '"
            + topic
            + "', 'source.hot0.partitions' = '0', 'source.hot0.partition-filter' = 'part = 0',"
            + " 'source.hot1.kind' = 'kafka', 'source.hot1.connection' = 'kafka',"
            + " 'source.hot1.topic' = '"
            + topic
            + "', 'source.hot1.partitions' = '1', 'source.hot1.partition-filter' = 'part = 1',"
            + " 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + pgTable
            + "', 'source.warm.partition-filter' = 'part >= 2 AND part < 10',"
            + " 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = 'routed_"
            + suffix
            + ".events', 'source.cold.partition-filter' = 'part >= 10',"
            + " 'write.source' = 'hot0, hot1, warm, cold', 'primary-key' = 'id')");
  }

  private HarnessContext catalog() {
    return JobArguments.catalog(spark, "harness");
  }

  /** Rows with ids [from, to), of partition {@code id % modulus} (or {@code part} when given). */
  private Dataset<Row> rows(long from, long to, String part) {
    return spark.sql(
        "SELECT id, CAST("
            + part
            + " AS INT) AS part, concat('p', CAST(id AS STRING)) AS payload FROM range("
            + from
            + ", "
            + to
            + ", 1, 3)");
  }

  /** Every row as "id/part/source", sorted, duplicates kept. */
  private List<String> read(String sql) {
    return spark.sql(sql).collectAsList().stream()
        .map(row -> row.getLong(0) + "/" + row.getInt(1) + "/" + row.getString(2))
        .sorted()
        .toList();
  }

  /** The brute-force expectation: each id with its partition and the source it must land in. */
  private static List<String> expected(
      long from, long to, java.util.function.LongUnaryOperator part) {
    List<String> rows = new ArrayList<>();
    for (long id = from; id < to; id++) {
      long p = part.applyAsLong(id);
      rows.add(id + "/" + p + "/" + expectedSource(p));
    }
    return rows.stream().sorted().toList();
  }

  private List<String> readAll(String versionClause) {
    return read("SELECT id, part, _source FROM " + qualified + versionClause);
  }

  private long postgresCount() {
    ConnectionConfig pg =
        catalog().connection(table, catalog().store().readLatest(table).source("warm"));
    try (Connection connection =
            DriverManager.getConnection(pg.jdbcUrl(), pg.jdbcUser(), pg.jdbcPassword());
        ResultSet result =
            connection.createStatement().executeQuery("SELECT count(*) FROM " + pgTable)) {
      result.next();
      return result.getLong(1);
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private long icebergCount() {
    return spark.sql("SELECT count(*) FROM " + icebergTable).collectAsList().get(0).getLong(0);
  }

  @Test
  void anAppendOfSeveralPartitionsLandsInTheirSourcesInOneVersion() throws Exception {
    createTable();
    long before = catalog().store().readLatest(table).version();
    // partitions 0..12: both Kafka partitions, PostgreSQL (2..9) and Iceberg (10..12)
    rows(0, 260, "id % 13").writeTo(qualified).append();
    TableVersion appended = catalog().store().readLatest(table);
    // one intent (Kafka and PostgreSQL writes are visible to a later version) and one commit
    assertEquals(before + 2, appended.version(), "one version records the whole append");
    assertEquals("intent", catalog().store().readVersion(table, before + 1).commit().operation());
    assertEquals("append", appended.commit().operation());
    assertEquals("cold,hot0,hot1,warm", appended.commit().summary().get("source"));
    assertEquals("260", appended.commit().summary().get("rows"));
    List<String> expected = expected(0, 260, id -> id % 13);
    assertEquals(expected, readAll(""));
    assertEquals(expected, readAll(" VERSION AS OF " + appended.version()));
    // each source's own system holds exactly its rows
    Map<Integer, Long> ends = kafka.stableEndOffsets(topic);
    // 20 messages per Kafka partition, and the commit marker of the append's transaction
    assertTrue(ends.get(0) >= 20 && ends.get(0) <= 21, ends.toString());
    assertTrue(ends.get(1) >= 20 && ends.get(1) <= 21, ends.toString());
    assertEquals(20 * 8, postgresCount());
    assertEquals(20 * 3, icebergCount());

    // a second append of two partitions only: again exactly the brute-force rows
    rows(1000, 1100, "CASE WHEN id % 2 = 0 THEN 1 ELSE 11 END").writeTo(qualified).append();
    List<String> more = new ArrayList<>(expected);
    more.addAll(expected(1000, 1100, id -> id % 2 == 0 ? 1 : 11));
    assertEquals(more.stream().sorted().toList(), readAll(""));
    TableVersion second = catalog().store().readLatest(table);
    assertEquals(appended.version() + 2, second.version());
    assertEquals("cold,hot1", second.commit().summary().get("source"));
    assertEquals(expected, readAll(" VERSION AS OF " + appended.version()));
  }

  @Test
  void appendsToDifferentPartitionsNeverContend() throws Exception {
    createTable();
    long created = catalog().store().readLatest(table).version();
    List<String> first = expected(0, 60, id -> 1);
    List<String> second = expected(100, 160, id -> id % 2 == 0 ? 5 : 12);
    // a writer holds the source of partition 0 (as a mover of partition 0 would) throughout
    try (LeaseKeeper held =
        LeaseKeeper.acquire(catalog().store(), table, "partition-0-mover", List.of("hot0"))) {
      ExecutorService threads = Executors.newFixedThreadPool(2);
      try {
        // two appends at once, to partition 1 (Kafka) and to partitions 5 and 12 (PostgreSQL,
        // Iceberg): each locks only the sources its rows go to, so neither waits for the other
        // nor for the held lock (waiting for it would fail after the two-minute lock wait)
        Future<?> one =
            threads.submit(
                () -> {
                  rows(0, 60, "1").writeTo(qualified).append();
                  return null;
                });
        Future<?> two =
            threads.submit(
                () -> {
                  rows(100, 160, "CASE WHEN id % 2 = 0 THEN 5 ELSE 12 END")
                      .writeTo(qualified)
                      .append();
                  return null;
                });
        one.get();
        two.get();
      } finally {
        threads.shutdownNow();
      }
    }
    // the held source is free again: an append to partition 0 goes ahead too
    rows(200, 220, "0").writeTo(qualified).append();
    List<String> third = expected(200, 220, id -> 0);
    TableVersion latest = catalog().store().readLatest(table);
    List<String> operations = new ArrayList<>();
    for (long version = created + 1; version <= latest.version(); version++) {
      operations.add(catalog().store().readVersion(table, version).commit().operation());
    }
    assertEquals(3, operations.stream().filter("append"::equals).count(), operations.toString());
    List<String> all = union(first, second, third);
    assertEquals(all, readAll(""));
    // every version reads exactly the appends committed by then, whichever committed first
    List<List<String>> possible = List.of(List.of(), first, second, union(first, second), all);
    for (long version = created; version <= latest.version(); version++) {
      List<String> seen = readAll(" VERSION AS OF " + version);
      assertTrue(possible.contains(seen), "version " + version + " reads " + seen);
    }
    assertEquals(List.of(), latest.openIntents());
  }

  @SafeVarargs
  private static List<String> union(List<String>... parts) {
    List<String> all = new ArrayList<>();
    for (List<String> part : parts) {
      all.addAll(part);
    }
    return all.stream().sorted().toList();
  }

  private static String messages(Throwable e) {
    StringBuilder text = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      text.append(t.getMessage()).append(" | ");
    }
    return text.toString();
  }

  @Test
  void aRowOfNoDeclaredPartitionFailsTheAppendAndChangesNothing() throws Exception {
    createTable();
    rows(0, 26, "id % 13").writeTo(qualified).append();
    TableVersion before = catalog().store().readLatest(table);
    Map<Integer, Long> ends = kafka.endOffsets(topic);
    long postgres = postgresCount();
    long iceberg = icebergCount();
    List<String> rows = readAll("");
    assertEquals(expected(0, 26, id -> id % 13), rows);

    // one row of partition -1, which no write source declares, among rows of every source
    Exception none =
        assertThrows(
            Exception.class,
            () ->
                rows(100, 130, "CASE WHEN id = 117 THEN -1 ELSE id % 13 END")
                    .writeTo(qualified)
                    .append());
    String message = messages(none);
    assertTrue(message.contains("1 row(s) match none"), message);
    assertTrue(message.contains("partition values {part=-1}"), message);
    assertTrue(message.contains("warm=part >= 2 AND part < 10"), message);
    // a NULL partition matches no filter either
    Exception nullPart =
        assertThrows(
            Exception.class,
            () ->
                rows(100, 130, "CASE WHEN id > 120 THEN NULL ELSE 3 END")
                    .writeTo(qualified)
                    .append());
    assertTrue(messages(nullPart).contains("9 row(s) match none"), messages(nullPart));
    assertTrue(messages(nullPart).contains("{part=null}"), messages(nullPart));

    // nothing changed: no version, no message, no row, no snapshot
    TableVersion after = catalog().store().readLatest(table);
    assertEquals(before.version(), after.version());
    assertEquals(ends, kafka.endOffsets(topic));
    assertEquals(postgres, postgresCount());
    assertEquals(iceberg, icebergCount());
    assertEquals(rows, readAll(""));
    assertEquals(List.of(), after.openIntents());

    // overlapping filters: a row matching two write sources fails the same way
    spark.sql(
        "ALTER TABLE "
            + qualified
            + " SET TBLPROPERTIES ('source.cold.partition-filter' = 'part >= 9')");
    Exception several =
        assertThrows(Exception.class, () -> rows(300, 310, "9").writeTo(qualified).append());
    assertTrue(messages(several).contains("match several ([warm, cold])"), messages(several));
    assertEquals(before.version() + 1, catalog().store().readLatest(table).version());
    assertEquals(postgres, postgresCount());

    // several write sources need a filter each: refused at ALTER and at CREATE
    Exception unfiltered =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "ALTER TABLE "
                        + qualified
                        + " UNSET TBLPROPERTIES ('source.cold.partition-filter')"));
    assertTrue(
        messages(unfiltered).contains("[cold] declare no partition-filter"), messages(unfiltered));
    Exception unknown =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "ALTER TABLE "
                        + qualified
                        + " SET TBLPROPERTIES ('write.source' = 'hot0,nope')"));
    assertTrue(messages(unknown).contains("'nope' is not one of its sources"), messages(unknown));
    Exception created =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "CREATE TABLE harness."
                        + namespace
                        + ".other (id BIGINT NOT NULL, part INT) TBLPROPERTIES ("
                        + "'source.a.kind' = 'kafka', 'source.a.connection' = 'kafka',"
                        + " 'source.a.topic' = '"
                        + topic
                        + "', 'source.a.partition-filter' = 'part = 0',"
                        + " 'source.b.kind' = 'kafka', 'source.b.connection' = 'kafka',"
                        + " 'source.b.topic' = '"
                        + topic
                        + "', 'write.source' = 'a,b')"));
    assertTrue(messages(created).contains("[b] declare no partition-filter"), messages(created));
  }

  private void postgres(String statement) throws java.sql.SQLException {
    ConnectionConfig pg =
        catalog().connection(table, catalog().store().readLatest(table).source("warm"));
    try (Connection connection =
        DriverManager.getConnection(pg.jdbcUrl(), pg.jdbcUser(), pg.jdbcPassword())) {
      connection.createStatement().execute(statement);
    }
  }

  @Test
  void anAppendThatPostgresRefusesWritesNothingAndTheNextAppendCompletesIt() throws Exception {
    createTable();
    rows(0, 26, "id % 13").writeTo(qualified).append();
    TableVersion before = catalog().store().readLatest(table);
    Map<Integer, Long> ends = kafka.endOffsets(topic);
    long postgres = postgresCount();
    long iceberg = icebergCount();
    List<String> rows = readAll("");
    postgres("ALTER TABLE " + pgTable + " ADD CONSTRAINT no_boom CHECK (payload <> 'boom')");

    // rows of every source; PostgreSQL refuses one of them
    String failing =
        "SELECT id, CAST(id % 13 AS INT) AS part, CASE WHEN id = 107 THEN 'boom' ELSE"
            + " concat('p', CAST(id AS STRING)) END AS payload FROM range(100, 130, 1, 3)";
    Exception refused =
        assertThrows(Exception.class, () -> spark.sql(failing).writeTo(qualified).append());
    assertTrue(messages(refused).contains("no_boom"), messages(refused));
    // PostgreSQL is written before Kafka, and Iceberg only staged: nothing is anywhere
    assertEquals(ends, kafka.endOffsets(topic));
    assertEquals(postgres, postgresCount());
    assertEquals(iceberg, icebergCount());
    assertEquals(rows, readAll(""));
    TableVersion after = catalog().store().readLatest(table);
    assertEquals(1, after.openIntents().size(), "the failed append's intent stays open");

    // the same rows again, once PostgreSQL takes them: the append completes the failed one's
    // intent (which wrote nothing) and writes its own rows, each exactly once
    postgres("ALTER TABLE " + pgTable + " DROP CONSTRAINT no_boom");
    spark.sql(failing).writeTo(qualified).append();
    TableVersion completed = catalog().store().readLatest(table);
    assertEquals(List.of(), completed.openIntents());
    List<String> expected =
        union(expected(0, 26, id -> id % 13), expected(100, 130, id -> id % 13));
    assertEquals(expected, readAll(""));
    assertEquals(rows, readAll(" VERSION AS OF " + before.version()));
    assertEquals(postgres + 17, postgresCount());
    assertEquals(iceberg + 9, icebergCount());
  }
}
