package io.dataharness.spark.read;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.conf.MetadataColumns;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.stream.Collectors;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.connector.metric.CustomMetric;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.StructType;

/**
 * The plain DataSource V2 scan of one harness table version: row-based partitions only (DataSource
 * V2 cannot mix row and columnar partitions in one scan, so Iceberg is read row by row here).
 */
final class HarnessScan implements Scan, Batch {
  private final TableIdentifier table;
  private final long version;
  private final StructType dataSchema;
  private final StructType readSchema;
  private final List<SourceRead> reads;
  private final List<SourceRead> skipped;
  private final HarnessScanBuilder.JdbcQueries jdbcQueries;
  private final String sessionTimeZone;
  private final Predicate[] predicates;
  private InputPartition[] partitions;

  HarnessScan(
      TableIdentifier table,
      long version,
      StructType dataSchema,
      StructType readSchema,
      List<SourceRead> reads,
      List<SourceRead> skipped,
      HarnessScanBuilder.JdbcQueries jdbcQueries,
      String sessionTimeZone,
      Predicate[] predicates) {
    this.table = table;
    this.version = version;
    this.dataSchema = dataSchema;
    this.readSchema = readSchema;
    this.reads = reads;
    this.skipped = skipped;
    this.jdbcQueries = jdbcQueries;
    this.sessionTimeZone = sessionTimeZone;
    this.predicates = predicates;
  }

  @Override
  public StructType readSchema() {
    return readSchema;
  }

  @Override
  public String description() {
    StringJoiner sources = new StringJoiner(", ");
    reads.forEach(read -> sources.add(describe(read)));
    String text =
        "DataHarness scan (DataSource V2 fallback: no session extension) of "
            + table
            + " version "
            + version
            + ": "
            + (reads.isEmpty() ? "no source" : sources.toString());
    if (!skipped.isEmpty()) {
      text +=
          "; skipped by filters: "
              + skipped.stream().map(read -> read.source().id()).collect(Collectors.joining(", "));
    }
    return text;
  }

  @Override
  public String toString() {
    return description();
  }

  /** Rows read per kind of source and malformed Kafka values, as SQL metrics of the scan. */
  @Override
  public CustomMetric[] supportedCustomMetrics() {
    return ScanMetrics.supported();
  }

  @Override
  public Batch toBatch() {
    return this;
  }

  @Override
  public synchronized InputPartition[] planInputPartitions() {
    if (partitions == null) {
      OutputColumns columns = new OutputColumns(dataSchema, readSchema);
      List<InputPartition> planned = new ArrayList<>();
      for (SourceRead read : reads) {
        planned.addAll(plan(read, columns));
      }
      partitions = planned.toArray(InputPartition[]::new);
    }
    return partitions.clone();
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    return new HarnessReaderFactory(new OutputColumns(dataSchema, readSchema), sessionTimeZone);
  }

  private List<InputPartition> plan(SourceRead read, OutputColumns columns) {
    SourceState state = read.state();
    if (state instanceof SourceState.Kafka kafka) {
      String topic = kafkaTopic(read);
      List<InputPartition> planned = new ArrayList<>();
      kafka
          .partitions()
          .forEach(
              (partition, range) -> {
                if (range.count() > 0) {
                  planned.add(
                      KafkaInputPartition.of(
                          read, columns, topic, partition, range.start(), range.end()));
                }
              });
      return planned;
    } else if (state instanceof SourceState.Jdbc) {
      return List.of(JdbcInputPartition.of(read, jdbcQueries.query(read)));
    } else if (state instanceof SourceState.Iceberg iceberg) {
      if (iceberg.snapshotId().isEmpty()) {
        return List.of();
      }
      return IcebergInputPartition.plan(
          read, iceberg.snapshotId().getAsLong(), columns, predicates);
    }
    throw new IllegalStateException("Unknown source state " + state);
  }

  static String kafkaTopic(SourceRead read) {
    return read.source()
        .option("topic")
        .orElseThrow(
            () ->
                new HarnessException(
                    "Cannot read %s: the source has no topic; set source.%s.topic",
                    read.describe(), read.source().id()));
  }

  /** "hot kafka events[0:3-10,1:0-4] (latest)", "warm jdbc public.events as of ...". */
  private static String describe(SourceRead read) {
    String id = read.source().id();
    SourceState state = read.state();
    if (state instanceof SourceState.Kafka kafka) {
      StringJoiner ranges = new StringJoiner(",", "[", "]");
      for (Map.Entry<Integer, SourceState.OffsetRange> entry : kafka.partitions().entrySet()) {
        ranges.add(entry.getKey() + ":" + entry.getValue().start() + "-" + entry.getValue().end());
      }
      return id
          + " kafka "
          + read.source().option("topic").orElse("?")
          + ranges
          + " ("
          + read.options().kafkaReadMode().name().toLowerCase(java.util.Locale.ROOT)
          + (read.options().failFast()
              ? ""
              : ", malformed values as " + MetadataColumns.CORRUPT_RECORD)
          + ")";
    } else if (state instanceof SourceState.Jdbc jdbc) {
      return id
          + " jdbc "
          + read.source().option("table").orElse("?")
          + " as of "
          + jdbc.readTimestamp();
    } else if (state instanceof SourceState.Iceberg iceberg) {
      return id
          + " iceberg "
          + read.connection().sparkCatalog()
          + "."
          + read.source().option("table").orElse("?")
          + (iceberg.snapshotId().isPresent()
              ? " snapshot " + iceberg.snapshotId().getAsLong()
              : " empty (no snapshot)");
    }
    return id + " " + state;
  }
}
