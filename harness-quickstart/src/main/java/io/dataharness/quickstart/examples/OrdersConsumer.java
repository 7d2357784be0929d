package io.dataharness.quickstart.examples;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.VersionInfo;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A plain Kafka consumer (no Spark) that takes part in a harness table: it upserts order messages
 * into the table's PostgreSQL source {@code recent} and commits, per batch, the source's new read
 * timestamp together with its own consumer offsets (external state), under the source's lock and
 * with an idempotency key. This is the example of {@code docs/non-spark-writers.md}; it is compiled
 * with the build so that it stays true to the API.
 *
 * <p>Messages are {@code key = order id, value = status}; the PostgreSQL table is {@code
 * public.orders (id BIGINT PRIMARY KEY, status TEXT)}.
 */
public final class OrdersConsumer {
  private static final TableIdentifier TABLE = TableIdentifier.of("orders", "orders");
  private static final String SOURCE = "recent";
  private static final String OFFSETS_KEY = "orders-consumer/offsets";
  private static final Duration LEASE = Duration.ofMinutes(1);

  private OrdersConsumer() {}

  /** Runs one batch: returns the committed version, or the current one if nothing arrived. */
  public static long runBatch(
      HarnessStore store, KafkaConsumer<String, String> consumer, String topic, String pgUrl)
      throws SQLException {
    // 1. acquire the source's lock: its fencing token fences out any earlier holder
    SourceLock lock = store.acquireLock(TABLE, SOURCE, "orders-consumer-1", LEASE);
    try {
      // 2. resume exactly after the last committed batch: the offsets live in the harness version
      TableVersion latest = store.readLatest(TABLE);
      Map<Integer, Long> offsets = parseOffsets(latest.externalState().get(OFFSETS_KEY));
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic).stream()
              .map(info -> new TopicPartition(topic, info.partition()))
              .toList();
      consumer.assign(partitions);
      for (TopicPartition partition : partitions) {
        consumer.seek(partition, offsets.getOrDefault(partition.partition(), 0L));
      }
      ConsumerRecords<String, String> batch = consumer.poll(Duration.ofSeconds(2));
      if (batch.isEmpty()) {
        return latest.version();
      }

      // 3. write to the source (upserts are idempotent, so a replayed batch does no harm)
      Instant readTimestamp;
      String snapshot;
      try (Connection postgres = DriverManager.getConnection(pgUrl)) {
        postgres.setAutoCommit(false);
        try (PreparedStatement upsert =
            postgres.prepareStatement(
                "INSERT INTO public.orders (id, status) VALUES (?, ?)"
                    + " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status")) {
          for (ConsumerRecord<String, String> record : batch) {
            upsert.setLong(1, Long.parseLong(record.key()));
            upsert.setString(2, record.value());
            upsert.addBatch();
            offsets.put(record.partition(), record.offset() + 1);
          }
          upsert.executeBatch();
        }
        postgres.commit();
        // a snapshot taken after the commit shows every committed transaction whole (this one
        // and the application's), and none in part; the clock reading is kept with it
        try (Statement statement = postgres.createStatement();
            ResultSet now =
                statement.executeQuery("SELECT clock_timestamp(), pg_current_snapshot()::text")) {
          now.next();
          readTimestamp = now.getObject(1, OffsetDateTime.class).toInstant();
          snapshot = now.getString(2);
        }
      }

      // 4. commit: new source state + consumer offsets, under the lock, idempotently
      String newOffsets = formatOffsets(offsets);
      VersionInfo version =
          store
              .newTransaction(TABLE)
              .operation("upsert")
              .withLock(lock)
              .setSourceState(SOURCE, new SourceState.Jdbc(readTimestamp, snapshot))
              .setExternalState(OFFSETS_KEY, newOffsets)
              .idempotencyKey("orders-consumer:" + topic + ":" + newOffsets)
              .summary("rows-upserted", String.valueOf(batch.count()))
              .commit();
      return version.version();
    } finally {
      store.releaseLock(lock);
    }
  }

  static Map<Integer, Long> parseOffsets(String text) {
    Map<Integer, Long> offsets = new TreeMap<>();
    if (text != null && !text.isBlank()) {
      for (String entry : text.split(",")) {
        String[] parts = entry.split(":");
        offsets.put(Integer.parseInt(parts[0]), Long.parseLong(parts[1]));
      }
    }
    return offsets;
  }

  static String formatOffsets(Map<Integer, Long> offsets) {
    StringBuilder text = new StringBuilder();
    new TreeMap<>(offsets)
        .forEach(
            (partition, offset) ->
                text.append(text.isEmpty() ? "" : ",")
                    .append(partition)
                    .append(':')
                    .append(offset));
    return text.toString();
  }

  /** {@code OrdersConsumer <metadata uri> <bootstrap servers> <topic> <postgres jdbc url>}. */
  public static void main(String[] args) throws Exception {
    Properties properties = new Properties();
    properties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
    properties.put(
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false"); // offsets live in the harness
    properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    properties.put(
        ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    properties.put(
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    try (HarnessStore store = HarnessStores.open(args[0], null, null);
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(properties)) {
      while (!Thread.currentThread().isInterrupted()) {
        System.out.println("version " + runBatch(store, consumer, args[2], args[3]));
      }
    }
  }
}
