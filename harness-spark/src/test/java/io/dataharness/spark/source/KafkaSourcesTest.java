package io.dataharness.spark.source;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.SourceState.OffsetRange;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.testing.TestingKafka;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.stream.IntStream;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KafkaSourcesTest {
  private static TestingKafka kafka;
  private static ConnectionConfig connection;

  @BeforeAll
  static void startKafka() {
    kafka = TestingKafka.shared();
    connection =
        new ConnectionConfig(
            "events_kafka",
            SourceKind.KAFKA,
            Map.of("bootstrap-servers", kafka.bootstrapServers()));
  }

  @Test
  void earliestStartCoversEveryRetainedMessageOfEveryPartition() {
    String topic = newTopic(3);
    kafka.produceJson(topic, 0, messages(5));
    kafka.produceJson(topic, 2, messages(2));
    kafka.deleteRecordsBefore(topic, 0, 1);

    SourceState.Kafka state = KafkaSources.initialState(connection, source(topic, Map.of()));

    assertEquals(
        SourceState.Kafka.of(
            Map.of(0, new OffsetRange(1, 5), 1, new OffsetRange(0, 0), 2, new OffsetRange(0, 2))),
        state);
    assertEquals(6, state.offsetCount());
  }

  @Test
  void latestStartIsEmptyAtTheCurrentEnd() {
    String topic = newTopic(2);
    kafka.produceJson(topic, 1, messages(4));

    SourceState.Kafka state =
        KafkaSources.initialState(connection, source(topic, Map.of("start", "latest")));

    assertEquals(
        SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 0), 1, new OffsetRange(4, 4))), state);
  }

  @Test
  void unknownStartIsRefusedWithTheAllowedValues() {
    String topic = newTopic(1);

    ValidationException error =
        assertThrows(
            ValidationException.class,
            () -> KafkaSources.initialState(connection, source(topic, Map.of("start", "newest"))));

    assertContains(error, "newest", "earliest", "latest", "source.events.start");
  }

  @Test
  void partitionSubsetCoversOnlyTheNamedPartitions() {
    String topic = newTopic(3);
    kafka.produceJson(topic, 0, messages(3));
    kafka.produceJson(topic, 1, messages(7));
    kafka.produceJson(topic, 2, messages(2));
    SourceDefinition source = source(topic, Map.of("partitions", "2, 0"));

    assertEquals(List.of(0, 2), KafkaSources.partitions(connection, source));
    assertEquals(List.of(0, 1, 2), KafkaSources.partitions(connection, source(topic, Map.of())));
    assertEquals(
        SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 3), 2, new OffsetRange(0, 2))),
        KafkaSources.initialState(connection, source));
  }

  @Test
  void partitionSubsetNamingMissingPartitionsIsRefused() {
    String topic = newTopic(2);

    ValidationException missing =
        assertThrows(
            ValidationException.class,
            () -> KafkaSources.partitions(connection, source(topic, Map.of("partitions", "1,5"))));
    assertContains(missing, "[5]", topic, "[0, 1]", "source.events.partitions");

    ValidationException notNumbers =
        assertThrows(
            ValidationException.class,
            () -> KafkaSources.partitions(connection, source(topic, Map.of("partitions", "0;1"))));
    assertContains(notNumbers, "0;1", "source.events.partitions");
  }

  @Test
  void missingTopicIsAClearError() {
    String topic = "missing_" + UUID.randomUUID();

    SourceUnavailableException error =
        assertThrows(
            SourceUnavailableException.class,
            () -> KafkaSources.initialState(connection, source(topic, Map.of())));

    assertContains(error, topic, "does not exist", kafka.bootstrapServers());
  }

  @Test
  void missingTopicOptionIsAClearError() {
    ValidationException error =
        assertThrows(
            ValidationException.class,
            () ->
                KafkaSources.initialState(
                    connection,
                    new SourceDefinition("events", SourceKind.KAFKA, "events_kafka", Map.of())));

    assertContains(error, "source.events.topic");
  }

  @Test
  void unreachableBrokerFailsQuicklyNamingTheBootstrapServers() {
    ConnectionConfig unreachable =
        new ConnectionConfig(
            "far",
            SourceKind.KAFKA,
            Map.of("bootstrap-servers", "localhost:1", "kafka.default.api.timeout.ms", "1500"));

    long started = System.nanoTime();
    SourceUnavailableException error =
        assertThrows(
            SourceUnavailableException.class,
            () -> KafkaSources.partitions(unreachable, source("events", Map.of())));

    assertContains(error, "localhost:1", "connection.far.bootstrap-servers");
    assertTrue(
        Duration.ofNanos(System.nanoTime() - started).compareTo(Duration.ofSeconds(10)) < 0,
        "took too long to fail");
  }

  @Test
  void retentionGapFailsNamingPartitionAndMissingRange() {
    String topic = newTopic(2);
    kafka.produceJson(topic, 0, messages(12));
    kafka.produceJson(topic, 1, messages(2));
    SourceState.Kafka state =
        SourceState.Kafka.of(Map.of(0, new OffsetRange(3, 12), 1, new OffsetRange(0, 2)));
    KafkaSources.checkRetained(connection, topic, state, "source 'events' of logs.t at version 4");

    kafka.deleteRecordsBefore(topic, 0, 7);

    SourceUnavailableException error =
        assertThrows(
            SourceUnavailableException.class,
            () ->
                KafkaSources.checkRetained(
                    connection, topic, state, "source 'events' of logs.t at version 4"));
    assertContains(
        error,
        "Cannot read source 'events' of logs.t at version 4",
        "Kafka topic "
            + topic
            + " partition 0 no longer retains offsets [3, 7) of the range [3, 12)",
        "earliest retained offset is 7");
    assertTrue(!error.getMessage().contains("partition 1"), error.getMessage());
    assertEquals(
        Map.of(0, 7L, 1, 0L), KafkaSources.earliestOffsets(connection, topic, List.of(0, 1)));
  }

  @Test
  void retentionBelowTheStateStartOrOfAnEmptyRangeIsFine() {
    String topic = newTopic(1);
    kafka.produceJson(topic, 0, messages(10));
    kafka.deleteRecordsBefore(topic, 0, 6);

    KafkaSources.checkRetained(
        connection, topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(6, 10))), "v2");
    KafkaSources.checkRetained(
        connection, topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(2, 2))), "v1");
  }

  @Test
  void endOffsetsExcludeOpenTransactions() {
    String topic = newTopic(1);
    kafka.produceJson(topic, 0, messages(2));
    try (KafkaProducer<String, String> producer = transactionalProducer()) {
      producer.initTransactions();
      producer.beginTransaction();
      for (String message : messages(3)) {
        producer.send(new ProducerRecord<>(topic, 0, null, message));
      }
      producer.flush();

      assertEquals(Map.of(0, 2L), KafkaSources.endOffsets(connection, topic, List.of(0)));
      assertEquals(
          SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 2))),
          KafkaSources.initialState(connection, source(topic, Map.of())));

      producer.commitTransaction();
    }
    // three messages and the commit marker, which the coordinator writes after the commit returns
    await()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () ->
                assertEquals(
                    Map.of(0, 6L), KafkaSources.endOffsets(connection, topic, List.of(0))));
  }

  @Test
  void liveStatePicksUpAddedPartitionsFromTheirEarliestOffsetUnlessPartitionsAreListed() {
    String topic = newTopic(2);
    kafka.produceJson(topic, 0, messages(3));
    SourceState.Kafka recorded =
        SourceState.Kafka.of(Map.of(0, new OffsetRange(1, 2), 1, new OffsetRange(0, 0)));
    kafka.addPartitions(topic, 4);
    kafka.produceJson(topic, 2, messages(4));
    kafka.produceJson(topic, 3, messages(2));
    kafka.deleteRecordsBefore(topic, 3, 1);

    assertEquals(
        SourceState.Kafka.of(
            Map.of(
                0, new OffsetRange(1, 3),
                1, new OffsetRange(0, 0),
                2, new OffsetRange(0, 4),
                3, new OffsetRange(1, 2))),
        KafkaSources.liveState(connection, source(topic, Map.of()), recorded));
    // an explicit list keeps the source to its partitions
    assertEquals(
        SourceState.Kafka.of(Map.of(0, new OffsetRange(1, 3), 1, new OffsetRange(0, 0))),
        KafkaSources.liveState(connection, source(topic, Map.of("partitions", "0,1")), recorded));
    // ends never move backwards
    SourceState.Kafka ahead = SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 9)));
    assertEquals(
        SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 9))),
        KafkaSources.liveState(connection, source(topic, Map.of("partitions", "0")), ahead));
  }

  @Test
  void liveStateEndsAtTheLastStableOffset() {
    String topic = newTopic(1);
    kafka.produceJson(topic, 0, messages(2));
    SourceState.Kafka recorded = SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 0)));
    try (KafkaProducer<String, String> producer = transactionalProducer()) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, null, messages(1).get(0)));
      producer.flush();
      kafka.addPartitions(topic, 2);
      producer.send(new ProducerRecord<>(topic, 1, null, messages(1).get(0)));
      producer.flush();
      kafka.produceJson(topic, 0, messages(1));

      // the open transaction holds both partitions at its first message
      assertEquals(
          SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 2), 1, new OffsetRange(0, 0))),
          KafkaSources.liveState(connection, source(topic, Map.of()), recorded));
      producer.abortTransaction();
    }
    // two messages, the aborted one, the plain one, and the abort marker
    await()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () ->
                assertEquals(
                    SourceState.Kafka.of(
                        Map.of(0, new OffsetRange(0, 5), 1, new OffsetRange(0, 2))),
                    KafkaSources.liveState(connection, source(topic, Map.of()), recorded)));
  }

  private static KafkaProducer<String, String> transactionalProducer() {
    Properties properties = new Properties();
    properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    properties.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "harness-test-" + UUID.randomUUID());
    properties.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    properties.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    return new KafkaProducer<>(properties);
  }

  private static String newTopic(int partitions) {
    String topic = "events_" + UUID.randomUUID().toString().substring(0, 8);
    kafka.createTopic(topic, partitions);
    return topic;
  }

  private static SourceDefinition source(String topic, Map<String, String> extra) {
    Map<String, String> options = new HashMap<>(extra);
    options.put("topic", topic);
    return new SourceDefinition("events", SourceKind.KAFKA, "events_kafka", options);
  }

  private static List<String> messages(int count) {
    return IntStream.range(0, count).mapToObj(i -> "{\"id\": " + i + "}").toList();
  }

  private static void assertContains(Exception error, String... parts) {
    for (String part : parts) {
      assertTrue(
          error.getMessage().contains(part),
          () -> "expected '" + part + "' in: " + error.getMessage());
    }
  }
}
