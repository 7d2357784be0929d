package io.dataharness.testing;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kafka broker for tests, started once per JVM, with helpers to create topics, produce JSON
 * messages and read or trim offsets.
 *
 * <p>By default an in-process KRaft broker (Kafka's {@code KafkaClusterTestKit}, one combined
 * node); with {@code HARNESS_TEST_KAFKA_BOOTSTRAP} set, an existing broker at those bootstrap
 * servers. If the broker cannot start or does not answer, {@link #shared()} throws an exception
 * that says what to set.
 *
 * <p>Needs Kafka's broker and test jars on the class path (optional dependencies of
 * harness-testing: see its pom).
 */
public final class TestingKafka implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TestingKafka.class);
  private static final SharedInstance<TestingKafka> SHARED =
      new SharedInstance<>("TestingKafka", TestingKafka::start);
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final String origin;
  private final String bootstrapServers;
  private final AutoCloseable broker;
  private final Admin admin;
  private final KafkaProducer<String, String> producer;

  private TestingKafka(String origin, String bootstrapServers, AutoCloseable broker) {
    this.origin = origin;
    this.bootstrapServers = bootstrapServers;
    this.broker = broker;
    this.admin = Admin.create(adminProperties(bootstrapServers));
    this.producer = new KafkaProducer<>(producerProperties(bootstrapServers));
  }

  /**
   * The broker shared by every test in this JVM, started on first call.
   *
   * @throws IllegalStateException if the in-process broker hit a fatal fault (it asked to halt the
   *     JVM): later tests fail with that fault rather than with a broken broker
   */
  public static synchronized TestingKafka shared() {
    InProcessKafkaBroker.haltRequest()
        .ifPresent(
            request -> {
              throw new IllegalStateException(
                  "Cannot use the in-process Kafka broker: " + request.getMessage(), request);
            });
    return SHARED.get();
  }

  /**
   * A broker of its own, in this JVM, not shared: a test may stop it ({@link #stopBroker()}) and
   * start it again ({@link #startBroker()}) at the same bootstrap servers. The caller closes it.
   */
  public static TestingKafka startDedicated() {
    try (ServerSocket free = new ServerSocket(0)) {
      int port = free.getLocalPort();
      free.close();
      InProcessKafkaBroker broker = InProcessKafkaBroker.start(port);
      return new TestingKafka(
          "dedicated in-process KRaft broker (Kafka " + AppInfoParser.getVersion() + ")",
          broker.bootstrapServers(),
          broker);
    } catch (Exception e) {
      throw new IllegalStateException(
          "Cannot start a dedicated in-process Kafka broker: " + e.getMessage(), e);
    }
  }

  /** Stops this dedicated broker (its controller keeps running); see {@link #startDedicated()}. */
  public void stopBroker() {
    dedicated().stopBroker();
  }

  /** Starts this dedicated broker again at the same bootstrap servers and waits until it serves. */
  public void startBroker() {
    try {
      dedicated().startBroker();
    } catch (Exception e) {
      throw new IllegalStateException(
          "Cannot start the dedicated Kafka broker again: " + e.getMessage(), e);
    }
  }

  private InProcessKafkaBroker dedicated() {
    if (!(broker instanceof InProcessKafkaBroker inProcess) || !origin.startsWith("dedicated")) {
      throw new IllegalStateException(
          "Cannot stop or start " + description() + ": only a dedicated broker can");
    }
    return inProcess;
  }

  /** Bootstrap servers for clients and Spark's {@code kafka.bootstrap.servers}. */
  public String bootstrapServers() {
    return bootstrapServers;
  }

  /** Creates a topic and waits until the broker serves all its partitions. */
  public void createTopic(String name, int partitions) {
    await(
        "create topic " + name,
        admin
            .createTopics(List.of(new NewTopic(name, Optional.of(partitions), Optional.empty())))
            .all());
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (true) {
      try {
        if (endOffsets(name).size() == partitions) {
          return;
        }
      } catch (IllegalStateException notYetServed) {
        if (System.nanoTime() > deadline) {
          throw notYetServed;
        }
      }
      sleep(Duration.ofMillis(20));
    }
  }

  /**
   * Adds partitions to {@code topic} until it has {@code total}, and waits until all are served.
   */
  public void addPartitions(String topic, int total) {
    await(
        "add partitions to topic " + topic,
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(total))).all());
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (true) {
      try {
        if (endOffsets(topic).size() == total) {
          return;
        }
      } catch (IllegalStateException notYetServed) {
        if (System.nanoTime() > deadline) {
          throw notYetServed;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(
            "Cannot add partitions to topic " + topic + ": not served within " + TIMEOUT);
      }
      sleep(Duration.ofMillis(20));
    }
  }

  /**
   * Produces each JSON document as one message without key to one partition, in order, and waits
   * until all are acknowledged.
   *
   * @return the offset of each message, in the order of {@code jsonValues}
   */
  public List<Long> produceJson(String topic, int partition, List<String> jsonValues) {
    List<ProducerRecord<String, String>> records =
        jsonValues.stream()
            .map(value -> new ProducerRecord<String, String>(topic, partition, null, value))
            .collect(Collectors.toList());
    return produceJson(topic, records).stream()
        .map(RecordMetadata::offset)
        .collect(Collectors.toList());
  }

  /**
   * Produces records (with their keys, partitions and headers) to {@code topic} and waits until all
   * are acknowledged.
   *
   * @return where each record was written, in the order of {@code records}
   */
  public List<RecordMetadata> produceJson(
      String topic, List<ProducerRecord<String, String>> records) {
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    for (ProducerRecord<String, String> record : records) {
      if (!record.topic().equals(topic)) {
        throw new IllegalArgumentException(
            "Cannot produce to topic " + topic + ": a record names topic " + record.topic());
      }
      sent.add(producer.send(record));
    }
    producer.flush();
    List<RecordMetadata> written = new ArrayList<>();
    for (Future<RecordMetadata> future : sent) {
      written.add(await("produce to topic " + topic, future));
    }
    return written;
  }

  /** The next offset to be written of every partition of {@code topic}, by partition. */
  public Map<Integer, Long> endOffsets(String topic) {
    return offsets(topic, OffsetSpec.latest());
  }

  /**
   * The last stable offset of every partition of {@code topic}, by partition: what read-committed
   * consumers can read up to (it stops before the first message of a transaction still open).
   */
  public Map<Integer, Long> stableEndOffsets(String topic) {
    return offsets(topic, OffsetSpec.latest(), IsolationLevel.READ_COMMITTED);
  }

  /** The first offset still stored of every partition of {@code topic}, by partition. */
  public Map<Integer, Long> startOffsets(String topic) {
    return offsets(topic, OffsetSpec.earliest());
  }

  /**
   * Deletes the messages of one partition below {@code offset}, as retention would, so that the
   * partition's start offset becomes {@code offset}.
   */
  public void deleteRecordsBefore(String topic, int partition, long offset) {
    await(
        "delete records of " + topic + "-" + partition + " before offset " + offset,
        admin
            .deleteRecords(
                Map.of(new TopicPartition(topic, partition), RecordsToDelete.beforeOffset(offset)))
            .all());
  }

  /** What runs the tests, for example "in-process KRaft broker (Kafka 3.9.1) at localhost:1234". */
  public String description() {
    return origin + " at " + bootstrapServers;
  }

  @Override
  public void close() {
    producer.close(Duration.ofSeconds(5));
    admin.close(Duration.ofSeconds(5));
    try {
      broker.close();
    } catch (Exception e) {
      throw new IllegalStateException("Cannot stop " + description(), e);
    }
  }

  private Map<Integer, Long> offsets(String topic, OffsetSpec spec) {
    return offsets(topic, spec, IsolationLevel.READ_UNCOMMITTED);
  }

  private Map<Integer, Long> offsets(String topic, OffsetSpec spec, IsolationLevel isolation) {
    var description =
        await("describe topic " + topic, admin.describeTopics(List.of(topic)).allTopicNames())
            .get(topic);
    Map<TopicPartition, OffsetSpec> request =
        new TreeMap<>((left, right) -> Integer.compare(left.partition(), right.partition()));
    description
        .partitions()
        .forEach(p -> request.put(new TopicPartition(topic, p.partition()), spec));
    Map<TopicPartition, ListOffsetsResultInfo> result =
        await(
            "list offsets of topic " + topic,
            admin.listOffsets(request, new ListOffsetsOptions(isolation)).all());
    Map<Integer, Long> offsets = new TreeMap<>();
    result.forEach((partition, info) -> offsets.put(partition.partition(), info.offset()));
    return offsets;
  }

  private static TestingKafka start() {
    long startNanos = System.nanoTime();
    TestingKafka kafka =
        Environment.variable(Environment.KAFKA_BOOTSTRAP)
            .map(TestingKafka::connectExisting)
            .orElseGet(TestingKafka::startInProcess);
    LOG.info(
        "Started {} in {} ms",
        kafka.description(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
    return kafka;
  }

  private static TestingKafka startInProcess() {
    InProcessKafkaBroker broker;
    try {
      broker = InProcessKafkaBroker.start();
    } catch (Exception e) {
      throw new IllegalStateException(
          "Cannot start the in-process Kafka broker: "
              + e.getMessage()
              + ". Set "
              + Environment.KAFKA_BOOTSTRAP
              + "=host:9092 to use an existing broker",
          e);
    }
    return new TestingKafka(
        "in-process KRaft broker (Kafka " + AppInfoParser.getVersion() + ")",
        broker.bootstrapServers(),
        broker);
  }

  private static TestingKafka connectExisting(String bootstrapServers) {
    TestingKafka kafka = new TestingKafka("existing Kafka broker", bootstrapServers, () -> {});
    try {
      kafka.admin.describeCluster().clusterId().get(15, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException | InterruptedException e) {
      kafka.close();
      String reason =
          e instanceof ExecutionException ? String.valueOf(e.getCause()) : "no answer within 15 s";
      throw new IllegalStateException(
          "Cannot reach the Kafka broker at "
              + bootstrapServers
              + " (from "
              + Environment.KAFKA_BOOTSTRAP
              + "): "
              + reason
              + ". Start it, or unset "
              + Environment.KAFKA_BOOTSTRAP
              + " to use an in-process broker",
          e);
    }
    return kafka;
  }

  private <T> T await(String action, Future<T> future) {
    try {
      return future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      throw new IllegalStateException(
          "Cannot " + action + " on " + description() + ": " + e.getCause(), e.getCause());
    } catch (TimeoutException e) {
      throw new IllegalStateException(
          "Cannot " + action + " on " + description() + ": no answer within " + TIMEOUT, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while trying to " + action, e);
    }
  }

  private static void sleep(Duration duration) {
    try {
      Thread.sleep(duration.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while waiting for Kafka", e);
    }
  }

  private static Properties adminProperties(String bootstrapServers) {
    Properties properties = new Properties();
    properties.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    properties.put(AdminClientConfig.CLIENT_ID_CONFIG, "harness-testing-admin");
    return properties;
  }

  private static Properties producerProperties(String bootstrapServers) {
    Properties properties = new Properties();
    properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    properties.put(ProducerConfig.CLIENT_ID_CONFIG, "harness-testing-producer");
    properties.put(ProducerConfig.ACKS_CONFIG, "all");
    properties.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    properties.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    properties.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    properties.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    return properties;
  }
}
