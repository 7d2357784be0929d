package io.dataharness.spark.write;

import static org.apache.spark.sql.functions.array;
import static org.apache.spark.sql.functions.array_compact;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.element_at;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.size;
import static org.apache.spark.sql.functions.when;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.read.PartitionFilter;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Appends to a table whose {@code write.source} names several sources: every row goes to the one
 * write source whose {@code partition-filter} it matches, and one version records every source that
 * received rows.
 *
 * <ol>
 *   <li>Each row is evaluated against every write source's filter, typed as {@link PartitionFilter}
 *       resolves it (NULL is no match). The routed rows are checkpointed, so routing and writing
 *       see the same rows even when the input is not deterministic.
 *   <li>A row that matches no write source, or several, fails the append before any lock or write,
 *       naming the row's partition values and the filters.
 *   <li>The append locks only the sources that receive rows (appends and movers on other partitions
 *       never wait for it) and writes each through the single-source append of its kind ({@link
 *       DriverAppends}), Iceberg sources first (their snapshots stay invisible until the commit),
 *       then PostgreSQL, then Kafka, under one intent when a Kafka or PostgreSQL source receives
 *       rows; one commit records all.
 * </ol>
 *
 * <p>Kafka and PostgreSQL writes are final once made. An append interrupted after writing some of
 * its Kafka or PostgreSQL sources leaves its intent open on all the sources it routed to; the next
 * append routed to exactly those sources completes it (what was written becomes part of the table,
 * what was not is missing: rerun the rows of the sources that lack them).
 */
final class RoutedAppends {
  private static final Logger LOG = LoggerFactory.getLogger(RoutedAppends.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * The matching write sources of a routed row, then the one it goes to (null: none or several).
   */
  private static final String MATCHES = "__harness_write_sources";

  private static final String ROUTE = "__harness_write_source";

  private RoutedAppends() {}

  /**
   * Routes {@code data} (harness columns) to {@code writeSources} by their partition filters and
   * appends it in one version; returns that version (the latest when {@code data} has no rows).
   */
  static long append(
      HarnessContext catalog,
      TableIdentifier table,
      TableVersion latest,
      List<String> writeSources,
      Dataset<Row> data,
      String writeId,
      long stableOffsetTimeoutMillis) {
    SparkSession spark = data.sparkSession();
    StructType columns = SparkSchemas.toSpark(latest.schema());
    Map<String, String> filters = new LinkedHashMap<>();
    List<String> partitionColumns = new ArrayList<>();
    Column[] matches = new Column[writeSources.size()];
    for (int i = 0; i < writeSources.size(); i++) {
      SourceDefinition source = latest.source(writeSources.get(i));
      String filter = source.partitionFilter();
      filters.put(source.id(), filter);
      try {
        matches[i] = when(PartitionFilter.matches(spark, filter, columns), lit(source.id()));
        for (String column : PartitionFilter.columns(spark, filter, columns)) {
          if (!partitionColumns.contains(column)) {
            partitionColumns.add(column);
          }
        }
      } catch (PartitionFilter.InvalidFilterException e) {
        throw new ValidationException(
            "Cannot append to %s: the partition-filter '%s' of its write source '%s' is invalid at"
                + " version %d (%s); fix it with ALTER TABLE ... SET TBLPROPERTIES"
                + " ('source.%s.partition-filter' = ...)",
            table, filter, source.id(), latest.version(), e.getMessage(), source.id());
      }
    }
    Dataset<Row> routed =
        data.withColumn(MATCHES, array_compact(array(matches)))
            .withColumn(ROUTE, when(size(col(MATCHES)).equalTo(1), element_at(col(MATCHES), 1)))
            // routing and writing must see the same rows, also for an input that is not
            // deterministic: materialize once
            .localCheckpoint(true);
    Map<String, Long> counts = new TreeMap<>(Comparator.nullsFirst(Comparator.naturalOrder()));
    for (Row row : routed.groupBy(col(ROUTE)).count().collectAsList()) {
      counts.put(row.getString(0), row.getLong(1));
    }
    if (counts.containsKey(null)) {
      throw unroutable(table, routed, partitionColumns, filters, counts.get(null));
    }
    if (counts.isEmpty()) {
      LOG.info("Append to {}: no rows, nothing to write", table);
      return latest.version();
    }
    List<Writer<Object, Object>> parts = new ArrayList<>();
    // Iceberg sources first (staged snapshots stay invisible until the commit), then PostgreSQL
    // (a constraint or a value it refuses rolls its transaction back), Kafka last (it takes any
    // message): a failure on the rows' content fails the append before any final write
    List<String> receiving =
        counts.keySet().stream()
            .sorted(
                Comparator.comparing((String id) -> writeOrder(latest.source(id).kind()))
                    .thenComparing(Comparator.naturalOrder()))
            .toList();
    for (String id : receiving) {
      Dataset<Row> rows = routed.where(col(ROUTE).equalTo(id)).drop(MATCHES, ROUTE);
      parts.add(
          cast(
              DriverAppends.writer(
                  catalog, table, latest.source(id), rows, writeId, stableOffsetTimeoutMillis)));
    }
    Map<String, String> receivingFilters = new TreeMap<>();
    receiving.forEach(id -> receivingFilters.put(id, filters.get(id)));
    RoutedAppend writer = new RoutedAppend(table, receivingFilters, parts, counts, writeId);
    WriteOutcome<RoutedBatch, List<Object>> outcome =
        new WriteProtocol(catalog.store(), table).run("append-" + writeId, writer);
    LOG.info(
        "Appended {} rows to {} routed by partition to {} as version {}",
        counts.values().stream().mapToLong(Long::longValue).sum(),
        table,
        counts,
        outcome.version());
    return outcome.version();
  }

  private static int writeOrder(SourceKind kind) {
    return switch (kind) {
      case ICEBERG -> 0;
      case JDBC -> 1;
      default -> 2;
    };
  }

  private static ValidationException unroutable(
      TableIdentifier table,
      Dataset<Row> routed,
      List<String> partitionColumns,
      Map<String, String> filters,
      long count) {
    List<Column> shown = new ArrayList<>();
    partitionColumns.forEach(column -> shown.add(col(column)));
    shown.add(col(MATCHES));
    Row example = routed.where(col(ROUTE).isNull()).select(shown.toArray(Column[]::new)).first();
    Map<String, Object> values = new LinkedHashMap<>();
    for (int i = 0; i < partitionColumns.size(); i++) {
      values.put(partitionColumns.get(i), example.get(i));
    }
    List<String> matched = example.getList(partitionColumns.size());
    return new ValidationException(
        "Cannot append to %s: %d row(s) match %s of its write sources' partition filters %s, for"
            + " example the row with partition values %s; every row must match exactly one; nothing"
            + " was written: fix the rows, or the filters with ALTER TABLE ... SET TBLPROPERTIES"
            + " ('source.<id>.partition-filter' = ...)",
        table, count, matched.isEmpty() ? "none" : "several (" + matched + ")", filters, values);
  }

  @SuppressWarnings("unchecked")
  private static Writer<Object, Object> cast(Writer<?, ?> writer) {
    return (Writer<Object, Object>) writer;
  }

  /**
   * The batches of the parts, in order (null: a part with nothing to complete on resume), and the
   * key of the append that wrote them (an interrupted one's when completing it).
   */
  record RoutedBatch(List<Object> parts, boolean resumed, String key) {}

  /**
   * The append as one writer of the protocol: its sources are those receiving rows; each part is
   * the single-source append of one of them, and the batch and staged results are theirs, in order.
   */
  private static final class RoutedAppend implements Writer<RoutedBatch, List<Object>> {
    private final TableIdentifier table;
    private final Map<String, String> filters;
    private final List<Writer<Object, Object>> parts;
    private final Map<String, Long> counts;
    private final String key;

    RoutedAppend(
        TableIdentifier table,
        Map<String, String> filters,
        List<Writer<Object, Object>> parts,
        Map<String, Long> counts,
        String writeId) {
      this.table = table;
      this.filters = filters;
      this.parts = parts;
      this.counts = counts;
      this.key =
          IdempotencyKeys.of(
              "append", table.toString(), String.join(",", filters.keySet()), writeId);
    }

    @Override
    public String operation() {
      return WriteProtocol.APPEND;
    }

    @Override
    public List<String> sources() {
      return List.copyOf(filters.keySet());
    }

    @Override
    public Duration lockWait() {
      return DriverAppends.LOCK_WAIT;
    }

    @Override
    public Optional<RoutedBatch> plan(TableVersion latest) {
      // the rows were routed by the filters read before the locks: they must still hold
      for (Map.Entry<String, String> routedBy : filters.entrySet()) {
        SourceDefinition now = latest.sources().get(routedBy.getKey());
        if (now == null || !Objects.equals(now.partitionFilter(), routedBy.getValue())) {
          throw new CommitConflictException(
              "Cannot append to %s: the rows were routed to source '%s' by its partition-filter"
                  + " '%s', but version %d %s; nothing was written: retry the append",
              table,
              routedBy.getKey(),
              routedBy.getValue(),
              latest.version(),
              now == null
                  ? "has no such source"
                  : "declares '" + now.partitionFilter() + "' instead");
        }
      }
      List<Object> batches = new ArrayList<>();
      for (Writer<Object, Object> part : parts) {
        batches.add(part.plan(latest).orElseThrow());
      }
      return Optional.of(new RoutedBatch(batches, false, key));
    }

    @Override
    public String idempotencyKey(RoutedBatch batch) {
      return batch.key();
    }

    private boolean recordsIntent(Writer<Object, Object> part, Object batch) {
      return part.intentPayload(batch).isPresent();
    }

    @Override
    public Optional<String> intentPayload(RoutedBatch batch) {
      List<String> written = new ArrayList<>();
      for (int i = 0; i < parts.size(); i++) {
        if (recordsIntent(parts.get(i), batch.parts().get(i))) {
          written.add(parts.get(i).sources().get(0));
        }
      }
      if (written.isEmpty()) {
        return Optional.empty(); // Iceberg only: nothing is visible before the commit
      }
      ObjectNode payload = JSON.createObjectNode().put("append", batch.key());
      written.forEach(payload.putArray("sources")::add);
      return Optional.of(payload.toString());
    }

    /**
     * Completes an interrupted routed append to the same sources: the Kafka and PostgreSQL parts
     * record what they wrote (their writes are final); Iceberg parts had staged nothing visible.
     */
    @Override
    public RoutedBatch resume(Intent intent, TableVersion latest) {
      List<Object> batches = new ArrayList<>();
      for (Writer<Object, Object> part : parts) {
        SourceKind kind = latest.source(part.sources().get(0)).kind();
        batches.add(kind == SourceKind.ICEBERG ? null : part.resume(intent, latest));
      }
      String interrupted;
      try {
        interrupted = JSON.readTree(intent.payload()).path("append").asText();
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new io.dataharness.metadata.HarnessException(
            e,
            "Cannot complete the interrupted append %s to %s: its payload is not JSON: %s",
            intent.describe(),
            table,
            intent.payload());
      }
      return new RoutedBatch(batches, true, interrupted);
    }

    @Override
    public boolean continuesAfterResume() {
      return true;
    }

    @Override
    public List<Object> stage(RoutedBatch batch, LeaseKeeper locks) {
      List<Object> staged = new ArrayList<>();
      for (int i = 0; i < parts.size(); i++) {
        Object part = batch.parts().get(i);
        staged.add(part == null ? null : parts.get(i).stage(part, locks));
      }
      return staged;
    }

    @Override
    public void record(Transaction transaction, RoutedBatch batch, List<Object> staged) {
      for (int i = 0; i < parts.size(); i++) {
        Object part = batch.parts().get(i);
        if (part != null) {
          parts.get(i).record(transaction, part, staged.get(i));
        }
      }
      transaction.summary("source", String.join(",", filters.keySet()));
      if (!batch.resumed()) {
        transaction
            .summary("rows", String.valueOf(counts.values().stream().mapToLong(c -> c).sum()))
            .summary("routed", counts.toString());
      }
    }

    @Override
    public void publish(RoutedBatch batch, List<Object> staged, VersionInfo committed) {
      for (int i = 0; i < parts.size(); i++) {
        Object part = batch.parts().get(i);
        if (part != null) {
          parts.get(i).publish(part, staged.get(i), committed);
        }
      }
    }

    @Override
    public String describe(RoutedBatch batch) {
      return batch.resumed()
          ? "completing an interrupted append to " + table + " sources " + filters.keySet()
          : "append to " + table + " routed by partition to " + counts;
    }
  }
}
