package io.dataharness.spark.read;

import java.util.Map;
import org.apache.spark.sql.connector.read.InputPartition;

/**
 * One Kafka partition's offsets [start, end) of one source, with what an executor needs to read it
 * (harness metadata records are not serializable, so only plain values travel).
 *
 * @param describe the source read, for messages ("source 'hot' (kafka) of logs.events at version
 *     7")
 * @param sourceId the value of {@code _source}
 * @param connection the connection's name, for messages
 * @param clientProperties Kafka client properties of the connection
 * @param jsonFields per output column, the JSON field holding it (null for metadata columns)
 * @param failFast whether a malformed message fails the read
 */
record KafkaInputPartition(
    String describe,
    String sourceId,
    String connection,
    Map<String, String> clientProperties,
    String topic,
    int partition,
    long start,
    long end,
    String[] jsonFields,
    boolean failFast)
    implements InputPartition {

  static KafkaInputPartition of(
      SourceRead read, OutputColumns columns, String topic, int partition, long start, long end) {
    String[] jsonFields = new String[columns.size()];
    for (int i = 0; i < columns.size(); i++) {
      if (!columns.isMetadata(i)) {
        jsonFields[i] = read.source().sourceColumn(columns.name(i));
      }
    }
    return of(read, jsonFields, topic, partition, start, end);
  }

  /** A range to read raw, without decoding ({@link KafkaRecords}): no json fields. */
  static KafkaInputPartition raw(
      SourceRead read, String topic, int partition, long start, long end) {
    return of(read, new String[0], topic, partition, start, end);
  }

  private static KafkaInputPartition of(
      SourceRead read, String[] jsonFields, String topic, int partition, long start, long end) {
    return new KafkaInputPartition(
        read.describe(),
        read.source().id(),
        read.connection().name(),
        Map.copyOf(read.connection().kafkaClientProperties()),
        topic,
        partition,
        start,
        end,
        jsonFields,
        read.options().failFast());
  }

  /** Hides the connection's secrets ({@link io.dataharness.metadata.Secrets#masked}). */
  @Override
  public String toString() {
    return "KafkaInputPartition["
        + describe
        + ", topic "
        + topic
        + " partition "
        + partition
        + " ["
        + start
        + ", "
        + end
        + ") "
        + io.dataharness.metadata.Secrets.masked(clientProperties)
        + "]";
  }
}
