package io.dataharness.spark.source;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Kafka sources: which partitions a source covers, the offsets the topic retains, and the state a
 * source starts at when registered. Uses only kafka-clients (no Spark).
 *
 * <p>Source options: {@code topic} (required), {@code partitions} (optional subset such as {@code
 * 0,2}; default every partition of the topic), {@code format} ({@code json}, the default and only
 * one supported now), {@code start} ({@code earliest}, the default: the topic's retained messages
 * are part of the table from version 1; or {@code latest}: start empty at the current end).
 *
 * <p>End offsets are read with {@code isolation.level=read_committed} (the last stable offset), so
 * messages of open or aborted transactions of transactional producers never enter a state.
 */
public final class KafkaSources {
  /** Source option: the topic. */
  public static final String TOPIC = "topic";

  /** Source option: a subset of the topic's partitions, such as {@code 0,2}. */
  public static final String PARTITIONS = "partitions";

  /** Source option: where a newly registered source starts, {@code earliest} or {@code latest}. */
  public static final String START = "start";

  public static final String START_EARLIEST = "earliest";
  public static final String START_LATEST = "latest";
  public static final String START_DEFAULT = START_EARLIEST;

  /**
   * How long one Kafka call may take unless the connection sets {@code
   * kafka.default.api.timeout.ms}: long enough for a busy broker, short enough that a wrong address
   * fails a query quickly.
   */
  static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(15);

  private KafkaSources() {}

  /** The topic of a kafka source: its required {@code topic} option. */
  public static String topic(SourceDefinition source) {
    return source
        .option(TOPIC)
        .filter(topic -> !topic.isBlank())
        .map(String::trim)
        .orElseThrow(
            () ->
                new ValidationException(
                    "Invalid source '%s': a kafka source needs the option topic (table property"
                        + " source.%s.topic)",
                    source.id(), source.id()));
  }

  /** The partitions the source covers: its declared subset, or every partition of the topic. */
  public static List<Integer> partitions(ConnectionConfig connection, SourceDefinition source) {
    String topic = topic(source);
    try (TopicClient client = new TopicClient(connection)) {
      return selectPartitions(source, topic, client.partitions(topic));
    }
  }

  /** The state a newly registered source starts at (see the class documentation). */
  public static SourceState.Kafka initialState(
      ConnectionConfig connection, SourceDefinition source) {
    String topic = topic(source);
    String start = source.option(START).orElse(START_DEFAULT).trim().toLowerCase(Locale.ROOT);
    if (!start.equals(START_EARLIEST) && !start.equals(START_LATEST)) {
      throw new ValidationException(
          "Invalid source '%s': start is '%s'; set source.%s.start to earliest (the topic's"
              + " retained messages are part of the table) or latest (start empty)",
          source.id(), source.option(START).orElse(""), source.id());
    }
    try (TopicClient client = new TopicClient(connection)) {
      List<Integer> partitions = selectPartitions(source, topic, client.partitions(topic));
      Map<Integer, Long> ends = client.offsets(topic, partitions, OffsetSpec.latest());
      Map<Integer, Long> starts =
          start.equals(START_LATEST)
              ? ends
              : client.offsets(topic, partitions, OffsetSpec.earliest());
      TreeMap<Integer, SourceState.OffsetRange> ranges = new TreeMap<>();
      for (int partition : partitions) {
        long end = ends.get(partition);
        // The last stable offset can lie below the log start offset when records after an open
        // transaction were deleted; the range is then empty.
        long begin = Math.min(starts.get(partition), end);
        ranges.put(partition, new SourceState.OffsetRange(begin, end));
      }
      return new SourceState.Kafka(ranges);
    }
  }

  /**
   * The live end offsets of the given partitions: the last stable offsets (read committed), which
   * stop before the first message of a transaction still open.
   */
  public static Map<Integer, Long> endOffsets(
      ConnectionConfig connection, String topic, List<Integer> partitions) {
    try (TopicClient client = new TopicClient(connection)) {
      checkPartitionsExist(topic, partitions, client.partitions(topic), connection);
      return client.offsets(topic, partitions, OffsetSpec.latest());
    }
  }

  /** The earliest offsets still retained by the broker for the given partitions. */
  public static Map<Integer, Long> earliestOffsets(
      ConnectionConfig connection, String topic, List<Integer> partitions) {
    try (TopicClient client = new TopicClient(connection)) {
      checkPartitionsExist(topic, partitions, client.partitions(topic), connection);
      return client.offsets(topic, partitions, OffsetSpec.earliest());
    }
  }

  /**
   * Fails with a clear error if the broker no longer retains some offsets the state needs
   * (retention deleted them): the message names the table/version description given, the topic, the
   * partition and the missing range, and says how to fix it.
   *
   * <p>It also fails if a partition now ends before the state's end (the topic was deleted and
   * re-created, or an unclean leader election truncated it): those rows are gone too.
   */
  public static void checkRetained(
      ConnectionConfig connection, String topic, SourceState.Kafka state, String describe) {
    List<Integer> needed = new ArrayList<>();
    state
        .partitions()
        .forEach(
            (partition, range) -> {
              if (range.count() > 0) {
                needed.add(partition);
              }
            });
    if (needed.isEmpty()) {
      return;
    }
    try (TopicClient client = new TopicClient(connection)) {
      checkRetained(client, client.partitions(topic), topic, state, needed, null, describe);
    }
  }

  /**
   * What a {@code latest} read reads: the state with each end raised to the live end (as {@link
   * #withLiveEnds}), checked like {@link #checkRetained}, with one topic description and one end
   * offsets lookup shared by both (the planning of every latest read pays them).
   */
  public static SourceState.Kafka withLiveEndsRetained(
      ConnectionConfig connection, String topic, SourceState.Kafka state, String describe) {
    try (TopicClient client = new TopicClient(connection)) {
      SortedSet<Integer> existing = client.partitions(topic);
      List<Integer> partitions = new ArrayList<>(state.partitions().keySet());
      checkPartitionsExist(topic, partitions, existing, connection);
      Map<Integer, Long> live = client.offsets(topic, partitions, OffsetSpec.latest());
      Map<Integer, SourceState.OffsetRange> ranges = new TreeMap<>();
      List<Integer> needed = new ArrayList<>();
      state
          .partitions()
          .forEach(
              (partition, range) -> {
                SourceState.OffsetRange raised =
                    new SourceState.OffsetRange(
                        range.start(),
                        Math.max(range.end(), live.getOrDefault(partition, range.end())));
                ranges.put(partition, raised);
                if (raised.count() > 0) {
                  needed.add(partition);
                }
              });
      SourceState.Kafka resolved = SourceState.Kafka.of(ranges);
      if (!needed.isEmpty()) {
        checkRetained(client, existing, topic, resolved, needed, live, describe);
      }
      return resolved;
    }
  }

  /**
   * The retention check of {@code needed} partitions of {@code state}; {@code latest} is their end
   * offsets if already read (else read here).
   */
  private static void checkRetained(
      TopicClient client,
      SortedSet<Integer> existing,
      String topic,
      SourceState.Kafka state,
      List<Integer> needed,
      Map<Integer, Long> knownLatest,
      String describe) {
    List<String> problems = new ArrayList<>();
    List<Integer> present = new ArrayList<>();
    for (int partition : needed) {
      if (existing.contains(partition)) {
        present.add(partition);
      } else {
        SourceState.OffsetRange range = state.partition(partition);
        problems.add(
            String.format(
                "Kafka topic %s has no partition %d any more, so offsets [%d, %d) are gone",
                topic, partition, range.start(), range.end()));
      }
    }
    Map<Integer, Long> earliest = client.offsets(topic, present, OffsetSpec.earliest());
    Map<Integer, Long> latest =
        knownLatest != null ? knownLatest : client.offsets(topic, present, OffsetSpec.latest());
    for (int partition : present) {
      SourceState.OffsetRange range = state.partition(partition);
      long retainedFrom = earliest.get(partition);
      long endsAt = latest.get(partition);
      if (retainedFrom > range.start()) {
        problems.add(
            String.format(
                "Kafka topic %s partition %d no longer retains offsets [%d, %d) of the range"
                    + " [%d, %d) the version needs (retention deleted them; earliest retained"
                    + " offset is %d)",
                topic,
                partition,
                range.start(),
                Math.min(retainedFrom, range.end()),
                range.start(),
                range.end(),
                retainedFrom));
      } else if (endsAt < range.end()) {
        problems.add(
            String.format(
                "Kafka topic %s partition %d ends at offset %d but the version needs the range"
                    + " [%d, %d) (was the topic deleted and re-created, or truncated?)",
                topic, partition, endsAt, range.start(), range.end()));
      }
    }
    if (!problems.isEmpty()) {
      throw new SourceUnavailableException(
          "Cannot read %s: %s. Rows were lost from Kafka before they were moved; restore them"
              + " or commit a new state that starts at the earliest retained offset",
          describe, String.join("; ", problems));
    }
  }

  private static List<Integer> selectPartitions(
      SourceDefinition source, String topic, SortedSet<Integer> existing) {
    String declared = source.option(PARTITIONS).orElse("").trim();
    if (declared.isEmpty()) {
      return List.copyOf(existing);
    }
    SortedSet<Integer> selected = new TreeSet<>();
    for (String part : declared.split(",")) {
      int partition;
      try {
        partition = Integer.parseInt(part.trim());
      } catch (NumberFormatException e) {
        throw new ValidationException(
            "Invalid source '%s': partitions '%s' is not a comma-separated list of partition"
                + " numbers; set source.%s.partitions like 0,2",
            source.id(), declared, source.id());
      }
      if (!selected.add(partition)) {
        throw new ValidationException(
            "Invalid source '%s': partitions '%s' names partition %d twice",
            source.id(), declared, partition);
      }
    }
    SortedSet<Integer> unknown = new TreeSet<>(selected);
    unknown.removeAll(existing);
    if (!unknown.isEmpty()) {
      throw new ValidationException(
          "Invalid source '%s': partitions '%s' names %s, which Kafka topic %s does not have (its"
              + " partitions are %s); fix source.%s.partitions",
          source.id(), declared, unknown, topic, existing, source.id());
    }
    return List.copyOf(selected);
  }

  private static void checkPartitionsExist(
      String topic,
      List<Integer> partitions,
      SortedSet<Integer> existing,
      ConnectionConfig connection) {
    SortedSet<Integer> unknown = new TreeSet<>(partitions);
    unknown.removeAll(existing);
    if (!unknown.isEmpty()) {
      throw new SourceUnavailableException(
          "Cannot read Kafka topic %s at %s (connection '%s'): it has no partition %s (its"
              + " partitions are %s)",
          topic, connection.bootstrapServers(), connection.name(), unknown, existing);
    }
  }

  /**
   * The timestamp of the first committed message at or after each given offset, for the partitions
   * that have one before their live end; a partition whose message cannot be fetched within the
   * timeout is left out. Used for lag in seconds.
   */
  public static Map<Integer, java.time.Instant> firstTimestamps(
      ConnectionConfig connection, String topic, Map<Integer, Long> offsets, Duration timeout) {
    Map<Integer, java.time.Instant> timestamps = new TreeMap<>();
    if (offsets.isEmpty()) {
      return timestamps;
    }
    Map<String, Object> properties = new HashMap<>(connection.kafkaClientProperties());
    properties.put(
        org.apache.kafka.clients.consumer.ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
        org.apache.kafka.common.serialization.ByteArrayDeserializer.class);
    properties.put(
        org.apache.kafka.clients.consumer.ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
        org.apache.kafka.common.serialization.ByteArrayDeserializer.class);
    properties.put(
        org.apache.kafka.clients.consumer.ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    properties.put(
        org.apache.kafka.clients.consumer.ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    properties.putIfAbsent(
        org.apache.kafka.clients.consumer.ConsumerConfig.CLIENT_ID_CONFIG, "dataharness-lag");
    forBoundedReads(properties);
    try (var consumer =
        new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(properties)) {
      List<org.apache.kafka.common.TopicPartition> assigned = new ArrayList<>();
      offsets
          .keySet()
          .forEach(p -> assigned.add(new org.apache.kafka.common.TopicPartition(topic, p)));
      consumer.assign(assigned);
      offsets.forEach(
          (partition, offset) ->
              consumer.seek(new org.apache.kafka.common.TopicPartition(topic, partition), offset));
      long deadline = System.nanoTime() + timeout.toNanos();
      while (timestamps.size() < offsets.size() && System.nanoTime() < deadline) {
        for (var record : consumer.poll(Duration.ofMillis(200))) {
          timestamps.putIfAbsent(
              record.partition(), java.time.Instant.ofEpochMilli(record.timestamp()));
          consumer.pause(
              List.of(new org.apache.kafka.common.TopicPartition(topic, record.partition())));
        }
      }
    }
    return timestamps;
  }

  /**
   * Admin clients shared by every call with the same client properties (one connection), kept open:
   * creating one and bootstrapping its metadata costs tens of milliseconds, which a {@code latest}
   * read (live ends, then the retention check) and a move (live state) would otherwise pay on every
   * planning. Their threads are daemons; an unreachable broker still fails each call after its
   * timeout. Bounded: past {@link #MAX_ADMINS} distinct connections, all are closed and reopened on
   * demand. Keyed by a fingerprint of all the client properties ({@link
   * io.dataharness.metadata.Secrets#fingerprint}): a changed password or key opens a new client,
   * and no secret lives in the map's keys.
   */
  /**
   * The Kafka broker did not answer a call within the connection's timeout (it is down or
   * unreachable): the message names the call, the bootstrap servers and the connection; callers
   * that know more (a read's table, version and offsets) use {@link #reason()} and {@link
   * #action()} to say so.
   */
  public static final class UnreachableException extends SourceUnavailableException {
    private final String action;
    private final String reason;

    UnreachableException(
        ConnectionConfig connection, String action, String reason, Throwable cause) {
      super(
          cause,
          "Cannot %s: Kafka at %s (connection '%s') did not answer (%s). Check that the broker"
              + " runs and is reachable, and check connection.%s.bootstrap-servers",
          action,
          connection.bootstrapServers(),
          connection.name(),
          reason,
          connection.name());
      this.action = action;
      this.reason = reason;
    }

    /** The call that got no answer ("describe topic t", "list offsets of topic t"). */
    public String action() {
      return action;
    }

    /** Why it failed, secrets hidden. */
    public String reason() {
      return reason;
    }
  }

  /**
   * {@code fetch.max.wait.ms} of the harness's consumers unless the connection sets it: 20 ms, not
   * Kafka's 500. They read ranges that end, so waiting at a partition's end for more data never
   * helps them; and a consumer's close waits for its last fetch, which the broker holds up to this
   * long once the read reached the log's end. At 500 ms that wait was most of a small read's time
   * (a {@code latest} read of a fresh message, a lag query, a small move).
   */
  private static final String FETCH_MAX_WAIT_MS = "20";

  /**
   * What every harness consumer reads with: {@code isolation.level=read_committed} (committed
   * messages only, as the recorded offsets count them), and {@link #FETCH_MAX_WAIT_MS} unless the
   * properties set it.
   */
  public static void forBoundedReads(Map<? super String, ? super String> consumerProperties) {
    consumerProperties.put(
        org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    consumerProperties.putIfAbsent(
        org.apache.kafka.clients.consumer.ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG,
        FETCH_MAX_WAIT_MS);
  }

  /**
   * How long one Kafka call of a connection may take: its {@code kafka.default.api.timeout.ms}
   * (client property {@code default.api.timeout.ms}), else {@link #DEFAULT_TIMEOUT}.
   */
  public static Duration apiTimeout(Map<String, String> clientProperties) {
    String value = clientProperties.get(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
    if (value != null) {
      try {
        long millis = Long.parseLong(value.trim());
        if (millis > 0) {
          return Duration.ofMillis(millis);
        }
      } catch (NumberFormatException e) {
        // left to the Kafka client, whose error names the property
      }
    }
    return DEFAULT_TIMEOUT;
  }

  private static final java.util.concurrent.ConcurrentMap<String, Admin> ADMINS =
      new java.util.concurrent.ConcurrentHashMap<>();

  private static final int MAX_ADMINS = 32;

  private static Admin sharedAdmin(Map<String, Object> properties) {
    String key = io.dataharness.metadata.Secrets.fingerprint(properties);
    Admin admin = ADMINS.get(key);
    if (admin != null) {
      return admin;
    }
    synchronized (ADMINS) {
      admin = ADMINS.get(key);
      if (admin == null) {
        if (ADMINS.size() >= MAX_ADMINS) {
          ADMINS.values().forEach(a -> a.close(Duration.ZERO));
          ADMINS.clear();
        }
        admin = Admin.create(properties);
        ADMINS.put(key, admin);
      }
      return admin;
    }
  }

  /**
   * The admin client for the calls of one public method (shared, see {@link #ADMINS}), with short
   * timeouts and clear errors.
   */
  private static final class TopicClient implements AutoCloseable {
    private final ConnectionConfig connection;
    private final Admin admin;
    private final Duration timeout;

    TopicClient(ConnectionConfig connection) {
      this.connection = connection;
      Map<String, Object> properties = new HashMap<>(connection.kafkaClientProperties());
      properties.putIfAbsent(
          AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
          String.valueOf(DEFAULT_TIMEOUT.toMillis()));
      long apiTimeout =
          Long.parseLong(
              properties.get(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG).toString());
      properties.putIfAbsent(
          AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(apiTimeout));
      properties.putIfAbsent(AdminClientConfig.CLIENT_ID_CONFIG, "dataharness-kafka-sources");
      this.timeout = Duration.ofMillis(apiTimeout);
      try {
        this.admin = sharedAdmin(properties);
      } catch (RuntimeException e) {
        throw new SourceUnavailableException(
            connection.scrub(e),
            "Cannot connect to Kafka at %s (connection '%s'): %s. Check"
                + " connection.%s.bootstrap-servers and the connection's kafka.* settings",
            connection.bootstrapServers(),
            connection.name(),
            connection.scrub(e.getMessage()),
            connection.name());
      }
    }

    SortedSet<Integer> partitions(String topic) {
      Map<String, TopicDescription> descriptions =
          await(
              "describe topic " + topic,
              topic,
              admin.describeTopics(List.of(topic)).allTopicNames());
      SortedSet<Integer> partitions = new TreeSet<>();
      for (TopicPartitionInfo info : descriptions.get(topic).partitions()) {
        partitions.add(info.partition());
      }
      return partitions;
    }

    Map<Integer, Long> offsets(String topic, List<Integer> partitions, OffsetSpec spec) {
      Map<TopicPartition, OffsetSpec> request = new HashMap<>();
      for (int partition : partitions) {
        request.put(new TopicPartition(topic, partition), spec);
      }
      Map<TopicPartition, ListOffsetsResultInfo> result =
          await(
              "list offsets of topic " + topic,
              topic,
              admin
                  .listOffsets(request, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
                  .all());
      Map<Integer, Long> offsets = new TreeMap<>();
      result.forEach((partition, info) -> offsets.put(partition.partition(), info.offset()));
      return offsets;
    }

    private <T> T await(String action, String topic, KafkaFuture<T> future) {
      try {
        // A little longer than the client's own timeout, so that its clearer error wins.
        return future.get(timeout.toMillis() + 2_000, TimeUnit.MILLISECONDS);
      } catch (ExecutionException e) {
        Throwable cause = e.getCause();
        if (cause instanceof UnknownTopicOrPartitionException) {
          throw new SourceUnavailableException(
              connection.scrub(cause),
              "Cannot read Kafka topic %s at %s (connection '%s'): the topic does not exist."
                  + " Create it, or fix the source's topic option",
              topic,
              connection.bootstrapServers(),
              connection.name());
        }
        if (cause instanceof org.apache.kafka.common.errors.TimeoutException) {
          throw unreachable(action, cause, connection.scrub(cause.getMessage()));
        }
        throw new SourceUnavailableException(
            connection.scrub(cause),
            "Cannot %s at %s (connection '%s'): %s",
            action,
            connection.bootstrapServers(),
            connection.name(),
            connection.scrub(String.valueOf(cause)));
      } catch (TimeoutException e) {
        throw unreachable(action, e, "no answer within " + timeout.toMillis() + " ms");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SourceUnavailableException(e, "Interrupted while trying to %s", action);
      }
    }

    private UnreachableException unreachable(String action, Throwable cause, String reason) {
      return new UnreachableException(connection, action, reason, connection.scrub(cause));
    }

    @Override
    public void close() {
      // the admin client is shared and stays open (see ADMINS)
    }
  }

  /**
   * What a Kafka source holds now, for a sync or a move: the recorded state with each partition's
   * end raised to the live end offset (the last stable offset, read committed), plus, for a source
   * without an explicit {@code partitions} option, every partition added to the topic since, from
   * its earliest retained offset. With an explicit list, added partitions are ignored. Starts and
   * ends never move backwards.
   *
   * @throws SourceUnavailableException if the broker cannot be reached, or a partition of the
   *     recorded state no longer exists
   */
  public static SourceState.Kafka liveState(
      ConnectionConfig connection, SourceDefinition source, SourceState.Kafka recorded) {
    String topic = topic(source);
    try (TopicClient client = new TopicClient(connection)) {
      SortedSet<Integer> existing = client.partitions(topic);
      List<Integer> known = new ArrayList<>(recorded.partitions().keySet());
      checkPartitionsExist(topic, known, existing, connection);
      List<Integer> added = new ArrayList<>();
      if (source.option(PARTITIONS).orElse("").isBlank()) {
        for (int partition : existing) {
          if (!recorded.partitions().containsKey(partition)) {
            added.add(partition);
          }
        }
      }
      List<Integer> all = new ArrayList<>(known);
      all.addAll(added);
      if (all.isEmpty()) {
        return recorded;
      }
      Map<Integer, Long> live = client.offsets(topic, all, OffsetSpec.latest());
      Map<Integer, Long> earliest =
          added.isEmpty() ? Map.of() : client.offsets(topic, added, OffsetSpec.earliest());
      TreeMap<Integer, SourceState.OffsetRange> ranges = new TreeMap<>();
      recorded
          .partitions()
          .forEach(
              (partition, range) ->
                  ranges.put(
                      partition,
                      new SourceState.OffsetRange(
                          range.start(),
                          Math.max(range.end(), live.getOrDefault(partition, range.end())))));
      for (int partition : added) {
        long end = live.get(partition);
        // the last stable offset can lie below the log start offset (see initialState)
        ranges.put(
            partition, new SourceState.OffsetRange(Math.min(earliest.get(partition), end), end));
      }
      return new SourceState.Kafka(ranges);
    }
  }

  /**
   * The state with each partition's end raised to the live end offset (read-committed); starts and
   * ends never move backwards. Partitions added to the topic are not included: see {@link
   * #liveState}.
   */
  public static SourceState.Kafka withLiveEnds(
      ConnectionConfig connection, String topic, SourceState.Kafka state) {
    Map<Integer, Long> live =
        endOffsets(connection, topic, new java.util.ArrayList<>(state.partitions().keySet()));
    Map<Integer, SourceState.OffsetRange> ranges = new java.util.TreeMap<>();
    state
        .partitions()
        .forEach(
            (partition, range) ->
                ranges.put(
                    partition,
                    new SourceState.OffsetRange(
                        range.start(),
                        Math.max(range.end(), live.getOrDefault(partition, range.end())))));
    return SourceState.Kafka.of(ranges);
  }
}
