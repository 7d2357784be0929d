package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.row_number;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.spark.MetadataColumns;
import io.dataharness.spark.SparkSchemas;
import io.dataharness.spark.source.PostgresUpserts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
 *       KafkaToIcebergMover} does, up to the live end of the topic;
 *   <li>commit a {@code move-intent} version that records the batch as a pending upsert ({@link
 *       PendingUpserts}): from now on no sync, append or other move advances the PostgreSQL source
 *       or moves these offsets elsewhere;
 *   <li>keep the latest image per key within the batch, and upsert the batch in <b>one</b>
 *       PostgreSQL transaction ({@link PostgresUpserts}), which commits;
 *   <li>take a read timestamp that shows that transaction, then one harness commit: Kafka start
 *       advanced past the batch (end: the live end read), the PostgreSQL read timestamp advanced,
 *       the pending upsert removed, idempotency key from the offsets.
 * </ol>
 *
 * A crash after the intent leaves the batch in Kafka's range and the PostgreSQL read timestamp
 * where it was, whatever runs meanwhile: the rerun completes exactly the recorded batch (same
 * offsets, same key), and re-applying the same upserts changes nothing, so no version shows a row
 * twice and none is lost.
 */
public final class KafkaToPostgresMover {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaToPostgresMover.class);

  /** How long to wait for older PostgreSQL transactions before the read timestamp can advance. */
  static final Duration READ_TIMESTAMP_TIMEOUT = Duration.ofSeconds(60);

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
      Optional<PendingUpserts.PendingUpsert> pending =
          PendingUpserts.into(version, request.target());
      if (pending.isPresent() && !pending.get().source().equals(request.source())) {
        PendingUpserts.refuseIfPending(version, request.target(), "upsert into");
      }
      if (pending.isEmpty()) {
        PendingMoves.refuseIfPending(version, request.target(), "upsert into");
      }
      MoveContext context = MoveContext.resolve(catalog, request, version, SourceKind.JDBC);
      KafkaBatch batch;
      String key;
      if (pending.isPresent()) {
        batch = pending.get().batch();
        key = pending.get().idempotencyKey();
        checkStillPending(version, context, pending.get());
        LOG.info(
            "Completing the upsert of {} from '{}' offsets {} into '{}' recorded as pending at"
                + " version {}",
            request.table(),
            request.source(),
            batch.describe(),
            request.target(),
            pending.get().baseVersion());
      } else {
        batch = context.planBatch();
        if (batch.isEmpty()) {
          return context.nothingToMove();
        }
        key = batch.idempotencyKey("move", request.table(), request.source(), request.target());
      }
      // validated before any side effect: the store rejects a malformed key
      Transaction transaction =
          store.newTransaction(request.table()).operation("move").idempotencyKey(key);
      String description = context.describe(batch);
      LOG.info("Starting {}", description);
      spark.sparkContext().setJobDescription("DataHarness " + description);
      try {
        if (pending.isEmpty()) {
          recordIntent(store, locks, context, batch, key);
        }
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
            new SourceState.Jdbc(
                PostgresUpserts.readTimestampCovering(
                    context.targetConnection(), recorded.readTimestamp(), READ_TIMESTAMP_TIMEOUT));
        Map<String, String> summary =
            KafkaToIcebergMover.summary(request, batch, outcome.stagedRows(), -1);
        summary.put("inserted", String.valueOf(outcome.insertedRows()));
        summary.put("updated", String.valueOf(outcome.updatedRows()));
        transaction
            .setSourceState(request.source(), batch.advance(context.sourceState()))
            .setSourceState(request.target(), next)
            .setExternalState(PendingUpserts.key(request.target()), null)
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
   * Commits a version that records the batch as a pending upsert before any row reaches PostgreSQL
   * (a write-ahead intent; see {@link PendingUpserts}).
   */
  private static void recordIntent(
      HarnessStore store, MoveLocks locks, MoveContext context, KafkaBatch batch, String key) {
    MoveRequest request = context.request();
    PendingUpserts.PendingUpsert intent =
        new PendingUpserts.PendingUpsert(
            request.source(),
            request.target(),
            context.version().version(),
            batch,
            key,
            request.owner(),
            context.catalog().name());
    Transaction transaction =
        store
            .newTransaction(request.table())
            .operation("move-intent")
            .idempotencyKey("intent:" + key)
            // unchanged states, so that the commit checks (and needs) the locks of both sources
            .setSourceState(request.source(), context.version().state(request.source()))
            .setSourceState(request.target(), context.version().state(request.target()))
            .setExternalState(intent.key(), intent.toJson())
            .summary("source", request.source())
            .summary("target", request.target())
            .summary("ranges", batch.describe())
            .summary("pending-upsert", intent.key());
    VersionInfo recorded = locks.present(transaction).commit();
    LOG.info(
        "Recorded the upsert of {} from '{}' offsets {} into '{}' as pending in version {}",
        request.table(),
        request.source(),
        batch.describe(),
        request.target(),
        recorded.version());
  }

  /**
   * Fails if the Kafka source no longer starts where the pending batch starts: a writer that did
   * not check for the pending upsert moved those offsets; completing it would duplicate rows.
   */
  private static void checkStillPending(
      TableVersion version, MoveContext context, PendingUpserts.PendingUpsert pending) {
    for (var range : pending.batch().ranges().entrySet()) {
      SourceState.OffsetRange now = context.sourceState().partition(range.getKey());
      if (now == null
          || now.start() != range.getValue().start()
          || now.end() < range.getValue().end()) {
        throw new HarnessException(
            "Cannot complete the pending upsert of %s from '%s' offsets %s into '%s' (recorded at"
                + " version %d): at version %d source '%s' partition %d holds %s instead; another"
                + " writer changed it without completing the upsert. Check that the rows of the"
                + " batch are in PostgreSQL or Kafka exactly once, then commit"
                + " setExternalState(\"%s\", null) to abandon it",
            version.table(),
            pending.source(),
            pending.batch().describe(),
            pending.target(),
            pending.baseVersion(),
            version.version(),
            pending.source(),
            range.getKey(),
            now == null ? "nothing" : "[" + now.start() + "," + now.end() + ")",
            pending.key());
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
