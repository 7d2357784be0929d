package io.dataharness.spark.jobs;

import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.source.SourceUnavailableException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;

/**
 * The Kafka offsets one move takes out of a Kafka source: per partition {@code [start, end')} with
 * {@code start} the source's recorded start and {@code end'} at most the end of the state it is
 * planned from (the live end, see {@link MoveContext#sourceState}), bounded by a row budget and an
 * age. The move's version records that end, so every offset it takes is one its version shows.
 *
 * @param ranges the partitions the batch takes rows from (non-empty ranges only)
 */
record KafkaBatch(SortedMap<Integer, SourceState.OffsetRange> ranges) {
  KafkaBatch {
    ranges = java.util.Collections.unmodifiableSortedMap(new TreeMap<>(ranges));
  }

  boolean isEmpty() {
    return ranges.isEmpty();
  }

  /** Offsets in the batch (an upper bound of its rows: transaction markers take offsets too). */
  long offsetCount() {
    return ranges.values().stream().mapToLong(SourceState.OffsetRange::count).sum();
  }

  /** The source's state after the batch left it: each partition's start moved to the batch end. */
  SourceState.Kafka advance(SourceState.Kafka state) {
    SourceState.Kafka next = state;
    for (Map.Entry<Integer, SourceState.OffsetRange> range : ranges.entrySet()) {
      SourceState.OffsetRange before = state.partition(range.getKey());
      next =
          next.with(
              range.getKey(), new SourceState.OffsetRange(range.getValue().end(), before.end()));
    }
    return next;
  }

  /** The batch as a state to read: exactly its ranges. */
  SourceState.Kafka asState() {
    return SourceState.Kafka.of(ranges);
  }

  /** {@code 0:[10,20) 1:[5,9)}, for logs, summaries and keys. */
  String describe() {
    return ranges.entrySet().stream()
        .map(e -> e.getKey() + ":[" + e.getValue().start() + "," + e.getValue().end() + ")")
        .collect(Collectors.joining(" "));
  }

  /**
   * The idempotency key of moving this batch: the same batch of the same source to the same target
   * always gets the same key, and two different batches never do (starts only move forward). Its
   * size does not grow with the partitions: a readable prefix (operation, table, sources) and the
   * SHA-256 of the batch description ({@link IdempotencyKeys#of}).
   */
  String idempotencyKey(String operation, TableIdentifier table, String source, String target) {
    return IdempotencyKeys.of(operation + ":" + table + ":" + source + "->" + target, describe());
  }

  /** Parses {@link #describe()}: {@code 0:[10,20) 1:[5,9)}. */
  static KafkaBatch parse(String described) {
    TreeMap<Integer, SourceState.OffsetRange> ranges = new TreeMap<>();
    for (String part : described.trim().split(" ")) {
      if (part.isEmpty()) {
        continue;
      }
      java.util.regex.Matcher matcher =
          java.util.regex.Pattern.compile("(\\d+):\\[(\\d+),(\\d+)\\)").matcher(part);
      if (!matcher.matches()) {
        throw new IllegalArgumentException(
            "Cannot parse Kafka offset ranges '" + described + "': '" + part + "' is not p:[s,e)");
      }
      ranges.put(
          Integer.parseInt(matcher.group(1)),
          new SourceState.OffsetRange(
              Long.parseLong(matcher.group(2)), Long.parseLong(matcher.group(3))));
    }
    return new KafkaBatch(ranges);
  }

  /** True when every range of the batch lies below the state's starts: it was moved already. */
  boolean alreadyMoved(SourceState.Kafka state) {
    return ranges.entrySet().stream()
        .allMatch(
            e ->
                state.partition(e.getKey()) != null
                    && state.partition(e.getKey()).start() >= e.getValue().end());
  }

  /**
   * Plans the next batch of a source at {@code state}.
   *
   * @param maxRows at most this many offsets in total, shared evenly by the partitions that have
   *     rows (a partition's unused share goes to the others)
   * @param olderThan only messages whose Kafka timestamp is older than now minus this
   */
  static KafkaBatch plan(
      ConnectionConfig connection,
      String topic,
      SourceState.Kafka state,
      OptionalLong maxRows,
      java.util.Optional<Duration> olderThan) {
    Map<Integer, Long> ends = new TreeMap<>();
    state.partitions().forEach((partition, range) -> ends.put(partition, range.end()));
    if (olderThan.isPresent()) {
      Instant before = Instant.now().minus(olderThan.get());
      Map<Integer, Long> youngest = firstOffsetsAtOrAfter(connection, topic, ends.keySet(), before);
      youngest.forEach(
          (partition, offset) -> {
            if (offset >= 0) {
              ends.merge(partition, offset, Math::min);
            }
          });
    }
    Map<Integer, Long> available = new TreeMap<>();
    state
        .partitions()
        .forEach(
            (partition, range) -> {
              long count = Math.max(0, ends.get(partition) - range.start());
              if (count > 0) {
                available.put(partition, count);
              }
            });
    Map<Integer, Long> take = new TreeMap<>(available);
    if (maxRows.isPresent()) {
      take = share(available, maxRows.getAsLong());
    }
    TreeMap<Integer, SourceState.OffsetRange> ranges = new TreeMap<>();
    take.forEach(
        (partition, count) -> {
          if (count > 0) {
            long start = state.partition(partition).start();
            ranges.put(partition, new SourceState.OffsetRange(start, start + count));
          }
        });
    return new KafkaBatch(ranges);
  }

  /** Splits a budget over partitions evenly, giving what one cannot use to the others. */
  static Map<Integer, Long> share(Map<Integer, Long> available, long budget) {
    Map<Integer, Long> take = new TreeMap<>();
    Map<Integer, Long> left = new TreeMap<>(available);
    long remaining = Math.max(0, budget);
    while (remaining > 0 && !left.isEmpty()) {
      long each = Math.max(1, remaining / left.size());
      for (Integer partition : List.copyOf(left.keySet())) {
        if (remaining == 0) {
          break;
        }
        long give = Math.min(Math.min(each, left.get(partition)), remaining);
        take.merge(partition, give, Long::sum);
        remaining -= give;
        long rest = left.get(partition) - give;
        if (rest == 0) {
          left.remove(partition);
        } else {
          left.put(partition, rest);
        }
      }
    }
    return take;
  }

  /** Per partition, the first offset whose timestamp is at or after {@code instant} (or -1). */
  private static Map<Integer, Long> firstOffsetsAtOrAfter(
      ConnectionConfig connection,
      String topic,
      java.util.Collection<Integer> partitions,
      Instant instant) {
    Map<String, Object> properties = new HashMap<>(connection.kafkaClientProperties());
    properties.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
    properties.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    properties.putIfAbsent(AdminClientConfig.CLIENT_ID_CONFIG, "dataharness-mover");
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    for (int partition : partitions) {
      request.put(
          new TopicPartition(topic, partition), OffsetSpec.forTimestamp(instant.toEpochMilli()));
    }
    try (Admin admin = Admin.create(properties)) {
      Map<TopicPartition, ListOffsetsResultInfo> result =
          admin
              .listOffsets(request, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
              .all()
              .get(20, TimeUnit.SECONDS);
      Map<Integer, Long> offsets = new TreeMap<>();
      result.forEach((partition, info) -> offsets.put(partition.partition(), info.offset()));
      return offsets;
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      throw new SourceUnavailableException(
          connection.scrub(e),
          "Cannot find the offsets of messages older than %s in Kafka topic %s (connection"
              + " '%s'): %s",
          instant,
          topic,
          connection.name(),
          connection.scrub(e.getMessage()));
    }
  }
}
