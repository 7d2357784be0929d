package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.row_number;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.MetadataColumns;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.source.PostgresUpserts;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
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
 * primary key (the essay's medium example), as a {@link Writer} of the {@link WriteProtocol}: a
 * later image of a key (larger ordering column value, then larger Kafka offset) replaces an earlier
 * one.
 *
 * <ul>
 *   <li>plan: the batch as {@link KafkaToIcebergMover} picks it, up to the live end of the topic;
 *   <li>intent: the upsert is visible in PostgreSQL before the harness commit, so the protocol
 *       records a write-ahead intent with the batch's exact offsets first; while it is open the
 *       store refuses every other writer's commit to both sources (no sync advances the read
 *       timestamp over the upserted rows, no other move takes the offsets);
 *   <li>stage: keep the latest image per key within the batch, upsert it in <b>one</b> PostgreSQL
 *       transaction ({@link PostgresUpserts}), then take a read timestamp that shows it;
 *   <li>record: Kafka start advanced past the batch (end: the live end read), the read timestamp
 *       advanced, the intent completed.
 * </ul>
 *
 * A crash after the intent leaves the batch in Kafka's range and the read timestamp where it was;
 * the rerun completes exactly the recorded batch (same offsets, same key). If the first attempt's
 * merge committed, the rerun does not apply it again (the merge recorded its idempotency key in
 * PostgreSQL's moves table in its own transaction): rows the application deleted or changed since
 * stay as the application left them. So no version shows a row twice, none is lost, and none comes
 * back.
 */
public final class KafkaToPostgresMover {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaToPostgresMover.class);

  /** The intent payload's {@code kind}: only this mover resumes such an intent. */
  static final String INTENT_KIND = "kafka-to-jdbc";

  private static final ObjectMapper JSON = new ObjectMapper();

  private KafkaToPostgresMover() {}

  public static MoveResult move(SparkSession spark, HarnessContext catalog, MoveRequest request) {
    HarnessTable table = catalog.store().loadTable(request.table());
    if (table.primaryKey().isEmpty()) {
      throw new ValidationException(
          "Cannot move rows of %s from '%s' to '%s': moves into PostgreSQL upsert by primary key;"
              + " declare the table property primary-key (and ordering-column to decide which image"
              + " of a key is newer)",
          request.table(), request.source(), request.target());
    }
    UpsertWriter writer = new UpsertWriter(spark, catalog, request, table);
    JobDescriptions.Scope jobs = JobDescriptions.startMove(spark, request);
    try {
      WriteOutcome<KafkaMoveWriter.Batch, Staged> outcome =
          new WriteProtocol(catalog.store(), request.table()).run(request.owner(), writer);
      if (outcome.wroteNothing()) {
        TableVersion latest = catalog.store().readLatest(request.table());
        LOG.info(
            "Nothing to move in {} from '{}' to '{}' at version {}",
            request.table(),
            request.source(),
            request.target(),
            latest.version());
        return MoveResult.nothing(latest.version());
      }
      Staged staged = outcome.staged().get();
      return new MoveResult(
          outcome.version(),
          staged.outcome().stagedRows(),
          outcome.replayed(),
          summary(request, outcome.batch().get().kafka(), staged));
    } finally {
      jobs.close();
    }
  }

  private static Map<String, String> summary(MoveRequest request, KafkaBatch batch, Staged staged) {
    Map<String, String> summary =
        KafkaToIcebergMover.summary(request, batch, staged.outcome().stagedRows(), -1);
    summary.put("inserted", String.valueOf(staged.outcome().insertedRows()));
    summary.put("updated", String.valueOf(staged.outcome().updatedRows()));
    return summary;
  }

  /** What the upsert did, and the read timestamp that shows it. */
  record Staged(PostgresUpserts.Outcome outcome, SourceState.Jdbc next) {}

  private static final class UpsertWriter extends KafkaMoveWriter<Staged> {
    private final HarnessTable table;

    UpsertWriter(
        SparkSession spark, HarnessContext catalog, MoveRequest request, HarnessTable table) {
      super(spark, catalog, request, SourceKind.JDBC);
      this.table = table;
    }

    @Override
    public Optional<Batch> plan(TableVersion latest) {
      PendingMoves.refuseIfPending(latest, request.target(), "upsert into");
      Optional<Batch> batch = super.plan(latest);
      if (batch.isPresent()) {
        // a PostgreSQL that is down fails the move here, before its intent is a version
        PostgresSources.checkReachable(batch.get().context().targetConnection());
      }
      return batch;
    }

    @Override
    public Optional<String> intentPayload(Batch batch) {
      ObjectNode node = JSON.createObjectNode();
      node.put("kind", INTENT_KIND);
      node.put("source", request.source());
      node.put("target", request.target());
      node.put("base-version", batch.context().version().version());
      node.put("offsets", batch.kafka().describe());
      node.put("idempotency-key", idempotencyKey(batch));
      node.put("catalog", catalog.name());
      return Optional.of(node.toString());
    }

    @Override
    public boolean canResume(Intent intent) {
      if (!super.canResume(intent)) {
        return false;
      }
      JsonNode payload = payload(intent);
      return INTENT_KIND.equals(payload.path("kind").asText())
          && request.source().equals(payload.path("source").asText())
          && request.target().equals(payload.path("target").asText());
    }

    @Override
    public Batch resume(Intent intent, TableVersion latest) {
      MoveContext context = resolve(latest);
      KafkaBatch kafka = KafkaBatch.parse(payload(intent).path("offsets").asText());
      for (var range : kafka.ranges().entrySet()) {
        SourceState.OffsetRange now = context.sourceState().partition(range.getKey());
        if (now == null || now.start() != range.getValue().start()) {
          throw new HarnessException(
              "Cannot complete the upsert of %s from '%s' offsets %s into '%s' recorded by intent"
                  + " '%s' at version %d: at version %d partition %d of '%s' starts at %s instead;"
                  + " check that the batch's rows are in PostgreSQL or Kafka exactly once, then"
                  + " complete the intent with a commit that calls completeIntent(\"%s\")",
              request.table(),
              request.source(),
              kafka.describe(),
              request.target(),
              intent.id(),
              intent.openedVersion(),
              latest.version(),
              range.getKey(),
              request.source(),
              now == null ? "nothing" : String.valueOf(now.start()),
              intent.id());
        }
      }
      return new Batch(context, kafka);
    }

    private JsonNode payload(Intent intent) {
      try {
        return JSON.readTree(intent.payload());
      } catch (JsonProcessingException e) {
        throw new HarnessException(
            "Cannot read intent '%s' of %s: its payload is not JSON (%s): %s",
            intent.id(), request.table(), e.getMessage(), intent.payload());
      }
    }

    @Override
    public Staged stage(Batch batch, LeaseKeeper locks) {
      describeJobs(batch, "upserting into PostgreSQL");
      MoveContext context = batch.context();
      PostgresSources.ensureMoveSupport(
          context.targetConnection(), context.target(), context.version().schema());
      StructType schema = SparkSchemas.toSpark(context.version().schema());
      Dataset<Row> latest =
          latestPerKey(
              context.read(spark, batch.kafka()),
              schema,
              table.primaryKey(),
              table.orderingColumn().orElse(null));
      PostgresUpserts.Outcome outcome =
          PostgresUpserts.upsert(
              context.targetConnection(),
              context.target(),
              schema,
              table.primaryKey(),
              table.orderingColumn().orElse(null),
              latest,
              idempotencyKey(batch));
      SourceState.Jdbc recorded = (SourceState.Jdbc) context.version().state(request.target());
      SourceState.Jdbc next =
          PostgresUpserts.stateCovering(context.targetConnection(), context.target(), recorded);
      return new Staged(outcome, next);
    }

    @Override
    public void record(Transaction transaction, Batch batch, Staged staged) {
      recordKafka(transaction, batch);
      transaction
          .setSourceState(request.target(), staged.next())
          .externalIds(
              request.target(), Map.of("read-timestamp", staged.next().readTimestamp().toString()));
      summary(request, batch.kafka(), staged).forEach(transaction::summary);
    }

    @Override
    public void publish(Batch batch, Staged staged, VersionInfo committed) {
      LOG.info(
          "Committed version {} of {}: upserted {} rows ({} inserted, {} updated) from '{}'"
              + " offsets {} into '{}' as of {}",
          committed.version(),
          request.table(),
          staged.outcome().stagedRows(),
          staged.outcome().insertedRows(),
          staged.outcome().updatedRows(),
          request.source(),
          batch.kafka().describe(),
          request.target(),
          staged.next().readTimestamp());
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
