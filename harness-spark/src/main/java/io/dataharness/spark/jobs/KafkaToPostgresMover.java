package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.row_number;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.spark.MetadataColumns;
import io.dataharness.spark.SparkSchemas;
import io.dataharness.spark.source.PostgresUpserts;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves a batch of rows from a Kafka source into a PostgreSQL source as upserts by the table's
 * primary key (the essay's medium example): a later image of a key (larger ordering column value,
 * then larger Kafka offset) replaces an earlier one.
 *
 * <ol>
 *   <li>lock both sources and read the latest version; pick the batch as {@link
 *       KafkaToIcebergMover} does;
 *   <li>keep the latest image per key within the batch, and upsert the batch in <b>one</b>
 *       PostgreSQL transaction ({@link PostgresUpserts}), which commits;
 *   <li>take a read timestamp that shows that transaction, then one harness commit: Kafka start
 *       advanced past the batch, the PostgreSQL read timestamp advanced, idempotency key from the
 *       offsets.
 * </ol>
 *
 * A crash before the harness commit leaves the batch in Kafka's range: the rerun moves the same
 * batch again, and re-applying the same upserts changes nothing, so no row is lost or duplicated.
 */
public final class KafkaToPostgresMover {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaToPostgresMover.class);

  private KafkaToPostgresMover() {}

  public static MoveResult move(SparkSession spark, HarnessCatalog catalog, MoveRequest request) {
    HarnessStore store = catalog.store();
    HarnessTable table = store.loadTable(request.table());
    if (table.primaryKey().isEmpty()) {
      throw new ValidationException(
          "Cannot move rows of %s from '%s' to '%s': moves into PostgreSQL upsert by primary key;"
              + " declare the table property primary-key (and ordering-column to decide which image"
              + " of a key is newer)",
          request.table(), request.source(), request.target());
    }
    try (MoveLocks locks = MoveLocks.forMove(store, request)) {
      TableVersion version = store.readLatest(request.table());
      PendingMoves.refuseIfPending(version, request.target(), "upsert into");
      MoveContext context = MoveContext.resolve(catalog, request, version, SourceKind.JDBC);
      KafkaBatch batch = context.planBatch();
      if (batch.isEmpty()) {
        return context.nothingToMove();
      }
      String key =
          batch.idempotencyKey("move", request.table(), request.source(), request.target());
      String description = context.describe(batch);
      LOG.info("Starting {}", description);
      spark.sparkContext().setJobDescription("DataHarness " + description);
      try {
        StructType schema = SparkSchemas.toSpark(version.schema());
        Dataset<Row> latest =
            latestPerKey(
                context.read(spark, batch),
                schema,
                table.primaryKey(),
                table.orderingColumn().orElse(null));
        CrashPoints.reach(CrashPoints.BEFORE_TARGET_WRITE);
        PostgresUpserts.Outcome outcome =
            PostgresUpserts.upsert(
                context.targetConnection(),
                context.target(),
                schema,
                table.primaryKey(),
                table.orderingColumn().orElse(null),
                latest,
                key);
        CrashPoints.reach(CrashPoints.AFTER_TARGET_WRITE);
        SourceState.Jdbc recorded = (SourceState.Jdbc) version.state(request.target());
        SourceState.Jdbc next =
            PostgresUpserts.stateCovering(context.targetConnection(), context.target(), recorded);
        Map<String, String> summary =
            KafkaToIcebergMover.summary(request, batch, outcome.stagedRows(), -1);
        summary.put("inserted", String.valueOf(outcome.insertedRows()));
        summary.put("updated", String.valueOf(outcome.updatedRows()));
        var transaction =
            store
                .newTransaction(request.table())
                .operation("move")
                .idempotencyKey(key)
                .setSourceState(request.source(), batch.advance(context.sourceState()))
                .setSourceState(request.target(), next)
                .externalIds(request.source(), Map.of("offsets", batch.describe()))
                .externalIds(
                    request.target(), Map.of("read-timestamp", next.readTimestamp().toString()));
        summary.forEach(transaction::summary);
        VersionInfo committed = locks.present(transaction).commit();
        boolean replayed = committed.version() <= version.version();
        CrashPoints.reach(CrashPoints.AFTER_HARNESS_COMMIT);
        LOG.info(
            "Committed version {} of {}: upserted {} rows ({} inserted, {} updated) from '{}'"
                + " offsets {} into '{}' as of {}",
            committed.version(),
            request.table(),
            outcome.stagedRows(),
            outcome.insertedRows(),
            outcome.updatedRows(),
            request.source(),
            batch.describe(),
            request.target(),
            next.readTimestamp());
        return new MoveResult(committed.version(), outcome.stagedRows(), replayed, summary);
      } finally {
        spark.sparkContext().setJobDescription(null);
      }
    }
  }

  /**
   * The latest image per primary key: larger ordering value first (nulls last), then the later
   * Kafka message. Adds {@link PostgresUpserts#SEQUENCE} for the merge's tie-break.
   */
  static Dataset<Row> latestPerKey(
      Dataset<Row> rows, StructType schema, List<String> primaryKey, String orderingColumn) {
    List<Column> order = new ArrayList<>();
    if (orderingColumn != null) {
      order.add(col("`" + orderingColumn + "`").desc_nulls_last());
    }
    order.add(col(MetadataColumns.KAFKA_OFFSET).desc());
    var window =
        Window.partitionBy(primaryKey.stream().map(k -> col("`" + k + "`")).toArray(Column[]::new))
            .orderBy(order.toArray(Column[]::new));
    List<Column> output = new ArrayList<>();
    for (String field : schema.fieldNames()) {
      output.add(col("`" + field + "`"));
    }
    output.add(col(MetadataColumns.KAFKA_OFFSET).as(PostgresUpserts.SEQUENCE));
    return rows.withColumn("harness_rank", row_number().over(window))
        .filter(col("harness_rank").equalTo(1))
        .select(output.toArray(Column[]::new));
  }
}
