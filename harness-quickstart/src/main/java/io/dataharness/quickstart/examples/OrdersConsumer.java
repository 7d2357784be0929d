package io.dataharness.quickstart.examples;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.IntentPendingException;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.LockHeldException;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.StaleLockException;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.VersionInfo;
import java.net.InetAddress;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A plain Kafka consumer (no Spark) that takes part in a harness table through the Java API of
 * {@code harness-metadata}: it upserts order messages into the table's PostgreSQL source {@code
 * recent} and commits, per batch, the source's new state (a PostgreSQL snapshot and read timestamp)
 * together with its own consumer offsets (external state). It follows the write protocol every
 * harness writer follows:
 *
 * <ol>
 *   <li>fenced locks on the sources it changes, held by a {@link LeaseKeeper} (30 s leases renewed
 *       every 10 s in the background, so a killed consumer blocks its restart for at most 30 s);
 *   <li>read the latest version; if an interrupted run left its intent open, redo exactly that
 *       batch; otherwise plan a new one from the offsets in the version's external state;
 *   <li>before the upserts (which any later version could expose), record a write-ahead intent
 *       naming the batch: the store then refuses every other writer's commit to the source;
 *   <li>upsert the rows into PostgreSQL (idempotent: a redone batch does no harm);
 *   <li>commit the new read timestamp and offsets, completing the intent, with an idempotency key
 *       of {@link IdempotencyKeys#of fixed size} derived from exactly what the batch covers.
 * </ol>
 *
 * <p>This is the example of {@code docs/non-spark-writers.md}; it is compiled with the build so
 * that it stays true to the API. Messages are {@code key = order id, value = status}; the
 * PostgreSQL table is {@code public.orders (id BIGINT PRIMARY KEY, status TEXT)}.
 */
public final class OrdersConsumer {
  private static final TableIdentifier TABLE = TableIdentifier.of("orders", "orders");
  private static final String SOURCE = "recent";
  private static final String OFFSETS_KEY = "orders-consumer/offsets";
  private static final String INTENT_KIND = "upsert";
  private static final String WRITER = "orders-consumer";
  private static final Duration REDO_TIMEOUT = Duration.ofSeconds(30);

  private OrdersConsumer() {}

  /**
   * Runs one batch under {@code locks} (held on {@link #SOURCE}): returns the committed version, or
   * the current one if nothing arrived.
   *
   * @throws StaleLockException if the locks were lost (stop; acquire again and run the next batch)
   * @throws IntentPendingException if another writer's intent covers the source
   */
  public static long runBatch(
      HarnessStore store,
      LeaseKeeper locks,
      KafkaConsumer<String, String> consumer,
      String topic,
      String pgUrl)
      throws SQLException {
    // 2. resume: the offsets live in the harness version; an open intent is an unfinished batch
    TableVersion latest = store.readLatest(TABLE);
    Optional<Intent> open = latest.openIntent(SOURCE);
    Map<Integer, Long> from;
    Map<Integer, Long> to;
    List<ConsumerRecord<String, String>> records;
    String intentId;
    if (open.isPresent()) {
      Intent intent = open.get();
      if (!intent.kind().equals(INTENT_KIND)
          || !WRITER.equals(field(intent.payload(), "writer"))
          || !topic.equals(field(intent.payload(), "topic"))) {
        throw new IntentPendingException(
            intent,
            "Cannot upsert orders from topic '%s' into source '%s' of %s: the open intent %s covers"
                + " it; rerun the job that opened it so that it completes its batch, then restart"
                + " this consumer",
            topic,
            SOURCE,
            TABLE,
            intent.describe());
      }
      // an earlier run stopped between its intent and its commit: redo exactly its batch
      intentId = intent.id();
      from = parseOffsets(field(intent.payload(), "from"));
      to = parseOffsets(field(intent.payload(), "to"));
      records = readRange(consumer, topic, from, to);
    } else {
      from = parseOffsets(latest.externalState().get(OFFSETS_KEY));
      records = poll(consumer, topic, from);
      if (records.isEmpty()) {
        return latest.version();
      }
      to = new TreeMap<>(from);
      for (ConsumerRecord<String, String> record : records) {
        to.merge(record.partition(), record.offset() + 1, Math::max);
      }
      // 3. write-ahead intent: from here on the store refuses other writers' commits to the
      // source until this batch's commit completes the intent (or a rerun redoes it). Intent ids
      // are single-use: the fencing token makes this acquisition's id its own.
      intentId =
          IdempotencyKeys.of("orders-upsert", topic, formatOffsets(from), formatOffsets(to))
              + "-"
              + locks.lock(SOURCE).fencingToken();
      locks
          .present(store.newTransaction(TABLE))
          .operation("intent")
          .openIntent(intentId, INTENT_KIND, List.of(SOURCE), payload(topic, from, to))
          .idempotencyKey(IdempotencyKeys.of("orders-intent", intentId))
          .commit();
    }

    // 4. side effect: upserts by key, so redoing a batch does no harm
    locks.checkHeld();
    SourceState.Jdbc state = upsert(pgUrl, records);

    // 5. commit the new state and offsets, completing the intent, idempotently
    VersionInfo version =
        locks
            .present(store.newTransaction(TABLE))
            .operation("upsert")
            .setSourceState(SOURCE, state)
            .setExternalState(OFFSETS_KEY, formatOffsets(to))
            .completeIntent(intentId)
            .idempotencyKey(
                IdempotencyKeys.of(
                    "orders-consumer:" + topic, formatOffsets(from), formatOffsets(to)))
            .summary("rows-upserted", String.valueOf(records.size()))
            .commit();
    return version.version();
  }

  /**
   * Upserts the records and returns the source's state after them: a PostgreSQL snapshot taken
   * after the commit (it shows this transaction and every other committed one whole, and none in
   * part) with the clock reading taken with it.
   */
  private static SourceState.Jdbc upsert(String pgUrl, List<ConsumerRecord<String, String>> records)
      throws SQLException {
    try (Connection postgres = DriverManager.getConnection(pgUrl)) {
      postgres.setAutoCommit(false);
      try (PreparedStatement upsert =
          postgres.prepareStatement(
              "INSERT INTO public.orders (id, status) VALUES (?, ?)"
                  + " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status")) {
        for (ConsumerRecord<String, String> record : records) {
          upsert.setLong(1, Long.parseLong(record.key()));
          upsert.setString(2, record.value());
          upsert.addBatch();
        }
        upsert.executeBatch();
      }
      postgres.commit();
      try (Statement statement = postgres.createStatement();
          ResultSet now =
              statement.executeQuery("SELECT clock_timestamp(), pg_current_snapshot()::text")) {
        now.next();
        return new SourceState.Jdbc(
            now.getObject(1, OffsetDateTime.class).toInstant(), now.getString(2));
      }
    }
  }

  /** One poll from {@code from} on (partitions missing from it start at 0). */
  private static List<ConsumerRecord<String, String>> poll(
      KafkaConsumer<String, String> consumer, String topic, Map<Integer, Long> from) {
    List<TopicPartition> partitions =
        consumer.partitionsFor(topic).stream()
            .map(info -> new TopicPartition(topic, info.partition()))
            .toList();
    consumer.assign(partitions);
    for (TopicPartition partition : partitions) {
      consumer.seek(partition, from.getOrDefault(partition.partition(), 0L));
    }
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    consumer.poll(Duration.ofSeconds(2)).forEach(records::add);
    return records;
  }

  /** Exactly the records in [{@code from}, {@code to}) of each partition: an earlier batch. */
  private static List<ConsumerRecord<String, String>> readRange(
      KafkaConsumer<String, String> consumer,
      String topic,
      Map<Integer, Long> from,
      Map<Integer, Long> to) {
    List<TopicPartition> partitions =
        to.keySet().stream().map(partition -> new TopicPartition(topic, partition)).toList();
    consumer.assign(partitions);
    for (TopicPartition partition : partitions) {
      consumer.seek(partition, from.getOrDefault(partition.partition(), 0L));
    }
    List<ConsumerRecord<String, String>> records = new ArrayList<>();
    long deadline = System.nanoTime() + REDO_TIMEOUT.toNanos();
    while (partitions.stream().anyMatch(p -> consumer.position(p) < to.get(p.partition()))) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException(
            String.format(
                "Cannot redo the interrupted batch of topic '%s' (offsets %s to %s) into source"
                    + " '%s' of %s: its messages could not be read within %s; check that the"
                    + " topic still holds them",
                topic, formatOffsets(from), formatOffsets(to), SOURCE, TABLE, REDO_TIMEOUT));
      }
      for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofSeconds(1))) {
        if (record.offset() < to.get(record.partition())) {
          records.add(record);
        }
      }
    }
    return records;
  }

  /** The intent's payload: what {@link #readRange} needs to redo the batch. */
  static String payload(String topic, Map<Integer, Long> from, Map<Integer, Long> to) {
    return String.format(
        "{\"writer\":\"%s\",\"topic\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}",
        WRITER, topic, formatOffsets(from), formatOffsets(to));
  }

  /** A string field of the payload (the values written by {@link #payload} need no escaping). */
  static String field(String payload, String name) {
    Matcher matcher =
        Pattern.compile("\"" + Pattern.quote(name) + "\":\"([^\"]*)\"")
            .matcher(payload == null ? "" : payload);
    return matcher.find() ? matcher.group(1) : null;
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

  /**
   * {@code OrdersConsumer <metadata uri> <bootstrap servers> <topic> <postgres jdbc url>}: runs
   * batches until interrupted.
   */
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
    // one owner name per process: it names the holder in LockHeldException and in intents
    String owner =
        WRITER
            + "@"
            + InetAddress.getLocalHost().getHostName()
            + ":"
            + ProcessHandle.current().pid();
    try (HarnessStore store = HarnessStores.open(args[0], null, null);
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(properties)) {
      while (!Thread.currentThread().isInterrupted()) {
        // 1. fenced locks, renewed in the background until closed
        try (LeaseKeeper locks = LeaseKeeper.acquire(store, TABLE, owner, List.of(SOURCE))) {
          while (!Thread.currentThread().isInterrupted()) {
            System.out.println("version " + runBatch(store, locks, consumer, args[2], args[3]));
          }
        } catch (LockHeldException e) {
          // another process holds the lock (or a killed one whose lease has not ended yet)
          System.err.println(e.getMessage() + "; retrying in 10 s");
          Thread.sleep(Duration.ofSeconds(10).toMillis());
        } catch (StaleLockException e) {
          // the lease was lost (broken by an operator, or not renewed in time): whatever this
          // batch did is redone by the next acquisition, which finds its intent open
          System.err.println(e.getMessage() + "; acquiring the lock again");
        }
      }
    }
  }
}
