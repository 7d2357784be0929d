package io.dataharness.spark.write;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.source.KafkaSources;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Produces a DataFrame's rows to a Kafka source as JSON messages (harness columns named as the
 * source's own fields) in <b>one</b> Kafka transaction, so an append is all or nothing for
 * read-committed readers: the driver iterates the rows (Spark computes one partition at a time) and
 * produces them. Messages are keyed by the primary key (every image of a key lands in one
 * partition, in order) and go only to the partitions the source covers.
 *
 * <p>The transactional id is fixed per table and source. Appends to a source take turns on its
 * lock, so one live producer uses it at a time, and the next append fences a killed one at once:
 * Kafka aborts the killed append's open transaction when the next producer registers the id
 * (otherwise only when the transaction times out, after {@link #TRANSACTION_TIMEOUT}).
 */
final class KafkaProducing {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaProducing.class);

  /** How long an append's transaction may stay open (Kafka brokers allow 15 minutes by default). */
  static final Duration TRANSACTION_TIMEOUT = Duration.ofMinutes(5);

  private KafkaProducing() {}

  /** What an append produced: per Kafka partition the offset after its last message, and rows. */
  record Produced(Map<Integer, Long> ends, long rows) {
    static Produced none() {
      return new Produced(Map.of(), 0);
    }
  }

  /** Produces {@code rows} (harness columns) in one transaction and returns what it produced. */
  static Produced produce(
      Dataset<Row> rows,
      ConnectionConfig connection,
      SourceDefinition source,
      List<String> primaryKey,
      List<Integer> partitions,
      String transactionalId) {
    StructType schema = rows.schema();
    StructType messageSchema = new StructType();
    boolean[] instants = new boolean[schema.fields().length];
    for (int i = 0; i < instants.length; i++) {
      StructField field = schema.fields()[i];
      // a TIMESTAMP is an instant: written with its UTC offset (Row.json would write it in the
      // session's time zone without one, and a reader in another time zone would shift it)
      instants[i] = field.dataType() instanceof org.apache.spark.sql.types.TimestampType;
      messageSchema =
          messageSchema.add(
              source.sourceColumn(field.name()),
              instants[i] ? org.apache.spark.sql.types.DataTypes.StringType : field.dataType(),
              true);
    }
    int[] keyIndexes = new int[primaryKey.size()];
    for (int i = 0; i < primaryKey.size(); i++) {
      keyIndexes[i] = schema.fieldIndex(primaryKey.get(i));
    }
    String topic = KafkaSources.topic(source);
    Map<String, Object> config = new HashMap<>(connection.kafkaClientProperties());
    config.put(ProducerConfig.ACKS_CONFIG, "all");
    config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    config.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, (int) TRANSACTION_TIMEOUT.toMillis());
    config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    config.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
    KafkaProducer<String, String> producer = new KafkaProducer<>(config);
    try {
      producer.initTransactions();
      producer.beginTransaction();
      try {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        long count = 0;
        int next = 0;
        Iterator<Row> input = rows.toLocalIterator();
        while (input.hasNext()) {
          Row row = input.next();
          Object[] values = new Object[row.length()];
          for (int i = 0; i < values.length; i++) {
            values[i] = row.get(i);
            if (instants[i] && values[i] instanceof java.sql.Timestamp timestamp) {
              values[i] = timestamp.toInstant().toString();
            } else if (instants[i] && values[i] != null) {
              values[i] = values[i].toString(); // java.time.Instant: ISO-8601 in UTC
            }
          }
          String json = new GenericRowWithSchema(values, messageSchema).json();
          String key = null;
          int partition;
          if (keyIndexes.length == 0) {
            partition = partitions.get(Math.floorMod(next++, partitions.size()));
          } else {
            StringBuilder keyText = new StringBuilder();
            for (int index : keyIndexes) {
              if (keyText.length() > 0) {
                keyText.append('|');
              }
              keyText.append(row.get(index));
            }
            key = keyText.toString();
            partition = partitions.get(Math.floorMod(key.hashCode(), partitions.size()));
          }
          sent.add(producer.send(new ProducerRecord<>(topic, partition, key, json)));
          count++;
        }
        producer.flush();
        Map<Integer, Long> ends = new TreeMap<>();
        for (Future<RecordMetadata> future : sent) {
          RecordMetadata metadata = future.get();
          ends.merge(metadata.partition(), metadata.offset() + 1, Math::max);
        }
        producer.commitTransaction();
        return new Produced(ends, count);
      } catch (Exception e) {
        try {
          producer.abortTransaction();
        } catch (RuntimeException abort) {
          LOG.warn("Cannot abort the Kafka transaction of a failed append to {}", topic, abort);
        }
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
        }
        throw new HarnessException(
            connection.scrub(e),
            "Cannot append to source '%s': producing to Kafka topic %s failed (%s); the"
                + " transaction is aborted, so none of the rows is in the topic; retry the append",
            source.id(),
            topic,
            connection.scrub(e.getMessage()));
      }
    } finally {
      producer.close(Duration.ofSeconds(10));
    }
  }
}
