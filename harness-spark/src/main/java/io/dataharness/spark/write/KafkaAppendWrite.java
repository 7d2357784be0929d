package io.dataharness.spark.write;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.source.KafkaSources;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.connector.write.BatchWrite;
import org.apache.spark.sql.connector.write.DataWriter;
import org.apache.spark.sql.connector.write.DataWriterFactory;
import org.apache.spark.sql.connector.write.LogicalWriteInfo;
import org.apache.spark.sql.connector.write.PhysicalWriteInfo;
import org.apache.spark.sql.connector.write.Write;
import org.apache.spark.sql.connector.write.WriterCommitMessage;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An append to a Kafka write source. Each task produces its rows as JSON messages (harness columns
 * named as the source's own fields) in one Kafka transaction, committed when the task succeeds and
 * aborted when it fails, so a retried task leaves no duplicates for read-committed readers. The
 * driver then commits one harness version ({@code append}) that advances the source's {@code end}
 * past every offset the tasks produced (compare-and-set on the state read, retried on conflicts).
 *
 * <p>A version never records an end past the last stable offset (LSO): messages behind a
 * transaction still open (another append's tasks, any transactional producer) are not readable yet,
 * so a reader of such a version would fail or wait. The driver waits, up to the write option
 * {@value #STABLE_OFFSET_TIMEOUT_OPTION} (milliseconds, default {@value
 * #STABLE_OFFSET_TIMEOUT_DEFAULT}), for the LSO to pass every offset the tasks produced; what still
 * lies behind an open transaction after that becomes part of the table at the next sync or the next
 * append that records it.
 *
 * <p>Messages are keyed by the primary key (so every image of a key lands in one partition, in
 * order) and go only to the partitions the source covers. If the job fails after some tasks
 * committed, their messages stay in the topic and become part of the table at the next sync, as any
 * producer's messages do.
 */
final class KafkaAppendWrite implements Write, BatchWrite {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaAppendWrite.class);
  private static final long COMMIT_TIMEOUT_MILLIS = 120_000;

  /**
   * Write option: how long (milliseconds) the commit waits for transactions of other producers that
   * are open before the appended messages, so that the version can record them.
   */
  static final String STABLE_OFFSET_TIMEOUT_OPTION = "stable-offset-timeout-ms";

  /** Kafka's default producer transaction timeout: an abandoned transaction ends by then. */
  static final long STABLE_OFFSET_TIMEOUT_DEFAULT = 60_000;

  private final HarnessContext catalog;
  private final TableIdentifier table;
  private final SourceDefinition source;
  private final ConnectionConfig connection;
  private final LogicalWriteInfo info;
  private final List<String> primaryKey;
  private final List<Integer> partitions;

  KafkaAppendWrite(
      HarnessContext catalog,
      TableVersion version,
      SourceDefinition source,
      List<String> primaryKey,
      LogicalWriteInfo info) {
    this.catalog = catalog;
    this.table = version.table();
    this.source = source;
    this.connection = catalog.connection(table, source);
    this.info = info;
    this.primaryKey = primaryKey;
    this.partitions =
        new ArrayList<>(((SourceState.Kafka) version.state(source.id())).partitions().keySet());
    if (partitions.isEmpty()) {
      throw new HarnessException(
          "Cannot append to %s: its write source '%s' covers no Kafka partition",
          table, source.id());
    }
  }

  @Override
  public String description() {
    return "DataHarness append to " + table + " kafka source '" + source.id() + "'";
  }

  @Override
  public BatchWrite toBatch() {
    return this;
  }

  @Override
  public DataWriterFactory createBatchWriterFactory(PhysicalWriteInfo physical) {
    StructType schema = info.schema();
    StructType messageSchema = new StructType();
    int[] keyIndexes = new int[primaryKey.size()];
    for (StructField field : schema.fields()) {
      messageSchema = messageSchema.add(source.sourceColumn(field.name()), field.dataType(), true);
    }
    for (int i = 0; i < primaryKey.size(); i++) {
      keyIndexes[i] = schema.fieldIndex(primaryKey.get(i));
    }
    Map<String, String> properties = new HashMap<>(connection.kafkaClientProperties());
    return new Factory(
        KafkaSources.topic(source),
        properties,
        schema,
        messageSchema,
        keyIndexes,
        partitions.stream().mapToInt(Integer::intValue).toArray(),
        "dataharness-" + table + "-" + info.queryId());
  }

  @Override
  public boolean useCommitCoordinator() {
    return true;
  }

  @Override
  public void commit(WriterCommitMessage[] messages) {
    Map<Integer, Long> produced = new TreeMap<>();
    long rows = 0;
    for (WriterCommitMessage message : messages) {
      Produced task = (Produced) message;
      if (task == null) {
        continue;
      }
      task.ends().forEach((partition, end) -> produced.merge(partition, end, Math::max));
      rows += task.rows();
    }
    if (produced.isEmpty()) {
      LOG.info("Append to {} wrote no rows; nothing to commit", table);
      return;
    }
    String key = "append:" + table + ":" + source.id() + ":" + info.queryId();
    Map<Integer, Long> stable = stableEnds(produced);
    long deadline = System.currentTimeMillis() + COMMIT_TIMEOUT_MILLIS;
    for (int attempt = 1; ; attempt++) {
      TableVersion latest = catalog.store().readLatest(table);
      SourceState.Kafka state = (SourceState.Kafka) latest.state(source.id());
      SourceState.Kafka next = state;
      for (Map.Entry<Integer, Long> end : produced.entrySet()) {
        SourceState.OffsetRange range = state.partition(end.getKey());
        long start = range == null ? 0 : range.start();
        long before = range == null ? 0 : range.end();
        // never past the last stable offset: a reader of the version could not read beyond it
        long recordable = Math.min(end.getValue(), stable.get(end.getKey()));
        next =
            next.with(
                end.getKey(), new SourceState.OffsetRange(start, Math.max(before, recordable)));
      }
      if (next.equals(state)) {
        LOG.info("Append to {}: version {} already records its offsets", table, latest.version());
        return;
      }
      try {
        VersionInfo committed =
            catalog
                .store()
                .newTransaction(table)
                .operation("append")
                .idempotencyKey(key)
                .setSourceState(source.id(), state, next)
                .externalIds(
                    source.id(),
                    Map.of("produced-ends", produced.toString(), "stable-ends", stable.toString()))
                .summary("source", source.id())
                .summary("rows", String.valueOf(rows))
                .commit();
        LOG.info(
            "Appended {} rows to {} source '{}' (Kafka ends {}) as version {}",
            rows,
            table,
            source.id(),
            produced,
            committed.version());
        return;
      } catch (CommitConflictException conflict) {
        if (System.currentTimeMillis() > deadline) {
          throw new HarnessException(
              conflict,
              "Cannot commit the append to %s: source '%s' stayed busy for %d s (%s). The %d rows"
                  + " are in Kafka topic %s and become part of the table at the next sync",
              table,
              source.id(),
              COMMIT_TIMEOUT_MILLIS / 1000,
              conflict.getMessage(),
              rows,
              KafkaSources.topic(source));
        }
        sleep(Math.min(500, 20L * attempt));
      }
    }
  }

  /**
   * The last stable offsets of the partitions the tasks produced to, once they reach the produced
   * ends or the stable offset timeout passed (then with a warning naming what waits).
   */
  private Map<Integer, Long> stableEnds(Map<Integer, Long> produced) {
    long timeout =
        info.options().getLong(STABLE_OFFSET_TIMEOUT_OPTION, STABLE_OFFSET_TIMEOUT_DEFAULT);
    long deadline = System.currentTimeMillis() + Math.max(0, timeout);
    String topic = KafkaSources.topic(source);
    List<Integer> partitions = new ArrayList<>(produced.keySet());
    for (int attempt = 1; ; attempt++) {
      Map<Integer, Long> stable = KafkaSources.endOffsets(connection, topic, partitions);
      Map<Integer, Long> behind = new TreeMap<>();
      produced.forEach(
          (partition, end) -> {
            if (stable.get(partition) < end) {
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
            source.id(),
            topic,
            behind,
            produced,
            timeout);
        return stable;
      }
      sleep(Math.min(200, 10L * attempt));
    }
  }

  @Override
  public void abort(WriterCommitMessage[] messages) {
    LOG.warn(
        "Append to {} source '{}' failed; messages of tasks that committed stay in Kafka topic {}"
            + " and become part of the table at the next sync",
        table,
        source.id(),
        KafkaSources.topic(source));
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HarnessException(e, "Interrupted while committing an append");
    }
  }

  /** What one task produced: per partition the offset after its last message, and its rows. */
  record Produced(Map<Integer, Long> ends, long rows) implements WriterCommitMessage {}

  private record Factory(
      String topic,
      Map<String, String> properties,
      StructType schema,
      StructType messageSchema,
      int[] keyIndexes,
      int[] partitions,
      String transactionalPrefix)
      implements DataWriterFactory, Serializable {
    @Override
    public DataWriter<InternalRow> createWriter(int partitionId, long taskId) {
      return new Writer(this, transactionalPrefix + "-" + partitionId + "-" + taskId);
    }
  }

  private static final class Writer implements DataWriter<InternalRow> {
    private final Factory factory;
    private final KafkaProducer<String, String> producer;
    private final scala.Function1<Object, Object> toRow;
    private final List<Future<RecordMetadata>> sent = new ArrayList<>();
    private long rows;
    private int next;

    Writer(Factory factory, String transactionalId) {
      this.factory = factory;
      Map<String, Object> properties = new HashMap<>(factory.properties());
      properties.put(ProducerConfig.ACKS_CONFIG, "all");
      properties.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
      properties.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
      properties.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      properties.put(
          ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
      properties.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
      this.producer = new KafkaProducer<>(properties);
      producer.initTransactions();
      producer.beginTransaction();
      this.toRow = CatalystTypeConverters.createToScalaConverter(factory.schema());
      this.next = (int) (transactionalId.hashCode() & 0x7fffffff);
    }

    @Override
    public void write(InternalRow record) {
      org.apache.spark.sql.Row row = (org.apache.spark.sql.Row) toRow.apply(record);
      Object[] values = new Object[row.length()];
      for (int i = 0; i < values.length; i++) {
        values[i] = row.get(i);
      }
      String json = new GenericRowWithSchema(values, factory.messageSchema()).json();
      String key = null;
      int partition;
      if (factory.keyIndexes().length == 0) {
        partition = factory.partitions()[Math.floorMod(next++, factory.partitions().length)];
      } else {
        StringBuilder keyText = new StringBuilder();
        for (int index : factory.keyIndexes()) {
          if (keyText.length() > 0) {
            keyText.append('|');
          }
          keyText.append(values[index]);
        }
        key = keyText.toString();
        partition =
            factory.partitions()[Math.floorMod(key.hashCode(), factory.partitions().length)];
      }
      sent.add(producer.send(new ProducerRecord<>(factory.topic(), partition, key, json)));
      rows++;
    }

    @Override
    public WriterCommitMessage commit() {
      producer.flush();
      Map<Integer, Long> ends = new TreeMap<>();
      try {
        for (Future<RecordMetadata> future : sent) {
          RecordMetadata metadata = future.get();
          ends.merge(metadata.partition(), metadata.offset() + 1, Math::max);
        }
      } catch (Exception e) {
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
        }
        throw new HarnessException(
            e, "Cannot produce to Kafka topic %s: %s", factory.topic(), e.getMessage());
      }
      producer.commitTransaction();
      return new Produced(ends, rows);
    }

    @Override
    public void abort() {
      try {
        producer.abortTransaction();
      } catch (RuntimeException e) {
        LOG.warn("Cannot abort the Kafka transaction of a failed append task", e);
      }
    }

    @Override
    public void close() {
      producer.close(java.time.Duration.ofSeconds(10));
    }
  }
}
