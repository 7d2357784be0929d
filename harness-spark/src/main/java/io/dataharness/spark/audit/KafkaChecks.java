package io.dataharness.spark.audit;

import io.dataharness.metadata.CommitInfo;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.SourceChange;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.SourceState.OffsetRange;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.source.KafkaSources;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Kafka invariants: ranges only move forward, a start advances exactly by the offsets a move
 * recorded, no offset is both visible and moved, and the latest ranges exist in the topic.
 */
final class KafkaChecks {
  /** The external id (or summary key) under which a move records the offsets it moved. */
  static final String OFFSETS_ID = "offsets";

  static final String RANGES_SUMMARY = "ranges";

  private static final Pattern RANGE = Pattern.compile("(\\d+):\\[(\\d+),(\\d+)\\)");

  private final List<TableVersion> versions;
  private final Function<SourceDefinition, ConnectionConfig> connections;
  private final List<Violation> violations = new ArrayList<>();

  KafkaChecks(
      List<TableVersion> versions, Function<SourceDefinition, ConnectionConfig> connections) {
    this.versions = versions;
    this.connections = connections;
  }

  /** Offsets of one partition that one version's commit recorded as moved. */
  private record Moved(long version, long start, long end) {}

  /** Where a move's offsets were seen still visible: the first and last such version. */
  private static final class Visible {
    long first;
    long last;
    long start = Long.MAX_VALUE;
    long end = Long.MIN_VALUE;
  }

  private record PartitionKey(String source, int partition) {}

  private record VisibleKey(String source, int partition, long moveVersion) {}

  List<Violation> check() {
    Map<PartitionKey, List<Moved>> moved = new LinkedHashMap<>();
    Map<VisibleKey, Visible> visible = new LinkedHashMap<>();
    TableVersion previous = null;
    for (TableVersion version : versions) {
      // a rollback restores an earlier version's states: the moves after it are undone (their
      // offsets are in Kafka's range again and out of their targets), and ranges may move back
      long rolledBackTo = rolledBackTo(version);
      if (rolledBackTo >= 0) {
        moved.values().forEach(list -> list.removeIf(move -> move.version() > rolledBackTo));
      }
      for (Map.Entry<String, SourceState> entry : version.sourceStates().entrySet()) {
        if (!(entry.getValue() instanceof SourceState.Kafka after)) {
          continue;
        }
        String source = entry.getKey();
        Map<Integer, OffsetRange> recorded = movedRanges(version.commit(), source);
        if (previous != null
            && rolledBackTo < 0
            && previous.version() + 1 == version.version()
            && previous.sourceStates().get(source) instanceof SourceState.Kafka before) {
          transition(source, previous, before, version, after, recorded);
        }
        recorded.forEach(
            (partition, range) ->
                moved
                    .computeIfAbsent(new PartitionKey(source, partition), k -> new ArrayList<>())
                    .add(new Moved(version.version(), range.start(), range.end())));
        after
            .partitions()
            .forEach(
                (partition, range) -> {
                  for (Moved earlier :
                      moved.getOrDefault(new PartitionKey(source, partition), List.of())) {
                    long start = Math.max(range.start(), earlier.start());
                    long end = Math.min(range.end(), earlier.end());
                    if (start < end) {
                      Visible seen =
                          visible.computeIfAbsent(
                              new VisibleKey(source, partition, earlier.version()),
                              k -> {
                                Visible first = new Visible();
                                first.first = version.version();
                                return first;
                              });
                      seen.last = version.version();
                      seen.start = Math.min(seen.start, start);
                      seen.end = Math.max(seen.end, end);
                    }
                  }
                });
      }
      previous = version;
    }
    visible.forEach(
        (key, seen) ->
            violations.add(
                new Violation(
                    Check.KAFKA_OFFSET_VISIBLE_AND_MOVED,
                    key.source(),
                    List.of(key.moveVersion(), seen.first, seen.last),
                    String.format(
                        "Kafka partition %d offsets [%d, %d) of source '%s' were recorded as moved"
                            + " by version %d but are inside the source's range at versions %d"
                            + " to %d: readers of those versions see those rows in Kafka and in"
                            + " the move's target; the range's start must advance past every"
                            + " moved offset in the move's own version",
                        key.partition(),
                        seen.start,
                        seen.end,
                        key.source(),
                        key.moveVersion(),
                        seen.first,
                        seen.last))));
    if (!versions.isEmpty()) {
      checkAgainstTopic(versions.get(versions.size() - 1));
    }
    return violations;
  }

  /** The version a rollback commit restored (its summary {@code rolled-back-to}), or -1. */
  static long rolledBackTo(TableVersion version) {
    if (version.commit() == null
        || version.commit().operation() == null
        || !version.commit().operation().startsWith(IcebergChecks.REWINDING_OPERATION_PREFIX)) {
      return -1;
    }
    String target = version.commit().summary().get("rolled-back-to");
    return target == null ? -1 : Long.parseLong(target);
  }

  private void transition(
      String source,
      TableVersion previous,
      SourceState.Kafka before,
      TableVersion version,
      SourceState.Kafka after,
      Map<Integer, OffsetRange> recorded) {
    List<Long> both = List.of(previous.version(), version.version());
    String operation = version.commit() == null ? "?" : version.commit().operation();
    for (Map.Entry<Integer, OffsetRange> entry : before.partitions().entrySet()) {
      int partition = entry.getKey();
      OffsetRange was = entry.getValue();
      OffsetRange is = after.partition(partition);
      if (is == null) {
        violations.add(
            new Violation(
                Check.KAFKA_PARTITION_VANISHED,
                source,
                both,
                String.format(
                    "Kafka partition %d of source '%s' had offsets [%d, %d) at version %d and is"
                        + " missing from version %d (operation %s): its rows vanished from the"
                        + " table",
                    partition,
                    source,
                    was.start(),
                    was.end(),
                    previous.version(),
                    version.version(),
                    operation)));
        continue;
      }
      if (is.start() < was.start()) {
        violations.add(
            new Violation(
                Check.KAFKA_START_DECREASED,
                source,
                both,
                String.format(
                    "Kafka partition %d of source '%s': start went back from %d at version %d to"
                        + " %d at version %d (operation %s): offsets [%d, %d) had left the table"
                        + " and are visible again",
                    partition,
                    source,
                    was.start(),
                    previous.version(),
                    is.start(),
                    version.version(),
                    operation,
                    is.start(),
                    was.start())));
      }
      if (is.end() < was.end()) {
        violations.add(
            new Violation(
                Check.KAFKA_END_DECREASED,
                source,
                both,
                String.format(
                    "Kafka partition %d of source '%s': end went back from %d at version %d to %d"
                        + " at version %d (operation %s): offsets [%d, %d) vanished from the table",
                    partition,
                    source,
                    was.end(),
                    previous.version(),
                    is.end(),
                    version.version(),
                    operation,
                    is.end(),
                    was.end())));
      }
      long advancedFrom = was.start();
      long advancedTo = Math.max(was.start(), is.start());
      OffsetRange move = recorded.get(partition);
      if (advancedFrom < advancedTo) {
        if (move == null) {
          gap(
              source,
              partition,
              advancedFrom,
              advancedTo,
              both,
              operation,
              "records no moved" + " offsets for the partition");
        } else {
          if (move.start() > advancedFrom) {
            gap(
                source,
                partition,
                advancedFrom,
                Math.min(move.start(), advancedTo),
                both,
                operation,
                "recorded the move of [" + move.start() + ", " + move.end() + ")");
          }
          if (move.end() < advancedTo) {
            gap(
                source,
                partition,
                Math.max(move.end(), advancedFrom),
                advancedTo,
                both,
                operation,
                "recorded the move of [" + move.start() + ", " + move.end() + ")");
          }
        }
      }
      if (move != null && move.start() < was.start()) {
        violations.add(
            new Violation(
                Check.KAFKA_RANGE_OVERLAP,
                source,
                both,
                String.format(
                    "Kafka partition %d of source '%s': version %d (operation %s) recorded the"
                        + " move of offsets [%d, %d), but offsets [%d, %d) had already left the"
                        + " range at version %d (start %d): they were moved twice, so the move's"
                        + " target may hold them twice",
                    partition,
                    source,
                    version.version(),
                    operation,
                    move.start(),
                    move.end(),
                    move.start(),
                    Math.min(move.end(), was.start()),
                    previous.version(),
                    was.start())));
      }
    }
  }

  private void gap(
      String source,
      int partition,
      long from,
      long to,
      List<Long> versions,
      String operation,
      String recorded) {
    violations.add(
        new Violation(
            Check.KAFKA_RANGE_GAP,
            source,
            versions,
            String.format(
                "Kafka partition %d of source '%s': start advanced past offsets [%d, %d) from"
                    + " version %d to version %d, but that commit (operation %s) %s: those rows"
                    + " left the table without being moved anywhere",
                partition,
                source,
                from,
                to,
                versions.get(0),
                versions.get(1),
                operation,
                recorded)));
  }

  /** The latest ranges against the topic: retained, and not past the last stable offset. */
  private void checkAgainstTopic(TableVersion latest) {
    for (Map.Entry<String, SourceState> entry : latest.sourceStates().entrySet()) {
      if (!(entry.getValue() instanceof SourceState.Kafka kafka) || kafka.partitions().isEmpty()) {
        continue;
      }
      String source = entry.getKey();
      SourceDefinition definition = latest.source(source);
      String topic = KafkaSources.topic(definition);
      List<Integer> partitions = new ArrayList<>(kafka.partitions().keySet());
      Map<Integer, Long> ends;
      Map<Integer, Long> earliest;
      try {
        ConnectionConfig connection = connections.apply(definition);
        ends = KafkaSources.endOffsets(connection, topic, partitions);
        earliest = KafkaSources.earliestOffsets(connection, topic, partitions);
      } catch (HarnessException e) {
        violations.add(Violation.unavailable(source, latest.version(), e));
        continue;
      }
      kafka
          .partitions()
          .forEach(
              (partition, range) -> {
                Long end = ends.get(partition);
                if (end != null && range.end() > end) {
                  violations.add(
                      new Violation(
                          Check.KAFKA_RANGE_BEYOND_LOG,
                          source,
                          List.of(latest.version()),
                          String.format(
                              "Kafka partition %d of source '%s' (topic %s): version %d records"
                                  + " offsets up to %d, but the partition's last stable offset is"
                                  + " %d: readers of the version fail or wait; the topic was"
                                  + " re-created or truncated, or a writer recorded offsets of an"
                                  + " open transaction",
                              partition, source, topic, latest.version(), range.end(), end)));
                }
                Long first = earliest.get(partition);
                if (first != null && range.count() > 0 && range.start() < first) {
                  violations.add(
                      new Violation(
                          Check.KAFKA_RANGE_EXPIRED,
                          source,
                          List.of(latest.version()),
                          String.format(
                              "Kafka partition %d of source '%s' (topic %s): version %d records"
                                  + " offsets [%d, %d), but the broker retains only offsets from"
                                  + " %d: rows [%d, %d) were deleted by retention before they"
                                  + " were moved; move rows out of Kafka sooner or raise the"
                                  + " topic's retention",
                              partition,
                              source,
                              topic,
                              latest.version(),
                              range.start(),
                              range.end(),
                              first,
                              range.start(),
                              Math.min(first, range.end()))));
                }
              });
    }
  }

  /**
   * The offsets a commit recorded as moved out of a Kafka source, per partition: the source's
   * external id {@code offsets}, or the summary's {@code ranges} when the summary names the source.
   */
  static Map<Integer, OffsetRange> movedRanges(CommitInfo commit, String source) {
    if (commit == null) {
      return Map.of();
    }
    String text = null;
    for (SourceChange change : commit.sourceChanges()) {
      if (change.sourceId().equals(source) && change.externalIds().containsKey(OFFSETS_ID)) {
        text = change.externalIds().get(OFFSETS_ID);
      }
    }
    if (text == null && Objects.equals(source, commit.summary().get("source"))) {
      text = commit.summary().get(RANGES_SUMMARY);
    }
    if (text == null) {
      return Map.of();
    }
    Map<Integer, OffsetRange> ranges = new TreeMap<>();
    Matcher matcher = RANGE.matcher(text);
    while (matcher.find()) {
      ranges.put(
          Integer.parseInt(matcher.group(1)),
          new OffsetRange(Long.parseLong(matcher.group(2)), Long.parseLong(matcher.group(3))));
    }
    return ranges;
  }
}
