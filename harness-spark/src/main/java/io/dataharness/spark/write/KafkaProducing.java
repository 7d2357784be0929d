package io.dataharness.spark.write;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.source.KafkaSources;
import java.io.Serializable;
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
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Produces a DataFrame's rows to a Kafka source as JSON messages (harness columns named as the
 * source's own fields), one Kafka transaction per Spark partition, committed when the partition is
 * written and aborted when it fails. Messages are keyed by the primary key (every image of a key
 * lands in one partition, in order) and go only to the partitions the source covers.
 *
 * <p>A partition's transactional id is the write's id and the partition index, so a retried task
 * fences the attempt before it (Kafka aborts that attempt's open transaction).
 */
final class KafkaProducing {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaProducing.class);

  private KafkaProducing() {}

  /** What the tasks produced: per Kafka partition the offset after the last message, and rows. */
  record Produced(Map<Integer, Long> ends, long rows) implements Serializable {
    static Produced none() {
      return new Produced(Map.of(), 0);
    }

    Produced plus(Produced other) {
      Map<Integer, Long> merged = new TreeMap<>(ends);
      other.ends.forEach((partition, end) -> merged.merge(partition, end, Math::max));
      return new Produced(merged, rows + other.rows);
    }
  }

  /** Produces {@code rows} (harness columns) and returns what every task produced. */
  static Produced produce(
      Dataset<Row> rows,
      ConnectionConfig connection,
      SourceDefinition source,
      List<String> primaryKey,
      List<Integer> partitions,
      String writeId) {
    StructType schema = rows.schema();
    StructType messageSchema = new StructType();
    for (StructField field : schema.fields()) {
      messageSchema = messageSchema.add(source.sourceColumn(field.name()), field.dataType(), true);
    }
    int[] keyIndexes = new int[primaryKey.size()];
    for (int i = 0; i < primaryKey.size(); i++) {
      keyIndexes[i] = schema.fieldIndex(primaryKey.get(i));
    }
    Task task =
        new Task(
            KafkaSources.topic(source),
            new HashMap<>(connection.kafkaClientProperties()),
            messageSchema,
            keyIndexes,
            partitions.stream().mapToInt(Integer::intValue).toArray(),
            "dataharness-" + writeId);
    List<Produced> produced = rows.javaRDD().mapPartitions(task).collect();
    return produced.stream().reduce(Produced.none(), Produced::plus);
  }

  /** One Spark partition's Kafka transaction. */
  private record Task(
      String topic,
      Map<String, String> properties,
      StructType messageSchema,
      int[] keyIndexes,
      int[] partitions,
      String transactionalPrefix)
      implements FlatMapFunction<Iterator<Row>, Produced>, Serializable {

    @Override
    public Iterator<Produced> call(Iterator<Row> input) {
      int partitionId = TaskContext.getPartitionId();
      Map<String, Object> config = new HashMap<>(properties);
      config.put(ProducerConfig.ACKS_CONFIG, "all");
      config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
      config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalPrefix + "-" + partitionId);
      config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      config.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
      if (!input.hasNext()) {
        return List.of(Produced.none()).iterator();
      }
      KafkaProducer<String, String> producer = new KafkaProducer<>(config);
      try {
        producer.initTransactions();
        producer.beginTransaction();
        try {
          List<Future<RecordMetadata>> sent = new ArrayList<>();
          long rows = 0;
          int next = partitionId;
          while (input.hasNext()) {
            Row row = input.next();
            Object[] values = new Object[row.length()];
            for (int i = 0; i < values.length; i++) {
              values[i] = row.get(i);
            }
            String json = new GenericRowWithSchema(values, messageSchema).json();
            String key = null;
            int partition;
            if (keyIndexes.length == 0) {
              partition = partitions[Math.floorMod(next++, partitions.length)];
            } else {
              StringBuilder keyText = new StringBuilder();
              for (int index : keyIndexes) {
                if (keyText.length() > 0) {
                  keyText.append('|');
                }
                keyText.append(values[index]);
              }
              key = keyText.toString();
              partition = partitions[Math.floorMod(key.hashCode(), partitions.length)];
            }
            sent.add(producer.send(new ProducerRecord<>(topic, partition, key, json)));
            rows++;
          }
          producer.flush();
          Map<Integer, Long> ends = new TreeMap<>();
          for (Future<RecordMetadata> future : sent) {
            RecordMetadata metadata = future.get();
            ends.merge(metadata.partition(), metadata.offset() + 1, Math::max);
          }
          producer.commitTransaction();
          return List.of(new Produced(ends, rows)).iterator();
        } catch (Exception e) {
          try {
            producer.abortTransaction();
          } catch (RuntimeException abort) {
            LOG.warn("Cannot abort the Kafka transaction of a failed append task", abort);
          }
          if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
          }
          throw new HarnessException(
              e, "Cannot produce to Kafka topic %s: %s", topic, e.getMessage());
        }
      } finally {
        producer.close(Duration.ofSeconds(10));
      }
    }
  }
}
