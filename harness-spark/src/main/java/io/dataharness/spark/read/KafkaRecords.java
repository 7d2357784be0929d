package io.dataharness.spark.read;

import io.dataharness.metadata.Causes;
import io.dataharness.metadata.HarnessException;
import io.dataharness.spark.source.KafkaSources;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SQLContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.kafka010.KafkaOffsetRange;
import org.apache.spark.sql.kafka010.KafkaRecordToRowConverter;
import org.apache.spark.sql.kafka010.KafkaSourceProvider;
import org.apache.spark.sql.kafka010.KafkaSourceRDD;
import org.apache.spark.sql.sources.BaseRelation;
import org.apache.spark.sql.sources.TableScan;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;

/**
 * A Kafka source's records at offsets the harness already resolved: the rows of Spark's batch Kafka
 * source ({@link #SCHEMA}), read by Spark's own {@code KafkaSourceRDD} (its consumer pool, fetched
 * data cache and data-loss checks) but planned without Spark's {@code KafkaRelation}. That relation
 * opens an admin client at each query's planning to look up offsets that are already exact here
 * (the version's, or the live ends the harness looked up with its shared client): a few broker
 * round trips and a client start per query, the largest part of a small read's planning. A failure
 * while reading names the source, version, topic, partition and offsets, like the harness's own
 * reader.
 */
final class KafkaRecords extends BaseRelation implements TableScan {
  /** The columns of Spark's batch Kafka source, without headers (Spark's own definition). */
  static final StructType SCHEMA = KafkaRecordToRowConverter.kafkaSchema(false);

  private final SQLContext sqlContext;
  private final List<KafkaInputPartition> ranges;
  private final Duration timeout;

  /**
   * @param ranges one partition's offsets [start, end) each, of one source read ({@link
   *     KafkaInputPartition#raw})
   */
  KafkaRecords(SparkSession spark, List<KafkaInputPartition> ranges) {
    this.sqlContext = spark.sqlContext();
    this.ranges = List.copyOf(ranges);
    this.timeout = KafkaSources.apiTimeout(ranges.get(0).clientProperties());
  }

  @Override
  public SQLContext sqlContext() {
    return sqlContext;
  }

  @Override
  public StructType schema() {
    return SCHEMA;
  }

  /** Rows are {@link InternalRow}s already. */
  @Override
  public boolean needConversion() {
    return false;
  }

  @Override
  @SuppressWarnings("unchecked")
  public RDD<Row> buildScan() {
    Map<String, String> properties = new TreeMap<>(ranges.get(0).clientProperties());
    KafkaSources.forBoundedReads(properties);
    // One consumer group per connection's settings, not per query as Spark's Kafka reader does:
    // Spark's executors pool consumers by group and partition, so later reads of the partition
    // reuse an open consumer instead of starting one. Safe because the harness assigns partitions
    // and seeks (the group never coordinates or commits); the fingerprint keeps consumers of
    // different clusters or credentials apart. A group the connection names wins.
    Map<String, Object> executorParams =
        KafkaSourceProvider.kafkaParamsForExecutors(
            scala.collection.immutable.Map.from(CollectionConverters.asScala(properties)),
            "dataharness-scan-"
                + io.dataharness.metadata.Secrets.fingerprint(properties).substring(0, 16));
    List<KafkaOffsetRange> offsetRanges =
        ranges.stream()
            .map(
                range ->
                    new KafkaOffsetRange(
                        new TopicPartition(range.topic(), range.partition()),
                        range.start(),
                        range.end(),
                        Option.empty()))
            .toList();
    // failOnDataLoss: offsets of the version that retention deleted fail the read
    KafkaSourceRDD records =
        new KafkaSourceRDD(
            sqlContext.sparkContext(),
            executorParams,
            CollectionConverters.asScala(offsetRanges).toSeq(),
            timeout.toMillis(),
            true);
    RDD<?> rows =
        records.toJavaRDD().mapPartitionsWithIndex(new ToRows(ranges, timeout), false).rdd();
    return (RDD<Row>) rows;
  }

  /** What {@code EXPLAIN} and the Spark UI show: the source, version, topic and offsets. */
  @Override
  public String toString() {
    KafkaInputPartition first = ranges.get(0);
    return "DataHarnessKafka["
        + first.describe()
        + ", topic "
        + first.topic()
        + " "
        + ranges.stream()
            .map(
                range ->
                    "partition "
                        + range.partition()
                        + " ["
                        + range.start()
                        + ", "
                        + range.end()
                        + ")")
            .collect(Collectors.joining(", "))
        + "]";
  }

  /** Spark's Kafka rows of one range's records; a failure names the range. */
  private record ToRows(List<KafkaInputPartition> ranges, Duration timeout)
      implements Function2<
          Integer, Iterator<ConsumerRecord<byte[], byte[]>>, Iterator<InternalRow>> {
    @Override
    public Iterator<InternalRow> call(
        Integer index, Iterator<ConsumerRecord<byte[], byte[]>> records) {
      KafkaInputPartition range = ranges.get(index);
      return new Iterator<>() {
        private long position = range.start();

        @Override
        public boolean hasNext() {
          try {
            return records.hasNext();
          } catch (Exception e) {
            throw failed(range, position, e);
          }
        }

        @Override
        public InternalRow next() {
          ConsumerRecord<byte[], byte[]> record;
          try {
            record = records.next();
          } catch (Exception e) {
            throw failed(range, position, e);
          }
          position = record.offset() + 1;
          // SCHEMA's columns, as Spark's KafkaRecordToRowConverter fills them
          return new GenericInternalRow(
              new Object[] {
                record.key(),
                record.value(),
                UTF8String.fromString(record.topic()),
                record.partition(),
                record.offset(),
                record.timestamp() * 1_000L,
                record.timestampType().id
              });
        }
      };
    }

    private RuntimeException failed(KafkaInputPartition range, long position, Exception e) {
      TaskContext task = TaskContext.get();
      if (task != null && task.isInterrupted()) {
        // cancelled (a LIMIT that has its rows, a cancelled job): not a failure of the read
        return rethrow(e);
      }
      if (Causes.first(
              e,
              Throwable.class,
              cause ->
                  cause instanceof java.util.concurrent.TimeoutException
                      || cause instanceof org.apache.kafka.common.errors.TimeoutException)
          .isPresent()) {
        return KafkaPartitionReader.brokerLost(range, timeout, position, e);
      }
      return new HarnessException(
          e,
          "Cannot read %s: reading topic %s partition %d offsets [%d, %d) failed at offset %d: %s",
          range.describe(),
          range.topic(),
          range.partition(),
          range.start(),
          range.end(),
          position,
          e.getMessage());
    }

    @SuppressWarnings("unchecked")
    private static <E extends Exception> RuntimeException rethrow(Exception e) throws E {
      throw (E) e;
    }
  }
}
