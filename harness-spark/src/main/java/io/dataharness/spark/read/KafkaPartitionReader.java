package io.dataharness.spark.read;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.metadata.HarnessException;
import io.dataharness.spark.conf.MetadataColumns;
import io.dataharness.spark.source.KafkaSources;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZoneId;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Reads one Kafka partition's offsets [start, end) with read-committed isolation and decodes each
 * JSON value into the harness columns. Offsets may be missing inside the range (transaction
 * markers, aborted records), so reading stops once the consumer's position reaches {@code end}.
 */
final class KafkaPartitionReader implements PartitionReader<InternalRow> {
  private long rowsRead;
  private long malformed;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration POLL = Duration.ofMillis(500);

  /** How long to wait for the next message of the range before failing. */
  private static final Duration STALL_TIMEOUT = Duration.ofSeconds(120);

  private final KafkaInputPartition partition;
  private final OutputColumns columns;
  private final ZoneId sessionZone;
  private final String[] jsonFields;
  private final TopicPartition topicPartition;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private Iterator<ConsumerRecord<byte[], byte[]>> buffered = Collections.emptyIterator();
  private long position;
  private final Duration answerTimeout;
  private long lastAnswer = System.nanoTime();
  private boolean done;
  private InternalRow current;

  KafkaPartitionReader(KafkaInputPartition partition, OutputColumns columns, String sessionZone) {
    this.partition = partition;
    this.columns = columns;
    this.sessionZone = ZoneId.of(sessionZone);
    this.jsonFields = partition.jsonFields();
    this.topicPartition = new TopicPartition(partition.topic(), partition.partition());
    this.consumer = new KafkaConsumer<>(consumerProperties(partition));
    consumer.assign(List.of(topicPartition));
    consumer.seek(topicPartition, partition.start());
    this.position = partition.start();
    this.answerTimeout = KafkaSources.apiTimeout(partition.clientProperties());
  }

  private static Properties consumerProperties(KafkaInputPartition partition) {
    Properties properties = new Properties();
    properties.putAll(partition.clientProperties());
    properties.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    properties.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    // a missing offset is an error (retention deleted rows of the version), never a silent skip
    properties.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
    properties.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "dataharness-scan");
    KafkaSources.forBoundedReads(properties);
    return properties;
  }

  @Override
  public boolean next() throws IOException {
    long lastProgress = System.nanoTime();
    lastAnswer = lastProgress;
    while (!done) {
      while (buffered.hasNext()) {
        ConsumerRecord<byte[], byte[]> record = buffered.next();
        if (record.offset() >= partition.end()) {
          done = true;
          return false;
        }
        current = decode(record);
        rowsRead++;
        return true;
      }
      if (position >= partition.end()) {
        done = true;
        return false;
      }
      List<ConsumerRecord<byte[], byte[]>> records;
      try {
        records = consumer.poll(POLL).records(topicPartition);
        position = consumer.position(topicPartition);
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        // the consumer could not validate or look up its position: the leader does not answer
        throw brokerLost(e);
      } catch (OffsetOutOfRangeException e) {
        throw new HarnessException(
            e,
            "Cannot read %s: topic %s partition %d no longer holds offsets [%d, %d) (deleted by"
                + " retention?); the version's rows are not all available any more",
            partition.describe(),
            partition.topic(),
            partition.partition(),
            position,
            partition.end());
      }
      if (!records.isEmpty()) {
        lastProgress = System.nanoTime();
        lastAnswer = lastProgress;
        buffered = records.iterator();
      } else if (System.nanoTime() - lastAnswer > answerTimeout.toNanos()) {
        checkBrokerAnswers();
        lastAnswer = System.nanoTime();
      } else if (System.nanoTime() - lastProgress > STALL_TIMEOUT.toNanos()) {
        throw new HarnessException(
            "Cannot read %s: topic %s partition %d returned nothing for %d s at offset %d below the"
                + " end offset %d (is a transaction still open, or the broker unreachable?)",
            partition.describe(),
            partition.topic(),
            partition.partition(),
            STALL_TIMEOUT.toSeconds(),
            position,
            partition.end());
      }
    }
    return false;
  }

  /**
   * Asks the partition's leader for its end offset, bounded by the connection's Kafka timeout: a
   * broker that does not answer fails the read (as a whole: Spark returns no rows of a failed
   * task's query) naming the broker, the topic, partition and offsets; one that answers lets the
   * read wait on (a transaction may still be open).
   */
  private void checkBrokerAnswers() {
    try {
      consumer.endOffsets(List.of(topicPartition), answerTimeout);
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      throw brokerLost(e);
    }
  }

  private HarnessException brokerLost(RuntimeException e) {
    return brokerLost(partition, answerTimeout, position, e);
  }

  /**
   * A read of {@code partition} failed because its broker did not answer within {@code timeout}
   * (the connection's Kafka timeout) while at {@code position}: names the broker, the connection,
   * the topic, partition and offsets, and says to retry.
   */
  static HarnessException brokerLost(
      KafkaInputPartition partition, Duration timeout, long position, Throwable e) {
    return new HarnessException(
        e,
        "Cannot read %s: Kafka at %s (connection '%s') did not answer within %d ms while the read"
            + " was at offset %d of topic %s partition %d offsets [%d, %d); check that the broker"
            + " runs and is reachable (connection.%s.bootstrap-servers), and retry the read once"
            + " it answers: the read failed as a whole and returned no rows",
        partition.describe(),
        partition.clientProperties().get("bootstrap.servers"),
        partition.connection(),
        timeout.toMillis(),
        position,
        partition.topic(),
        partition.partition(),
        partition.start(),
        partition.end(),
        partition.connection());
  }

  @Override
  public InternalRow get() {
    return current;
  }

  @Override
  public CustomTaskMetric[] currentMetricsValues() {
    return new CustomTaskMetric[] {
      ScanMetrics.taskValue(ScanMetrics.KAFKA_ROWS, rowsRead),
      ScanMetrics.taskValue(ScanMetrics.MALFORMED_KAFKA_RECORDS, malformed)
    };
  }

  @Override
  public void close() {
    consumer.close(Duration.ofSeconds(5));
  }

  private InternalRow decode(ConsumerRecord<byte[], byte[]> record) {
    Object[] values = new Object[columns.size()];
    String corrupt = null;
    if (record.value() != null) {
      String reason = null;
      try {
        JsonNode root = JSON.readTree(record.value());
        if (root == null || !root.isObject()) {
          reason = "the value is not a JSON object";
        } else {
          for (int i = 0; i < values.length; i++) {
            if (!columns.isMetadata(i)) {
              try {
                JsonNode value = root.get(jsonFields[i]);
                // an absent field reads the column's default; a JSON null stays null
                values[i] =
                    value == null
                        ? columns.defaultValue(i)
                        : JsonValues.convert(value, columns.type(i), sessionZone);
              } catch (JsonValues.MismatchException e) {
                reason = "field '" + jsonFields[i] + "': " + e.getMessage();
                break;
              }
            }
          }
        }
      } catch (JsonProcessingException e) {
        reason = "invalid JSON: " + e.getOriginalMessage();
      } catch (IOException e) {
        reason = e.getMessage();
      }
      if (reason != null) {
        if (partition.failFast()) {
          throw new HarnessException(
              "Cannot read %s: the message at topic %s, partition %d, offset %d is malformed (%s)."
                  + " To read such messages as nulls with the raw value in column %s, set the read"
                  + " option %s=PERMISSIVE",
              partition.describe(),
              partition.topic(),
              partition.partition(),
              record.offset(),
              reason,
              MetadataColumns.CORRUPT_RECORD,
              ReadOptions.KAFKA_MALFORMED);
        }
        java.util.Arrays.fill(values, null);
        corrupt = new String(record.value(), StandardCharsets.UTF_8);
        malformed++;
      }
    }
    for (int i = 0; i < values.length; i++) {
      if (columns.isMetadata(i)) {
        values[i] = metadataValue(columns.name(i), record, corrupt);
      }
    }
    return new GenericInternalRow(values);
  }

  private Object metadataValue(
      String column, ConsumerRecord<byte[], byte[]> record, String corrupt) {
    switch (column) {
      case MetadataColumns.SOURCE:
        return UTF8String.fromString(partition.sourceId());
      case MetadataColumns.KAFKA_PARTITION:
        return record.partition();
      case MetadataColumns.KAFKA_OFFSET:
        return record.offset();
      case MetadataColumns.KAFKA_TIMESTAMP:
        return record.timestamp() < 0 ? null : Math.multiplyExact(record.timestamp(), 1_000L);
      case MetadataColumns.KAFKA_KEY:
        return record.key() == null ? null : UTF8String.fromBytes(record.key());
      case MetadataColumns.CORRUPT_RECORD:
        return corrupt == null ? null : UTF8String.fromString(corrupt);
      default:
        return null;
    }
  }
}
