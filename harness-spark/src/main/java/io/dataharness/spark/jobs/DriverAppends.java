package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.monotonically_increasing_id;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.spark.SparkSchemas;
import io.dataharness.spark.source.PostgresUpserts;
import io.dataharness.spark.write.IcebergStaging;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Appends through the harness to an Iceberg or PostgreSQL write source, run on the driver with the
 * whole DataFrame: write the rows the way a mover writes its batch (an Iceberg staged snapshot, or
 * one PostgreSQL upsert transaction), then one harness commit (operation {@code append}), then
 * publish. The write source's lock is held throughout, so appends serialize with movers into the
 * same source.
 */
public final class DriverAppends {
  private static final Logger LOG = LoggerFactory.getLogger(DriverAppends.class);

  private DriverAppends() {}

  /** Appends rows (harness columns) to an Iceberg source; returns the version committed. */
  public static long appendToIceberg(
      HarnessCatalog catalog,
      TableIdentifier table,
      String sourceId,
      Dataset<Row> rows,
      String writeId) {
    SparkSession spark = rows.sparkSession();
    HarnessStore store = catalog.store();
    try (MoveLocks locks =
        MoveLocks.acquire(store, table, "append-" + writeId, MoveLocks.DEFAULT_LEASE, sourceId)) {
      TableVersion version = store.readLatest(table);
      SourceDefinition source = version.source(sourceId);
      SourceState.Iceberg recorded = (SourceState.Iceberg) version.state(sourceId);
      IcebergStaging staging =
          IcebergStaging.open(spark, catalog.connection(table, source), source);
      staging.ensurePublished(recorded, table, version.version());
      String key = "append:" + table + ":" + sourceId + ":" + writeId;
      staging.removeAbandonedStages(recorded, key);
      IcebergStaging.Staged staged =
          staging.stage(rows, SparkSchemas.toSpark(version.schema()), recorded, key);
      VersionInfo committed =
          locks
              .present(
                  store
                      .newTransaction(table)
                      .operation("append")
                      .idempotencyKey(key)
                      .setSourceState(sourceId, SourceState.Iceberg.of(staged.snapshotId()))
                      .externalIds(
                          sourceId, Map.of("snapshot-id", String.valueOf(staged.snapshotId())))
                      .summary("source", sourceId)
                      .summary("rows", String.valueOf(staged.addedRows())))
              .commit();
      staging.publish(staged.snapshotId(), IcebergStaging.tagName(table, committed.version()));
      LOG.info(
          "Appended {} rows to {} source '{}' (Iceberg snapshot {}) as version {}",
          staged.addedRows(),
          table,
          sourceId,
          staged.snapshotId(),
          committed.version());
      return committed.version();
    }
  }

  /**
   * Appends rows (harness columns) to a PostgreSQL source: upserts by the primary key when the
   * table has one, plain inserts otherwise; returns the version committed.
   */
  public static long appendToPostgres(
      HarnessCatalog catalog,
      TableIdentifier table,
      String sourceId,
      Dataset<Row> rows,
      String writeId) {
    HarnessStore store = catalog.store();
    var harnessTable = store.loadTable(table);
    try (MoveLocks locks =
        MoveLocks.acquire(store, table, "append-" + writeId, MoveLocks.DEFAULT_LEASE, sourceId)) {
      TableVersion version = store.readLatest(table);
      PendingMoves.refuseIfPending(version, sourceId, "append to");
      SourceDefinition source = version.source(sourceId);
      var connection = catalog.connection(table, source);
      String key = "append:" + table + ":" + sourceId + ":" + writeId;
      PostgresUpserts.Outcome outcome =
          PostgresUpserts.upsert(
              connection,
              source,
              SparkSchemas.toSpark(version.schema()),
              harnessTable.primaryKey(),
              harnessTable.orderingColumn().orElse(null),
              rows.withColumn(PostgresUpserts.SEQUENCE, monotonically_increasing_id()),
              key);
      SourceState.Jdbc recorded = (SourceState.Jdbc) version.state(sourceId);
      SourceState.Jdbc next = PostgresUpserts.stateCovering(connection, source, recorded);
      VersionInfo committed =
          locks
              .present(
                  store
                      .newTransaction(table)
                      .operation("append")
                      .idempotencyKey(key)
                      .setSourceState(sourceId, next)
                      .summary("source", sourceId)
                      .summary("rows", String.valueOf(outcome.stagedRows()))
                      .summary("inserted", String.valueOf(outcome.insertedRows()))
                      .summary("updated", String.valueOf(outcome.updatedRows())))
              .commit();
      LOG.info(
          "Appended {} rows to {} source '{}' (PostgreSQL, as of {}) as version {}",
          outcome.stagedRows(),
          table,
          sourceId,
          next.readTimestamp(),
          committed.version());
      return committed.version();
    }
  }
}
