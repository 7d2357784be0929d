package io.dataharness.spark.write;

import static org.apache.spark.sql.functions.monotonically_increasing_id;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessTable;
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
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.source.PostgresUpserts;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Appends through the harness to a write source, run on the driver with the whole DataFrame, as
 * {@link Writer}s of the {@link WriteProtocol}:
 *
 * <ul>
 *   <li>Kafka: an intent is recorded first (produced messages are readable by a later version that
 *       records the topic's end), then the rows are produced in one Kafka transaction, then the
 *       commit records their offsets; see {@link KafkaAppend};
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
    WriteOutcome<AppendBatch, PostgresUpserts.Outcome> outcome =
        new WriteProtocol(catalog.store(), table).run("append-" + writeId, writer);
    LOG.info(
        "Appended {} rows to {} source '{}' (PostgreSQL) as version {}",
        outcome.staged().map(PostgresUpserts.Outcome::stagedRows).orElse(0L),
        table,
        sourceId,
        outcome.version());
    return outcome.version();
  }

  /**
   * Write option: how long (milliseconds) an append to a Kafka source waits for transactions of
   * other producers that are open before its messages, so that its version can record them.
   */
  static final String STABLE_OFFSET_TIMEOUT_OPTION = "stable-offset-timeout-ms";

  /** Kafka's default producer transaction timeout: an abandoned transaction ends by then. */
  static final long STABLE_OFFSET_TIMEOUT_DEFAULT = 60_000;

  /** How long an append waits for the lock of its source (a mover, another append). */
  static final java.time.Duration LOCK_WAIT = java.time.Duration.ofMinutes(2);

  /**
   * Appends rows (harness columns) to a Kafka source: produced in Kafka transactions, one per Spark
   * partition ({@link KafkaProducing}); returns the version committed.
   *
   * @param stableOffsetTimeoutMillis how long to wait for other producers' open transactions before
   *     the appended messages (see {@link #STABLE_OFFSET_TIMEOUT_OPTION})
   */
  public static long appendToKafka(
      HarnessContext catalog,
      TableIdentifier table,
      String sourceId,
      Dataset<Row> rows,
      String writeId,
      long stableOffsetTimeoutMillis) {
    KafkaAppend writer =
        new KafkaAppend(catalog, table, sourceId, rows, writeId, stableOffsetTimeoutMillis);
    WriteOutcome<AppendBatch, KafkaProducing.Produced> outcome =
        new WriteProtocol(catalog.store(), table).run("append-" + writeId, writer);
    LOG.info(
        "Appended {} rows to {} source '{}' (Kafka ends {}) as version {}",
        outcome.staged().map(KafkaProducing.Produced::rows).orElse(0L),
        table,
        sourceId,
        outcome.staged().map(KafkaProducing.Produced::ends).orElse(Map.of()),
        outcome.version());
    return outcome.version();
  }

  /**
   * The writer of an append of {@code rows} to one source of kind {@code source.kind()}, for a
   * routed append that writes several sources in one version ({@link RoutedAppends}).
   */
  static Writer<?, ?> writer(
      HarnessContext catalog,
      TableIdentifier table,
      SourceDefinition source,
      Dataset<Row> rows,
      String writeId,
      long stableOffsetTimeoutMillis) {
    return switch (source.kind()) {
      case KAFKA ->
          new KafkaAppend(catalog, table, source.id(), rows, writeId, stableOffsetTimeoutMillis);
      case ICEBERG -> new IcebergAppend(catalog, table, source.id(), rows, writeId);
      default -> new PostgresAppend(catalog, table, source.id(), rows, writeId);
    };
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
      return WriteProtocol.APPEND;
    }

    @Override
    public List<String> sources() {
      return List.of(sourceId);
    }

    /** A user waits for an append: it waits for a mover or another append on its source. */
    @Override
    public java.time.Duration lockWait() {
      return LOCK_WAIT;
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
      staging =
          IcebergStaging.open(
              spark, catalog.connection(table, source), source, catalog.store().loadTable(table));
      staging.ensurePublished(recorded(), latest.version());
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
      staging.publish(staged.snapshotId(), committed.version());
    }

    @Override
    public String describe(String batch) {
      return "append to " + table + " iceberg source '" + sourceId + "'";
    }
  }

  /**
   * An append whose writes a later version could expose (PostgreSQL, Kafka): its key, the rows to
   * write (absent when completing an interrupted append, whose writes are already committed) and
   * the version it started from.
   */
  record AppendBatch(String key, Optional<Dataset<Row>> rows, TableVersion version) {}

  /**
   * An append that records an intent before writing and completes an interrupted append to its
   * source (rolling it forward) before writing its own rows.
   */
  private abstract static class IntentAppend<S> extends Append<AppendBatch, S> {
    IntentAppend(
        HarnessContext catalog,
        TableIdentifier table,
        String sourceId,
        Dataset<Row> rows,
        String writeId) {
      super(catalog, table, sourceId, rows, writeId);
    }

    /** The intent of an append whose writes a later version could expose before its commit. */
    String appendIntent(String batchKey, TableVersion version) {
      return JSON.createObjectNode()
          .put("append", batchKey)
          .put("source", sourceId)
          .put("base-version", version.version())
          .toString();
    }

    /** The key of the interrupted append that recorded {@code intent}. */
    String interruptedKey(Intent intent) {
      try {
        return JSON.readTree(intent.payload()).path("append").asText();
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new HarnessException(
            e,
            "Cannot complete the interrupted append %s to %s: its payload is not JSON: %s",
            intent.describe(),
            table,
            intent.payload());
      }
    }

    /** An append completes an interrupted append to its source, then writes its own rows. */
    @Override
    public boolean continuesAfterResume() {
      return true;
    }

    @Override
    public Optional<AppendBatch> plan(TableVersion latest) {
      return Optional.of(new AppendBatch(key, Optional.of(rows), latest));
    }

    @Override
    public String idempotencyKey(AppendBatch batch) {
      return batch.key();
    }

    @Override
    public Optional<String> intentPayload(AppendBatch batch) {
      return Optional.of(appendIntent(batch.key(), batch.version()));
    }

    @Override
    public AppendBatch resume(Intent intent, TableVersion latest) {
      return new AppendBatch(interruptedKey(intent), Optional.empty(), latest);
    }

    @Override
    public String describe(AppendBatch batch) {
      return "append to "
          + table
          + " "
          + batch.version().source(sourceId).kind().id()
          + " source '"
          + sourceId
          + "'"
          + (batch.rows().isEmpty() ? " (completing an interrupted append)" : "");
    }
  }

  private static final class PostgresAppend extends IntentAppend<PostgresUpserts.Outcome> {
    PostgresAppend(
        HarnessContext catalog,
        TableIdentifier table,
        String sourceId,
        Dataset<Row> rows,
        String writeId) {
      super(catalog, table, sourceId, rows, writeId);
    }

    @Override
    public Optional<AppendBatch> plan(TableVersion latest) {
      // a PostgreSQL that is down fails the append here, before its intent is a version
      PostgresSources.checkReachable(catalog.connection(table, latest.source(sourceId)));
      return super.plan(latest);
    }

    @Override
    public PostgresUpserts.Outcome stage(AppendBatch batch, LeaseKeeper locks) {
      if (batch.rows().isEmpty()) {
        return new PostgresUpserts.Outcome(0, 0, 0); // committed by the interrupted append
      }
      var harnessTable = catalog.store().loadTable(table);
      SourceDefinition source = batch.version().source(sourceId);
      PostgresSources.ensureMoveSupport(
          catalog.connection(table, source), source, batch.version().schema());
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
        Transaction transaction, AppendBatch batch, PostgresUpserts.Outcome outcome) {
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
    public void publish(AppendBatch batch, PostgresUpserts.Outcome staged, VersionInfo committed) {
      // PostgreSQL rows are visible at the recorded read timestamp: nothing to publish
    }
  }

  /**
   * An append to a Kafka source. Produced messages are readable by a later version that records the
   * topic's end (a sync, a move), so an intent is recorded before producing; while it is open no
   * other writer advances the source. The rows are produced in one Kafka transaction ({@link
   * KafkaProducing}): all or nothing. The commit records, per partition, the end past every message
   * produced, but never past the last stable offset (messages behind a transaction still open are
   * not readable yet): it waits up to the stable offset timeout for other producers' transactions,
   * and what is still behind one then becomes part of the table at the next sync. The intent of an
   * append killed after its transaction committed is completed by the next writer that locks the
   * source, and its messages become part of the table with the next state recorded for it.
   */
  private static final class KafkaAppend extends IntentAppend<KafkaProducing.Produced> {
    private final long stableOffsetTimeoutMillis;

    KafkaAppend(
        HarnessContext catalog,
        TableIdentifier table,
        String sourceId,
        Dataset<Row> rows,
        String writeId,
        long stableOffsetTimeoutMillis) {
      super(catalog, table, sourceId, rows, writeId);
      this.stableOffsetTimeoutMillis = stableOffsetTimeoutMillis;
    }

    private List<Integer> partitions(TableVersion version) {
      List<Integer> partitions =
          new ArrayList<>(((SourceState.Kafka) version.state(sourceId)).partitions().keySet());
      if (partitions.isEmpty()) {
        throw new HarnessException(
            "Cannot append to %s: its write source '%s' covers no Kafka partition",
            table, sourceId);
      }
      return partitions;
    }

    @Override
    public Optional<AppendBatch> plan(TableVersion latest) {
      // a broker that is down fails the append here, before its intent is a version
      SourceDefinition source = latest.source(sourceId);
      KafkaSources.endOffsets(
          catalog.connection(table, source), KafkaSources.topic(source), partitions(latest));
      return super.plan(latest);
    }

    @Override
    public KafkaProducing.Produced stage(AppendBatch batch, LeaseKeeper locks) {
      if (batch.rows().isEmpty()) {
        return KafkaProducing.Produced.none(); // the interrupted append's messages are in Kafka
      }
      SourceDefinition source = batch.version().source(sourceId);
      HarnessTable harness = catalog.store().loadTable(table);
      return KafkaProducing.produce(
          batch.rows().get(),
          catalog.connection(table, source),
          source,
          harness.primaryKey(),
          partitions(batch.version()),
          // by uuid, which a rename keeps: the next append fences a killed one's transaction
          "dataharness-append-" + harness.uuid() + "-" + sourceId);
    }

    @Override
    public void record(
        Transaction transaction, AppendBatch batch, KafkaProducing.Produced produced) {
      SourceDefinition source = batch.version().source(sourceId);
      SourceState.Kafka state = (SourceState.Kafka) batch.version().state(sourceId);
      // completing an interrupted append: everything its tasks committed, up to the stable end
      Map<Integer, Long> wanted = new TreeMap<>(produced.ends());
      if (batch.rows().isEmpty()) {
        partitions(batch.version()).forEach(partition -> wanted.put(partition, Long.MAX_VALUE));
      }
      Map<Integer, Long> stable = stableEnds(source, wanted);
      SourceState.Kafka next = state;
      for (Map.Entry<Integer, Long> end : wanted.entrySet()) {
        SourceState.OffsetRange range = state.partition(end.getKey());
        long start = range == null ? 0 : range.start();
        long before = range == null ? 0 : range.end();
        long recordable = Math.min(end.getValue(), stable.get(end.getKey()));
        next =
            next.with(
                end.getKey(), new SourceState.OffsetRange(start, Math.max(before, recordable)));
      }
      transaction
          .setSourceState(sourceId, next)
          .externalIds(
              sourceId,
              Map.of("produced-ends", produced.ends().toString(), "stable-ends", stable.toString()))
          .summary("source", sourceId)
          .summary("rows", String.valueOf(produced.rows()));
    }

    /**
     * The last stable offsets of {@code wanted}'s partitions, once they reach the wanted ends or
     * the stable offset timeout passed (then with a warning naming what waits).
     */
    private Map<Integer, Long> stableEnds(SourceDefinition source, Map<Integer, Long> wanted) {
      long deadline = System.currentTimeMillis() + Math.max(0, stableOffsetTimeoutMillis);
      String topic = KafkaSources.topic(source);
      for (int attempt = 1; ; attempt++) {
        Map<Integer, Long> stable =
            KafkaSources.endOffsets(
                catalog.connection(table, source), topic, new ArrayList<>(wanted.keySet()));
        Map<Integer, Long> behind = new TreeMap<>();
        wanted.forEach(
            (partition, end) -> {
              if (end != Long.MAX_VALUE && stable.get(partition) < end) {
                behind.put(partition, stable.get(partition));
              }
            });
        if (behind.isEmpty()) {
          return stable;
        }
        if (System.currentTimeMillis() >= deadline) {
          LOG.warn(
              "Append to {} source '{}': Kafka topic {} has transactions open before the appended"
                  + " messages (last stable offsets {} below produced ends {}) after {} ms; the"
                  + " version records up to the last stable offsets, and the rest becomes part of"
                  + " the table at the next sync once those transactions end",
              table,
              sourceId,
              topic,
              behind,
              wanted,
              stableOffsetTimeoutMillis);
          return stable;
        }
        try {
          Thread.sleep(Math.min(200, 10L * attempt));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new HarnessException(e, "Interrupted while committing an append to %s", table);
        }
      }
    }

    @Override
    public void publish(
        AppendBatch batch, KafkaProducing.Produced produced, VersionInfo committed) {
      // the messages are readable at the recorded offsets: nothing to publish
    }
  }
}
