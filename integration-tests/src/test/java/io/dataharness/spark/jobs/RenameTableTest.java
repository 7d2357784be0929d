package io.dataharness.spark.jobs;

import static io.dataharness.spark.jobs.TestSql.refused;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.write.IcebergStaging;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.apache.iceberg.Table;
import org.apache.iceberg.spark.Spark3Util;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/**
 * {@code ALTER TABLE ... RENAME TO} on real services: every version reads the same rows under the
 * new name, the Iceberg tags (named by the table's uuid) stay the table's, writers and the audit
 * work after it, and a rename is refused while a writer holds a lock, onto an existing table, or to
 * a view name, changing nothing.
 */
class RenameTableTest {

  @Test
  void aRenamedTableKeepsEveryVersionItsTagsAndItsWriters() throws Exception {
    MoveFixture fixture =
        new MoveFixture(
            2,
            ", 'primary-key' = 'id', 'ordering-column' = 'version'," + " 'write.source' = 'warm'");
    fixture.produce(0, 30);
    fixture.move("hot", "cold", 10L);
    fixture.move("hot", "warm", null);
    try (Connection connection = TestingSpark.shared().sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      statement.execute("UPDATE " + fixture.pgTable + " SET message = 'edited' WHERE id = 25");
    }
    fixture.sync();
    HarnessStore store = fixture.catalog().store();
    long latest = store.readLatest(fixture.table).version();
    List<List<String>> before = new ArrayList<>();
    for (long version = 1; version <= latest; version++) {
      before.add(fixture.rows("SELECT * FROM " + fixture.qualified + " VERSION AS OF " + version));
    }
    String uuid = store.loadTable(fixture.table).uuid();

    fixture.spark.sql("ALTER TABLE " + fixture.qualified + " RENAME TO renamed").collect();

    TableIdentifier renamed = TableIdentifier.of(fixture.namespace, "renamed");
    String qualified = "harness." + renamed;
    assertFalse(store.tableExists(fixture.table));
    assertEquals(uuid, store.loadTable(renamed).uuid());
    assertEquals(latest, store.readLatest(renamed).version(), "a rename adds no version");
    for (long version = 1; version <= latest; version++) {
      assertEquals(
          before.get((int) version - 1),
          fixture.rows("SELECT * FROM " + qualified + " VERSION AS OF " + version),
          "version " + version);
    }
    assertEquals(
        List.of("renamed"),
        fixture.spark.sql("SHOW TABLES IN harness." + fixture.namespace).collectAsList().stream()
            .map(row -> row.getString(1))
            .toList());
    refused(
        () -> fixture.spark.sql("SELECT * FROM " + fixture.qualified).collect(), "cannot be found");

    // writers and the audit work under the new name; the new tag carries the table's uuid
    fixture.produce(30, 40);
    MoveResult moved =
        MoveJob.run(
            fixture.spark,
            fixture.catalog(),
            new MoveRequest(
                renamed, "hot", "cold", OptionalLong.empty(), Optional.empty(), "rename-test"));
    assertEquals(10, moved.rowsMoved());
    fixture
        .spark
        .sql("SELECT 100L AS id, 'appended' AS message, 1L AS version")
        .writeTo(qualified)
        .append();
    List<Long> ids = new ArrayList<>(MoveFixture.range(0, 40));
    ids.add(100L);
    assertEquals(ids, fixture.ids("SELECT id FROM " + qualified));
    Table iceberg = Spark3Util.loadIcebergTable(fixture.spark, fixture.icebergTable);
    iceberg.refresh();
    Set<String> refs = iceberg.refs().keySet();
    assertTrue(
        refs.contains(IcebergStaging.tagName(store.loadTable(renamed), moved.version())),
        refs.toString());
    assertTrue(
        refs.stream().filter(ref -> !ref.equals("main")).allMatch(ref -> ref.contains(uuid)),
        refs.toString());
    List<Row> violations =
        fixture.spark.sql("CALL harness.system.audit(table => '" + renamed + "')").collectAsList();
    assertEquals(List.of(), violations);

    // and across namespaces, with the catalog's name in the new name
    fixture.spark.sql("CREATE NAMESPACE harness.other_" + fixture.suffix).collect();
    fixture
        .spark
        .sql("ALTER TABLE " + qualified + " RENAME TO harness.other_" + fixture.suffix + ".moved")
        .collect();
    assertEquals(ids, fixture.ids("SELECT id FROM harness.other_" + fixture.suffix + ".moved"));
  }

  @Test
  void aRenameIsRefusedWhileAWriterHoldsALockOrOntoATakenNameAndChangesNothing() {
    MoveFixture fixture = new MoveFixture(1, "");
    fixture.produce(0, 5);
    fixture.sync();
    HarnessStore store = fixture.catalog().store();
    fixture
        .spark
        .sql(
            "CREATE TABLE harness."
                + fixture.namespace
                + ".taken (id BIGINT) TBLPROPERTIES ('source.s.kind' = 'kafka',"
                + " 'source.s.connection' = 'kafka', 'source.s.topic' = '"
                + fixture.topic
                + "')")
        .collect();

    try (LeaseKeeper locks =
        LeaseKeeper.acquire(
            store,
            fixture.table,
            "a-running-mover",
            Duration.ofMinutes(1),
            Duration.ofSeconds(20),
            List.of("warm"))) {
      refused(
          () ->
              fixture.spark.sql("ALTER TABLE " + fixture.qualified + " RENAME TO later").collect(),
          "'warm' (held by 'a-running-mover'");
    }
    refused(
        () -> fixture.spark.sql("ALTER TABLE " + fixture.qualified + " RENAME TO taken").collect(),
        "a table of that name exists");
    refused(
        () -> fixture.spark.sql("ALTER TABLE " + fixture.qualified + " RENAME TO latest").collect(),
        "other than 'latest'");
    assertTrue(store.tableExists(fixture.table));
    assertEquals(MoveFixture.range(0, 5), fixture.ids());

    // once the writer is gone, the same rename succeeds
    fixture.spark.sql("ALTER TABLE " + fixture.qualified + " RENAME TO later").collect();
    assertEquals(
        MoveFixture.range(0, 5),
        fixture.ids("SELECT id FROM harness." + fixture.namespace + ".later"));
  }
}
