package io.dataharness.spark.read;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.source.SourceUnavailableException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.apache.spark.sql.types.StructType;

/**
 * Turns a version into the list of source reads both read paths execute: resolves connections,
 * applies the Kafka read mode (latest: live end offsets at planning time; start always from the
 * version), and fails before reading anything if Kafka retention already deleted offsets the
 * version needs.
 */
public final class ReadPlanner {
  private ReadPlanner() {}

  public static List<SourceRead> plan(
      TableVersion version,
      ReadOptions options,
      BiFunction<TableIdentifier, SourceDefinition, ConnectionConfig> connections) {
    StructType schema = SparkSchemas.toSpark(version.schema());
    List<SourceRead> reads = new ArrayList<>();
    for (Map.Entry<String, SourceState> entry : version.sourceStates().entrySet()) {
      SourceDefinition source = version.sources().get(entry.getKey());
      ConnectionConfig connection = connections.apply(version.table(), source);
      SourceState state = entry.getValue();
      reads.add(
          new SourceRead(
              version.table(), version.version(), source, state, connection, schema, options));
    }
    return reads;
  }

  /**
   * Fixes what a read of a Kafka source reads now, after pruning (so pruned sources are never
   * contacted): in latest mode the live end offsets, and in every mode a check that the broker
   * still retains the range.
   */
  public static SourceRead resolve(SourceRead read) {
    if (!(read.state() instanceof SourceState.Kafka kafka) || kafka.partitions().isEmpty()) {
      return read;
    }
    String topic = read.source().option("topic").orElseThrow();
    SourceState.Kafka resolved;
    try {
      if (read.options().kafkaReadMode() == ReadOptions.KafkaReadMode.LATEST) {
        resolved =
            KafkaSources.withLiveEndsRetained(read.connection(), topic, kafka, read.describe());
      } else {
        resolved = kafka;
        KafkaSources.checkRetained(read.connection(), topic, resolved, read.describe());
      }
    } catch (KafkaSources.UnreachableException e) {
      throw new SourceUnavailableException(
          e,
          "Cannot read %s: Kafka at %s (connection '%s') did not answer (%s) to %s; the version"
              + " reads topic %s %s. Check that the broker runs and is reachable"
              + " (connection.%s.bootstrap-servers), and retry the read once it answers: nothing"
              + " was read",
          read.describe(),
          read.connection().bootstrapServers(),
          read.connection().name(),
          e.reason(),
          e.action(),
          topic,
          offsets(kafka),
          read.connection().name());
    }
    return new SourceRead(
        read.table(),
        read.version(),
        read.source(),
        resolved,
        read.connection(),
        read.schema(),
        read.options());
  }

  /** "partition 0 offsets [0, 5), partition 1 offsets [3, 9)", for messages. */
  static String offsets(SourceState.Kafka state) {
    List<String> ranges = new ArrayList<>();
    state
        .partitions()
        .forEach(
            (partition, range) ->
                ranges.add(
                    "partition "
                        + partition
                        + " offsets ["
                        + range.start()
                        + ", "
                        + range.end()
                        + ")"));
    return String.join(", ", ranges);
  }
}
