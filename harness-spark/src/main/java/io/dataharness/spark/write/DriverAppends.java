package io.dataharness.spark.write;

import static org.apache.spark.sql.functions.monotonically_increasing_id;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.source.PostgresUpserts;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Appends through the harness to an Iceberg or PostgreSQL write source, run on the driver with the
 * whole DataFrame, as {@link Writer}s of the {@link WriteProtocol}:
 *
 * <ul>
 *   <li>Iceberg: the rows are staged on a branch (invisible until the commit, so no intent), the
 *       commit records the snapshot, publishing fast-forwards {@code main} and tags it;
 *   <li>PostgreSQL: an intent is recorded first (the upserted rows are visible to a later version
 *       that advances the source), then one upsert transaction, then the commit. An append
 *       interrupted after its upsert is rolled forward by the next append to the source: its rows
 *       are committed in PostgreSQL, so the next append records them before writing its own.
 * </ul>
 */
public final class DriverAppends {
  private static final Logger LOG = LoggerFactory.getLogger(DriverAppends.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private DriverAppends() {}

  /** Appends rows (harness columns) to an Iceberg source; returns the version committed. */
  public static long appendToIceberg(
      HarnessContext catalog,
      TableIdentifier table,
      String sourceId,
      Dataset<Row> rows,
      String writeId) {
    IcebergAppend writer = new IcebergAppend(catalog, table, sourceId, rows, writeId);
    WriteOutcome<String, IcebergStaging.Staged> outcome =
        new WriteProtocol(catalog.store(), table).run("append-" + writeId, writer);
    IcebergStaging.Staged staged = outcome.staged().orElseThrow();
    LOG.info(
        "Appended {} rows to {} source '{}' (Iceberg snapshot {}) as version {}",
        staged.addedRows(),
        table,
        sourceId,
        staged.snapshotId(),
        outcome.version());
    return outcome.version();
  }

  /**
   * Appends rows (harness columns) to a PostgreSQL source: upserts by the primary key when the
   * table has one, plain inserts otherwise; returns the version committed.
   */
  public static long appendToPostgres(
      HarnessContext catalog,
      TableIdentifier table,
      String sourceId,
      Dataset<Row> rows,
      String writeId) {
    PostgresAppend writer = new PostgresAppend(catalog, table, sourceId, rows, writeId);
    WriteOutcome<PostgresBatch, PostgresUpserts.Outcome> outcome =
        new WriteProtocol(catalog.store(), table).run("append-" + writeId, writer);
    LOG.info(
        "Appended {} rows to {} source '{}' (PostgreSQL) as version {}",
        outcome.staged().map(PostgresUpserts.Outcome::stagedRows).orElse(0L),
        table,
        sourceId,
        outcome.version());
    return outcome.version();
  }

  /** What the appends have in common: one source, one key per write. */
  private abstract static class Append<B, S> implements Writer<B, S> {
    final HarnessContext catalog;
    final TableIdentifier table;
    final String sourceId;
    final Dataset<Row> rows;
    final String key;

    Append(
        HarnessContext catalog,
        TableIdentifier table,
        String sourceId,
        Dataset<Row> rows,
        String writeId) {
      this.catalog = catalog;
      this.table = table;
      this.sourceId = sourceId;
      this.rows = rows;
      this.key = IdempotencyKeys.of("append", table.toString(), sourceId, writeId);
    }

    @Override
    public String operation() {
      return "append";
    }

    @Override
    public List<String> sources() {
      return List.of(sourceId);
    }
  }

  private static final class IcebergAppend extends Append<String, IcebergStaging.Staged> {
    private TableVersion version;
    private IcebergStaging staging;

    IcebergAppend(
        HarnessContext catalog,
        TableIdentifier table,
        String sourceId,
        Dataset<Row> rows,
        String writeId) {
      super(catalog, table, sourceId, rows, writeId);
    }

    @Override
    public Optional<String> plan(TableVersion latest) {
      version = latest;
      SourceDefinition source = latest.source(sourceId);
      SparkSession spark = rows.sparkSession();
      staging = IcebergStaging.open(spark, catalog.connection(table, source), source);
      staging.ensurePublished(recorded(), table, latest.version());
      return Optional.of(key);
    }

    private SourceState.Iceberg recorded() {
      return (SourceState.Iceberg) version.state(sourceId);
    }

    @Override
    public String idempotencyKey(String batch) {
      return batch;
    }

    @Override
    public Optional<String> intentPayload(String batch) {
      return Optional.empty();
    }

    @Override
    public String resume(Intent intent, TableVersion latest) {
      throw new IllegalStateException("Iceberg appends record no intents: " + intent);
    }

    @Override
    public IcebergStaging.Staged stage(String batch, LeaseKeeper locks) {
      String stageKey = batch + "#" + locks.lock(sourceId).fencingToken();
      staging.removeAbandonedStages(recorded(), stageKey);
      return staging.stage(rows, SparkSchemas.toSpark(version.schema()), recorded(), stageKey);
    }

    @Override
    public void record(Transaction transaction, String batch, IcebergStaging.Staged staged) {
      transaction
          .setSourceState(sourceId, SourceState.Iceberg.of(staged.snapshotId()))
          .externalIds(sourceId, Map.of("snapshot-id", String.valueOf(staged.snapshotId())))
          .summary("source", sourceId)
          .summary("rows", String.valueOf(staged.addedRows()));
    }

    @Override
    public void publish(String batch, IcebergStaging.Staged staged, VersionInfo committed) {
      staging.publish(staged.snapshotId(), IcebergStaging.tagName(table, committed.version()));
    }

    @Override
    public String describe(String batch) {
      return "append to " + table + " iceberg source '" + sourceId + "'";
    }
  }

  /**
   * A PostgreSQL append: the rows to upsert (absent when completing an interrupted append, whose
   * rows are already committed in PostgreSQL) and the version it started from.
   */
  record PostgresBatch(String key, Optional<Dataset<Row>> rows, TableVersion version) {}

  private static final class PostgresAppend extends Append<PostgresBatch, PostgresUpserts.Outcome> {
    PostgresAppend(
        HarnessContext catalog,
        TableIdentifier table,
        String sourceId,
        Dataset<Row> rows,
        String writeId) {
      super(catalog, table, sourceId, rows, writeId);
    }

    @Override
    public Optional<PostgresBatch> plan(TableVersion latest) {
      return Optional.of(new PostgresBatch(key, Optional.of(rows), latest));
    }

    @Override
    public String idempotencyKey(PostgresBatch batch) {
      return batch.key();
    }

    @Override
    public Optional<String> intentPayload(PostgresBatch batch) {
      return Optional.of(
          JSON.createObjectNode()
              .put("append", batch.key())
              .put("source", sourceId)
              .put("base-version", batch.version().version())
              .toString());
    }

    @Override
    public boolean continuesAfterResume() {
      return true;
    }

    @Override
    public PostgresBatch resume(Intent intent, TableVersion latest) {
      String interruptedKey;
      try {
        interruptedKey = JSON.readTree(intent.payload()).path("append").asText();
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new HarnessException(
            e,
            "Cannot complete the interrupted append %s to %s: its payload is not JSON: %s",
            intent.describe(),
            table,
            intent.payload());
      }
      return new PostgresBatch(interruptedKey, Optional.empty(), latest);
    }

    @Override
    public PostgresUpserts.Outcome stage(PostgresBatch batch, LeaseKeeper locks) {
      if (batch.rows().isEmpty()) {
        return new PostgresUpserts.Outcome(0, 0, 0); // committed by the interrupted append
      }
      var harnessTable = catalog.store().loadTable(table);
      SourceDefinition source = batch.version().source(sourceId);
      return PostgresUpserts.upsert(
          catalog.connection(table, source),
          source,
          SparkSchemas.toSpark(batch.version().schema()),
          harnessTable.primaryKey(),
          harnessTable.orderingColumn().orElse(null),
          batch.rows().get().withColumn(PostgresUpserts.SEQUENCE, monotonically_increasing_id()),
          batch.key());
    }

    @Override
    public void record(
        Transaction transaction, PostgresBatch batch, PostgresUpserts.Outcome outcome) {
      SourceDefinition source = batch.version().source(sourceId);
      SourceState.Jdbc recorded = (SourceState.Jdbc) batch.version().state(sourceId);
      SourceState.Jdbc next;
      try {
        next = PostgresUpserts.stateCovering(catalog.connection(table, source), source, recorded);
      } catch (RuntimeException e) {
        throw new HarnessException(
            e,
            "Cannot append to %s source '%s': the rows are written but no read timestamp could be"
                + " recorded (%s); the next append to the source records them",
            table,
            sourceId,
            e.getMessage());
      }
      transaction
          .setSourceState(sourceId, next)
          .summary("source", sourceId)
          .summary("rows", String.valueOf(outcome.stagedRows()))
          .summary("inserted", String.valueOf(outcome.insertedRows()))
          .summary("updated", String.valueOf(outcome.updatedRows()));
    }

    @Override
    public void publish(
        PostgresBatch batch, PostgresUpserts.Outcome staged, VersionInfo committed) {
      // PostgreSQL rows are visible at the recorded read timestamp: nothing to publish
    }

    @Override
    public String describe(PostgresBatch batch) {
      return "append to "
          + table
          + " jdbc source '"
          + sourceId
          + "'"
          + (batch.rows().isEmpty() ? " (completing an interrupted append)" : "");
    }
  }
}
