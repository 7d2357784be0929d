package io.dataharness.quickstart.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.IntentPendingException;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * The Java API example on real services (embedded PostgreSQL for the source and the metadata store,
 * an in-process Kafka broker): batches commit offsets and read timestamps, and a run stopped
 * between its intent and its commit blocks other writers until a rerun (under another owner) redoes
 * exactly its batch.
 */
class OrdersConsumerTest {
  private static final TableIdentifier TABLE = TableIdentifier.of("orders", "orders");

  private final TestingKafka kafka = TestingKafka.shared();
  private final String topic = "orders_" + UUID.randomUUID().toString().replace("-", "");

  @Test
  void batchesCommitAndAnInterruptedBatchIsRedoneExactlyByTheNextRun() throws Exception {
    TestingDatabase sources = TestingPostgres.shared().createDatabase("orders_source");
    TestingDatabase metadata = TestingPostgres.shared().createDatabase("orders_meta");
    try (Connection postgres = sources.connect();
        Statement statement = postgres.createStatement()) {
      statement.execute("CREATE TABLE public.orders (id BIGINT PRIMARY KEY, status TEXT)");
    }
    String pgUrl = withCredentials(sources);
    kafka.createTopic(topic, 2);
    produce(1, 10, "new");

    try (HarnessStore store =
            HarnessStores.open(metadata.jdbcUrl(), metadata.user(), metadata.password());
        KafkaConsumer<String, String> consumer = consumer()) {
      store.createNamespace("orders", Map.of());
      store.createTable(
          TableDefinition.builder(
                  TABLE,
                  Schema.of(
                      Field.required(1, "id", FieldType.LONG),
                      Field.optional(2, "status", FieldType.STRING)))
              .primaryKey(List.of("id"))
              .source(
                  new SourceDefinition(
                      "recent", SourceKind.JDBC, "pg", Map.of("table", "public.orders")),
                  new SourceState.Jdbc(Instant.EPOCH))
              .build());

      // 1. batches until the topic is consumed: every order once, offsets in the version
      try (LeaseKeeper locks = LeaseKeeper.acquire(store, TABLE, "consumer-a", List.of("recent"))) {
        runUntil(store, locks, consumer, pgUrl, Map.of(0, 5L, 1, 5L));
      }
      assertEquals(statuses(1, 10, "new"), rows(pgUrl));
      TableVersion consumed = store.readLatest(TABLE);
      assertTrue(consumed.openIntents().isEmpty());
      SourceState.Jdbc state = (SourceState.Jdbc) consumed.state("recent");
      assertTrue(state.readTimestamp().isAfter(Instant.EPOCH));
      assertTrue(state.pgSnapshot().isPresent());

      // 2. a run stops after recording its intent, before its upserts and commit (a bad URL here)
      produce(1, 4, "shipped");
      try (LeaseKeeper locks = LeaseKeeper.acquire(store, TABLE, "consumer-a", List.of("recent"))) {
        assertThrows(
            SQLException.class,
            () -> {
              while (true) {
                OrdersConsumer.runBatch(
                    store, locks, consumer, topic, "jdbc:postgresql://127.0.0.1:1/none");
              }
            });
      }
      TableVersion interrupted = store.readLatest(TABLE);
      Intent intent = interrupted.openIntent("recent").orElseThrow();
      assertEquals("upsert", intent.kind());
      assertEquals("consumer-a", intent.owner());
      Map<Integer, Long> batchEnd =
          OrdersConsumer.parseOffsets(OrdersConsumer.field(intent.payload(), "to"));

      // 3. meanwhile the store refuses other writers' commits to the source, naming the intent
      try (LeaseKeeper other = LeaseKeeper.acquire(store, TABLE, "sync", List.of("recent"))) {
        IntentPendingException refused =
            assertThrows(
                IntentPendingException.class,
                () ->
                    other
                        .present(store.newTransaction(TABLE))
                        .operation("sync")
                        .setSourceState("recent", new SourceState.Jdbc(Instant.now()))
                        .commit());
        assertEquals(intent.id(), refused.intent().id());
      }

      // 4. more messages arrive; the rerun (another process, another owner) redoes exactly the
      // interrupted batch, completes its intent, and then goes on with the new messages
      produce(5, 6, "shipped");
      try (LeaseKeeper locks = LeaseKeeper.acquire(store, TABLE, "consumer-b", List.of("recent"))) {
        long redone = OrdersConsumer.runBatch(store, locks, consumer, topic, pgUrl);
        TableVersion afterRedo = store.readVersion(TABLE, redone);
        assertTrue(afterRedo.openIntents().isEmpty());
        assertEquals(
            OrdersConsumer.formatOffsets(batchEnd),
            afterRedo.externalState().get("orders-consumer/offsets"));
        runUntil(store, locks, consumer, pgUrl, Map.of(0, 8L, 1, 8L));
      }
      Map<Long, String> expected = statuses(1, 10, "new");
      expected.putAll(statuses(1, 6, "shipped"));
      assertEquals(expected, rows(pgUrl));
      assertTrue(store.readLatest(TABLE).openIntents().isEmpty());

      // 5. another kind of writer's open intent: the consumer refuses to touch the source, naming
      // it, until that intent is completed (here abandoned by an operator under the lock)
      try (LeaseKeeper mover = LeaseKeeper.acquire(store, TABLE, "mover", List.of("recent"))) {
        mover
            .present(store.newTransaction(TABLE))
            .openIntent("move-1", "move", List.of("recent"), "{}")
            .commit();
      }
      produce(7, 7, "shipped");
      try (LeaseKeeper locks = LeaseKeeper.acquire(store, TABLE, "consumer-b", List.of("recent"))) {
        IntentPendingException refused =
            assertThrows(
                IntentPendingException.class,
                () -> OrdersConsumer.runBatch(store, locks, consumer, topic, pgUrl));
        assertEquals("move-1", refused.intent().id());
        locks.present(store.newTransaction(TABLE)).completeIntent("move-1").commit();
        runUntil(store, locks, consumer, pgUrl, Map.of(0, 8L, 1, 9L));
      }
      assertEquals("shipped", rows(pgUrl).get(7L));
    }
  }

  /** Runs batches until the committed offsets reach {@code end}. */
  private void runUntil(
      HarnessStore store,
      LeaseKeeper locks,
      KafkaConsumer<String, String> consumer,
      String pgUrl,
      Map<Integer, Long> end)
      throws SQLException {
    String wanted = OrdersConsumer.formatOffsets(end);
    for (int attempt = 0; attempt < 100; attempt++) {
      long version = OrdersConsumer.runBatch(store, locks, consumer, topic, pgUrl);
      String offsets =
          store.readVersion(TABLE, version).externalState().get("orders-consumer/offsets");
      if (wanted.equals(offsets)) {
        return;
      }
    }
    throw new AssertionError("The consumer did not reach offsets " + wanted);
  }

  /** Orders {@code from..to} with {@code status}, even ids to partition 0 and odd ids to 1. */
  private void produce(long from, long to, String status) {
    List<ProducerRecord<String, String>> records = new ArrayList<>();
    for (long id = from; id <= to; id++) {
      records.add(new ProducerRecord<>(topic, (int) (id % 2), String.valueOf(id), status));
    }
    kafka.produceJson(topic, records);
  }

  private static Map<Long, String> statuses(long from, long to, String status) {
    Map<Long, String> statuses = new TreeMap<>();
    for (long id = from; id <= to; id++) {
      statuses.put(id, status);
    }
    return statuses;
  }

  private static Map<Long, String> rows(String pgUrl) throws SQLException {
    Map<Long, String> rows = new TreeMap<>();
    try (Connection postgres = java.sql.DriverManager.getConnection(pgUrl);
        Statement statement = postgres.createStatement();
        ResultSet result = statement.executeQuery("SELECT id, status FROM public.orders")) {
      while (result.next()) {
        rows.put(result.getLong(1), result.getString(2));
      }
    }
    return rows;
  }

  private KafkaConsumer<String, String> consumer() {
    Properties properties = new Properties();
    properties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    properties.put(
        ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    properties.put(
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    return new KafkaConsumer<>(properties);
  }

  private static String withCredentials(TestingDatabase database) {
    return database.jdbcUrl()
        + (database.jdbcUrl().contains("?") ? "&" : "?")
        + "user="
        + URLEncoder.encode(database.user(), StandardCharsets.UTF_8)
        + "&password="
        + URLEncoder.encode(database.password(), StandardCharsets.UTF_8);
  }
}
