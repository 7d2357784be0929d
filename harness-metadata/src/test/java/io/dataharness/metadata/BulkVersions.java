package io.dataharness.metadata;

import io.dataharness.testing.TestingDatabase;
import java.sql.Connection;
import java.sql.Statement;

/**
 * Writes many versions of a table straight into the PostgreSQL store's tables, for benchmarks at
 * scale: versions 2..n, version g changing source {@code p<g % sources>} to Kafka end offset g, as
 * commits would record it (its row, its state, its change), then the table's current version, the
 * sources' current states and the state checkpoint of every 1,000th version.
 */
public final class BulkVersions {
  private BulkVersions() {}

  /**
   * Loads versions 2..{@code versions} of {@code table} (created with sources {@code p0}..{@code
   * p<sources - 1>}, each a Kafka source at version 1) and returns the seconds it took.
   */
  public static double load(
      TestingDatabase database, TableIdentifier table, int versions, int sources) throws Exception {
    long start = System.nanoTime();
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      long tableId;
      try (var rows =
          statement.executeQuery(
              "SELECT table_id FROM harness_tables WHERE namespace = '"
                  + table.namespace()
                  + "' AND table_name = '"
                  + table.name()
                  + "'")) {
        rows.next();
        tableId = rows.getLong(1);
      }
      String state =
          "'{\"kind\":\"kafka\",\"partitions\":{\"0\":{\"start\":0,\"end\":' || g || '}}}'";
      String source = "'p' || (g % " + sources + ")";
      statement.execute(
          "INSERT INTO harness_versions (table_id, version, schema_id, committed_at, operation,"
              + " summary, changes) SELECT "
              + tableId
              + ", g, 1, now() - make_interval(secs => ("
              + versions
              + " - g) / 100.0), 'sync', '{}', '{\"sources\":[{\"source\":\"' || "
              + source
              + " || '\",\"before\":null,\"after\":' || "
              + state
              + " || ',\"external-ids\":{}}],\"external-state\":{}}' FROM generate_series(2, "
              + versions
              + ") g");
      statement.execute(
          "INSERT INTO harness_source_states (table_id, source_id, version, state) SELECT "
              + tableId
              + ", "
              + source
              + ", g, "
              + state
              + " FROM generate_series(2, "
              + versions
              + ") g");
      statement.execute(
          "UPDATE harness_sources s SET current_state = latest.state FROM (SELECT DISTINCT ON"
              + " (source_id) source_id, state FROM harness_source_states WHERE table_id = "
              + tableId
              + " ORDER BY source_id, version DESC) latest WHERE s.table_id = "
              + tableId
              + " AND s.source_id = latest.source_id");
      statement.execute(
          "UPDATE harness_tables SET current_version = "
              + versions
              + " WHERE table_id = "
              + tableId);
      // the state checkpoint of every 1,000th version, as its committer writes it
      statement.execute(
          "INSERT INTO harness_state_checkpoints (table_id, version, states) SELECT "
              + tableId
              + ", g, (SELECT json_object_agg(s.source_id, (SELECT st.state FROM"
              + " harness_source_states st WHERE st.table_id = s.table_id AND st.source_id ="
              + " s.source_id AND st.version <= g ORDER BY st.version DESC LIMIT 1)::json)::text"
              + " FROM harness_sources s WHERE s.table_id = "
              + tableId
              + ") FROM generate_series("
              + JdbcHarnessStore.CHECKPOINT_EVERY
              + ", "
              + versions
              + ", "
              + JdbcHarnessStore.CHECKPOINT_EVERY
              + ") g");
      // as autovacuum would have long since done on a store of this size (here it would run during
      // the measurements that follow)
      statement.execute("VACUUM ANALYZE");
    }
    return (System.nanoTime() - start) / 1e9;
  }
}
