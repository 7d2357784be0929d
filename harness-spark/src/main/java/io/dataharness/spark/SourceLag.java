package io.dataharness.spark;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.source.PostgresSources;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.Table;
import org.apache.iceberg.spark.source.SparkTable;
import org.apache.iceberg.util.SnapshotUtil;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The lag table {@code <table>.lag}: per source (and Kafka partition), the live end of the source
 * against what a version records, in rows and seconds, and for Kafka the retention headroom; plus
 * one row for the table (source null) whose {@code lag_seconds} is the table's freshness: how long
 * the oldest change not yet visible in that version has waited.
 */
final class SourceLag {
  static final StructType SCHEMA =
      new StructType()
          .add("version", DataTypes.LongType, false)
          .add("source", DataTypes.StringType, true)
          .add("kind", DataTypes.StringType, false)
          .add("partition", DataTypes.IntegerType, true)
          .add("recorded", DataTypes.StringType, true)
          .add("live", DataTypes.StringType, true)
          .add("lag_rows", DataTypes.LongType, true)
          .add("lag_seconds", DataTypes.DoubleType, true)
          .add("retention_headroom", DataTypes.LongType, true)
          .add("warning", DataTypes.StringType, true);

  private static final Duration FETCH_TIMEOUT = Duration.ofSeconds(5);

  /** One row of the lag table, before conversion to Spark's internal row. */
  record Lag(
      String source,
      String kind,
      Integer partition,
      String recorded,
      String live,
      Long rows,
      Double seconds,
      Long headroom,
      String warning) {}

  private SourceLag() {}

  static List<Lag> of(HarnessContext catalog, TableVersion version, Instant now) {
    List<Lag> lags = new ArrayList<>();
    // retention threatens the oldest kept version first: its Kafka ranges start earliest
    long oldestKept = catalog.store().loadTable(version.table()).oldestVersion();
    TableVersion oldest =
        oldestKept >= version.version()
            ? version
            : catalog.store().readVersion(version.table(), oldestKept);
    for (SourceDefinition source : version.sources().values()) {
      ConnectionConfig connection = catalog.connection(version.table(), source);
      SourceState state = version.state(source.id());
      switch (source.kind()) {
        case KAFKA ->
            lags.addAll(
                kafka(
                    connection,
                    source,
                    (SourceState.Kafka) state,
                    oldest.sourceStates().get(source.id()) instanceof SourceState.Kafka kept
                        ? kept
                        : (SourceState.Kafka) state,
                    oldest.version(),
                    now));
        case ICEBERG -> lags.add(iceberg(connection, source, (SourceState.Iceberg) state, now));
        case JDBC -> lags.add(postgres(connection, source, (SourceState.Jdbc) state, now));
      }
    }
    double freshness =
        lags.stream().mapToDouble(lag -> lag.seconds() == null ? 0 : lag.seconds()).max().orElse(0);
    long rows = lags.stream().mapToLong(lag -> lag.rows() == null ? 0 : lag.rows()).sum();
    io.dataharness.spark.metrics.HarnessMetrics.get()
        .lag(version.table().toString(), freshness, rows);
    List<String> warnings =
        lags.stream()
            .filter(lag -> lag.warning() != null)
            .map(lag -> lag.source() + ": " + lag.warning())
            .toList();
    lags.add(
        new Lag(
            null,
            "table",
            null,
            "version " + version.version() + " committed at " + version.commit().committedAt(),
            now.toString(),
            rows,
            freshness,
            null,
            warnings.isEmpty() ? null : String.join("; ", warnings)));
    return lags;
  }

  private static Double seconds(Instant first, Instant now) {
    return first == null ? 0.0 : Math.max(0, Duration.between(first, now).toMillis() / 1000.0);
  }

  /**
   * One row per partition. {@code retention_headroom} counts from the first offset any version from
   * {@code oldestKept} ({@code kept}: its state) to {@code state}'s reads: negative means retention
   * already deleted rows a kept version reads.
   */
  private static List<Lag> kafka(
      ConnectionConfig connection,
      SourceDefinition source,
      SourceState.Kafka state,
      SourceState.Kafka kept,
      long oldestKept,
      Instant now) {
    String topic = KafkaSources.topic(source);
    SourceState.Kafka live = KafkaSources.liveState(connection, source, state);
    List<Integer> partitions = new ArrayList<>(live.partitions().keySet());
    Map<Integer, Long> earliest = KafkaSources.earliestOffsets(connection, topic, partitions);
    Map<Integer, Long> behind = new TreeMap<>();
    live.partitions()
        .forEach(
            (partition, range) -> {
              SourceState.OffsetRange recorded = state.partitions().get(partition);
              long from = recorded == null ? range.start() : recorded.end();
              if (range.end() > from) {
                behind.put(partition, from);
              }
            });
    Map<Integer, Instant> first =
        KafkaSources.firstTimestamps(connection, topic, behind, FETCH_TIMEOUT);
    List<Lag> lags = new ArrayList<>();
    live.partitions()
        .forEach(
            (partition, range) -> {
              SourceState.OffsetRange recorded = state.partitions().get(partition);
              long recordedEnd = recorded == null ? range.start() : recorded.end();
              SourceState.OffsetRange keptRange = kept.partitions().get(partition);
              long needed = recorded == null ? range.start() : recorded.start();
              if (keptRange != null && keptRange.count() > 0) {
                needed = Math.min(needed, keptRange.start());
              }
              long retained = earliest.getOrDefault(partition, 0L);
              long headroom = needed - retained;
              String warning = null;
              if (recorded != null && headroom < 0) {
                warning =
                    String.format(
                        "retention deleted offsets [%d, %d) of partition %d that versions from %d"
                            + " on read; move rows out of Kafka sooner, raise the topic's"
                            + " retention, or expire those versions (expire_versions)",
                        needed, retained, partition, oldestKept);
              } else if (recorded == null) {
                warning = "partition " + partition + " is new: the next sync or move records it";
              }
              lags.add(
                  new Lag(
                      source.id(),
                      source.kind().id(),
                      partition,
                      recorded == null
                          ? null
                          : "offsets [" + recorded.start() + ", " + recordedEnd + ")",
                      "end offset " + range.end(),
                      range.end() - recordedEnd,
                      behind.containsKey(partition) ? seconds(first.get(partition), now) : 0.0,
                      headroom,
                      warning));
            });
    return lags;
  }

  private static Lag iceberg(
      ConnectionConfig connection,
      SourceDefinition source,
      SourceState.Iceberg state,
      Instant now) {
    Table table;
    try {
      var catalog = IcebergSources.catalog(SparkSession.active(), connection);
      catalog.invalidateTable(IcebergSources.identifier(source));
      table = ((SparkTable) catalog.loadTable(IcebergSources.identifier(source))).table();
    } catch (org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
      return new Lag(
          source.id(),
          source.kind().id(),
          null,
          null,
          null,
          null,
          null,
          null,
          "Iceberg table " + IcebergSources.identifier(source) + " does not exist");
    }
    Snapshot current = table.currentSnapshot();
    String recorded =
        state.snapshotId().isPresent() ? "snapshot " + state.snapshotId().getAsLong() : "empty";
    if (current == null
        || (state.snapshotId().isPresent()
            && current.snapshotId() == state.snapshotId().getAsLong())) {
      return new Lag(
          source.id(),
          source.kind().id(),
          null,
          recorded,
          current == null ? "empty" : "snapshot " + current.snapshotId(),
          0L,
          0.0,
          null,
          null);
    }
    Long from = state.snapshotId().isPresent() ? state.snapshotId().getAsLong() : null;
    boolean descends = from == null || SnapshotUtil.isAncestorOf(table, current.snapshotId(), from);
    long rows = 0;
    Instant first = null;
    if (descends) {
      for (Snapshot snapshot :
          SnapshotUtil.ancestorsBetween(current.snapshotId(), from, table::snapshot)) {
        rows += Long.parseLong(snapshot.summary().getOrDefault("added-records", "0"));
        first = Instant.ofEpochMilli(snapshot.timestampMillis());
      }
    }
    return new Lag(
        source.id(),
        source.kind().id(),
        null,
        recorded,
        "snapshot " + current.snapshotId(),
        descends ? rows : null,
        descends ? seconds(first, now) : null,
        null,
        descends
            ? null
            : "main of Iceberg table "
                + table.name()
                + " does not descend from the recorded snapshot (rolled back or rewritten"
                + " outside the harness)");
  }

  private static Lag postgres(
      ConnectionConfig connection, SourceDefinition source, SourceState.Jdbc state, Instant now) {
    PostgresSources.Changes changes =
        PostgresSources.changesSince(connection, source, state.readTimestamp());
    return new Lag(
        source.id(),
        source.kind().id(),
        null,
        "read at " + state.readTimestamp(),
        changes.first() == null ? "no change since" : "first change at " + changes.first(),
        changes.rows(),
        seconds(changes.first(), now),
        null,
        null);
  }
}
