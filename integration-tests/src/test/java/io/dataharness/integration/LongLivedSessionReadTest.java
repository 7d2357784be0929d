package io.dataharness.integration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingSpark;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.apache.iceberg.Table;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A long-lived session (a notebook, a Thrift server) reads versions whose Iceberg snapshot another
 * process committed after the session had loaded the Iceberg table.
 *
 * <p>The reading session is a new session of the test's Spark application, so it has its own
 * catalog instances: its Spark catalog {@code iceberg} (the harness connection {@code lake}) keeps
 * Iceberg's default table cache, set never to expire (Iceberg's cache expires a table only after it
 * was not accessed for a while, so a busy table never refreshes). The other process writes to the
 * same Iceberg JDBC catalog and warehouse through its own catalog instances: the shared test
 * session (its own uncached {@code iceberg} catalog) for data, {@link TestingIceberg#catalog()} for
 * snapshot expiry, and the Java store API for harness commits.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LongLivedSessionReadTest {
  private static final String NATIVE_UNION = "spark.dataharness.read.native-union";

  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession writer = testingSpark.session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "longlived_" + suffix;
  private final String lakeNamespace = "longlived_lake_" + suffix;
  private SparkSession reader;
  private HarnessStore store;

  @BeforeAll
  void setUp() {
    TestingDatabase metadata = testingSpark.metadataDatabase();
    store = HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password(), 2);
    reader = writer.newSession();
    String lake = "spark.sql.catalog." + TestingIceberg.CATALOG_NAME;
    reader.conf().set(lake + ".cache-enabled", "true");
    reader.conf().set(lake + ".cache.expiration-interval-ms", "-1");
    writer.sql("CREATE NAMESPACE harness." + namespace);
  }

  @AfterAll
  void closeStore() {
    store.close();
  }

  /**
   * A harness table over one Iceberg source 'cold' holding ids 1 and 2 (version 1), created by
   * another process: the session has not loaded the Iceberg table yet.
   */
  private String createTable(String name) {
    String lake = "iceberg." + lakeNamespace + "." + name;
    writer.sql("CREATE TABLE " + lake + " (id BIGINT, message STRING) USING iceberg");
    writer.sql("INSERT INTO " + lake + " VALUES (1, 'a'), (2, 'b')");
    writer.sql(
        "CREATE TABLE harness."
            + namespace
            + "."
            + name
            + " (id BIGINT, message STRING) TBLPROPERTIES ('source.cold.kind' = 'iceberg',"
            + " 'source.cold.connection' = 'lake', 'source.cold.table' = '"
            + lakeNamespace
            + "."
            + name
            + "')");
    return "harness." + namespace + "." + name;
  }

  /** Another process appends rows to the Iceberg table and commits a harness version with them. */
  private VersionInfo appendElsewhere(String name, long... ids) {
    String values =
        java.util.Arrays.stream(ids)
            .mapToObj(id -> "(" + id + ", 'm" + id + "')")
            .collect(Collectors.joining(", "));
    writer.sql("INSERT INTO iceberg." + lakeNamespace + "." + name + " VALUES " + values);
    long snapshot = icebergTable(name).currentSnapshot().snapshotId();
    TableIdentifier identifier = TableIdentifier.of(namespace, name);
    SourceState previous = store.readLatest(identifier).state("cold");
    SourceLock lock = store.acquireLock(identifier, "cold", "other-process", Duration.ofMinutes(1));
    try {
      return store
          .newTransaction(identifier)
          .operation("append")
          .withLock(lock)
          .setSourceState("cold", previous, SourceState.Iceberg.of(snapshot))
          .summary("rows", String.valueOf(ids.length))
          .commit();
    } finally {
      store.releaseLock(lock);
    }
  }

  private Table icebergTable(String name) {
    return TestingIceberg.shared()
        .catalog()
        .loadTable(org.apache.iceberg.catalog.TableIdentifier.of(lakeNamespace, name));
  }

  private static List<Long> ids(Dataset<Row> frame) {
    return frame.select("id").collectAsList().stream().map(row -> row.getLong(0)).sorted().toList();
  }

  /** Reads through the native union rewrite, or through the plain DataSource V2 scan. */
  private <T> T read(boolean nativeUnion, Supplier<T> body) {
    reader.conf().set(NATIVE_UNION, String.valueOf(nativeUnion));
    try {
      return body.get();
    } finally {
      reader.conf().unset(NATIVE_UNION);
    }
  }

  private static String messages(Throwable error) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      text.append(cause.getMessage()).append('\n');
    }
    return text.toString();
  }

  @ParameterizedTest(name = "native union {0}")
  @ValueSource(booleans = {true, false})
  void readsVersionsWhoseSnapshotAnotherProcessCommitted(boolean nativeUnion) {
    String name = nativeUnion ? "appended_native" : "appended_scan";
    String table = createTable(name);
    assertEquals(List.of(1L, 2L), read(nativeUnion, () -> ids(reader.table(table))));

    appendElsewhere(name, 3, 4);
    assertEquals(
        List.of(1L, 2L, 3L, 4L),
        read(nativeUnion, () -> ids(reader.sql("SELECT id FROM " + table))),
        "SQL, latest version");
    assertEquals(
        List.of(1L, 2L, 3L, 4L),
        read(nativeUnion, () -> ids(reader.read().option("version", "2").table(table))),
        "DataFrame API, version 2");
    assertEquals(4L, read(nativeUnion, () -> reader.table(table).count()));

    appendElsewhere(name, 5);
    assertEquals(
        List.of(1L, 2L, 3L, 4L, 5L),
        read(nativeUnion, () -> ids(reader.sql("SELECT id FROM " + table + " VERSION AS OF 3"))),
        "SQL, version 3");
    assertEquals(5L, read(nativeUnion, () -> reader.table(table).count()), "DataFrame API, latest");
    assertEquals(
        List.of(1L, 2L),
        read(nativeUnion, () -> ids(reader.sql("SELECT id FROM " + table + " VERSION AS OF 1"))));
  }

  @ParameterizedTest(name = "native union {0}")
  @ValueSource(booleans = {true, false})
  void anExpiredSnapshotStillFailsNamingTableVersionSourceAndSnapshot(boolean nativeUnion) {
    String name = nativeUnion ? "expired_native" : "expired_scan";
    String table = createTable(name);
    assertEquals(List.of(1L, 2L), read(nativeUnion, () -> ids(reader.table(table))));
    long first = icebergTable(name).currentSnapshot().snapshotId();

    appendElsewhere(name, 3);
    icebergTable(name).expireSnapshots().expireSnapshotId(first).commit();
    assertEquals(List.of(1L, 2L, 3L), read(nativeUnion, () -> ids(reader.table(table))));

    String query = "SELECT id FROM " + table + " VERSION AS OF 1";
    Exception failure =
        assertThrows(
            Exception.class, () -> read(nativeUnion, () -> reader.sql(query).collectAsList()));
    String text = messages(failure);
    assertTrue(text.contains(namespace + "." + name + " at version 1"), text);
    assertTrue(text.contains("source 'cold'"), text);
    assertTrue(text.contains(lakeNamespace + "." + name), text);
    assertTrue(text.contains("no longer has snapshot " + first), text);
    assertTrue(text.contains("Protect snapshots"), text);
  }

  @ParameterizedTest(name = "native union {0}")
  @ValueSource(booleans = {true, false})
  void aSnapshotExpiredAfterTheSessionLoadedItFailsTheSameWay(boolean nativeUnion) {
    String name = nativeUnion ? "expired_known_native" : "expired_known_scan";
    String table = createTable(name);
    long first = icebergTable(name).currentSnapshot().snapshotId();
    appendElsewhere(name, 3);
    // the session's cached table now knows both snapshots
    assertEquals(List.of(1L, 2L, 3L), read(nativeUnion, () -> ids(reader.table(table))));
    assertEquals(
        List.of(1L, 2L),
        read(nativeUnion, () -> ids(reader.sql("SELECT id FROM " + table + " VERSION AS OF 1"))));

    icebergTable(name).expireSnapshots().expireSnapshotId(first).commit();
    String query = "SELECT id FROM " + table + " VERSION AS OF 1";
    Exception failure =
        assertThrows(
            Exception.class, () -> read(nativeUnion, () -> reader.sql(query).collectAsList()));
    String text = messages(failure);
    assertTrue(text.contains(namespace + "." + name + " at version 1"), text);
    assertTrue(text.contains("no longer has snapshot " + first), text);
    assertEquals(List.of(1L, 2L, 3L), read(nativeUnion, () -> ids(reader.table(table))));
  }

  @ParameterizedTest(name = "native union {0}")
  @ValueSource(booleans = {true, false})
  void timeTravelByTimestampAndTheSourcesTableSeeAnotherProcessCommit(boolean nativeUnion) {
    String name = nativeUnion ? "travel_native" : "travel_scan";
    String table = createTable(name);
    TableIdentifier identifier = TableIdentifier.of(namespace, name);
    Instant first = store.readLatest(identifier).commit().committedAt();
    assertEquals(List.of(1L, 2L), read(nativeUnion, () -> ids(reader.table(table))));

    VersionInfo second = appendElsewhere(name, 3);
    Instant secondAt = second.commit().committedAt();
    assertEquals(
        List.of(1L, 2L, 3L),
        read(
            nativeUnion,
            () ->
                ids(
                    reader.sql(
                        "SELECT id FROM " + table + " TIMESTAMP AS OF '" + secondAt + "'"))));
    assertEquals(
        List.of(1L, 2L),
        read(
            nativeUnion,
            () -> ids(reader.sql("SELECT id FROM " + table + " TIMESTAMP AS OF '" + first + "'"))));
    long snapshot = icebergTable(name).currentSnapshot().snapshotId();
    assertEquals(
        List.of(
            "[1,"
                + ((SourceState.Iceberg) store.readVersion(identifier, 1).state("cold"))
                    .snapshotId()
                    .getAsLong()
                + "]",
            "[2," + snapshot + "]"),
        reader
            .sql(
                "SELECT version, get_json_object(state, '$.snapshot-id') FROM "
                    + table
                    + ".sources WHERE source = 'cold' ORDER BY version")
            .collectAsList()
            .stream()
            .map(Row::toString)
            .toList());
  }

  @Test
  void aSourceRegisteredInTheSessionStartsAtTheSnapshotAnotherProcessCommitted() {
    String name = "registered";
    String lake = lakeNamespace + "." + name;
    writer.sql("CREATE TABLE iceberg." + lake + " (id BIGINT, message STRING) USING iceberg");
    writer.sql("INSERT INTO iceberg." + lake + " VALUES (1, 'a')");
    assertEquals(1L, reader.table("iceberg." + lake).count());
    writer.sql("INSERT INTO iceberg." + lake + " VALUES (2, 'b')");

    String table = "harness." + namespace + "." + name;
    reader.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT, message STRING) TBLPROPERTIES ('source.cold.kind' = 'iceberg',"
            + " 'source.cold.connection' = 'lake', 'source.cold.table' = '"
            + lake
            + "')");
    assertEquals(
        SourceState.Iceberg.of(icebergTable(name).currentSnapshot().snapshotId()),
        store.readLatest(TableIdentifier.of(namespace, name)).state("cold"));
    assertEquals(List.of(1L, 2L), ids(reader.table(table)));
  }
}
