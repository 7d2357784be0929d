package io.dataharness.metadata;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;

/** What of a source is visible at a version. One record per source kind. */
public sealed interface SourceState
    permits SourceState.Kafka, SourceState.Iceberg, SourceState.Jdbc {

  SourceKind kind();

  /**
   * Checks that moving from this state to {@code next} is allowed, throwing a {@link
   * ValidationException} that names the source otherwise.
   */
  void checkTransition(String sourceId, SourceState next);

  /** One Kafka partition's visible offsets: [start, end). */
  record OffsetRange(long start, long end) {
    public OffsetRange {
      if (start < 0 || end < start) {
        throw new ValidationException(
            "Invalid Kafka offset range [%d, %d): need 0 <= start <= end", start, end);
      }
    }

    public long count() {
      return end - start;
    }
  }

  /** Kafka: per partition, the offsets [start, end) that are part of the table. */
  record Kafka(SortedMap<Integer, OffsetRange> partitions) implements SourceState {
    public Kafka {
      partitions = java.util.Collections.unmodifiableSortedMap(new TreeMap<>(partitions));
    }

    public static Kafka of(Map<Integer, OffsetRange> partitions) {
      return new Kafka(new TreeMap<>(partitions));
    }

    @Override
    public SourceKind kind() {
      return SourceKind.KAFKA;
    }

    public OffsetRange partition(int partition) {
      return partitions.get(partition);
    }

    /** The same ranges with one partition's range replaced (or added). */
    public Kafka with(int partition, OffsetRange range) {
      TreeMap<Integer, OffsetRange> next = new TreeMap<>(partitions);
      next.put(partition, range);
      return new Kafka(next);
    }

    /**
     * The offsets the ranges span. Transactional producers leave a control record (commit or abort
     * marker) at an offset of its own, so this can exceed the messages a reader gets.
     */
    public long offsetCount() {
      return partitions.values().stream().mapToLong(OffsetRange::count).sum();
    }

    @Override
    public void checkTransition(String sourceId, SourceState next) {
      Kafka nextKafka = sameKind(sourceId, this, next, Kafka.class);
      for (Map.Entry<Integer, OffsetRange> entry : partitions.entrySet()) {
        OffsetRange after = nextKafka.partitions.get(entry.getKey());
        OffsetRange before = entry.getValue();
        if (after == null) {
          throw new ValidationException(
              "Cannot change source '%s': Kafka partition %d vanished from the new state; a state"
                  + " keeps every partition it had",
              sourceId, entry.getKey());
        }
        if (after.start() < before.start()) {
          throw new ValidationException(
              "Cannot change source '%s': partition %d start would move backwards from %d to %d;"
                  + " rows before start were moved out and cannot come back",
              sourceId, entry.getKey(), before.start(), after.start());
        }
        if (after.end() < before.end()) {
          throw new ValidationException(
              "Cannot change source '%s': partition %d end would move backwards from %d to %d",
              sourceId, entry.getKey(), before.end(), after.end());
        }
      }
    }
  }

  /** Iceberg: the snapshot visible, or none (an empty table). */
  record Iceberg(OptionalLong snapshotId) implements SourceState {
    public Iceberg {
      Objects.requireNonNull(snapshotId, "snapshotId");
    }

    public static Iceberg empty() {
      return new Iceberg(OptionalLong.empty());
    }

    public static Iceberg of(long snapshotId) {
      return new Iceberg(OptionalLong.of(snapshotId));
    }

    @Override
    public SourceKind kind() {
      return SourceKind.ICEBERG;
    }

    @Override
    public void checkTransition(String sourceId, SourceState next) {
      sameKind(sourceId, this, next, Iceberg.class);
    }
  }

  /**
   * JDBC: the row images of a system-versioned PostgreSQL table visible at this state.
   *
   * <p>With a {@code snapshot} ({@code pg_current_snapshot()} as text, {@code xmin:xmax:xip,...}),
   * an image is visible if and only if the transaction that created it is visible in the snapshot
   * and the one that ended it is not: a state never shows part of a transaction. Without one
   * (states written before snapshots were recorded), the images valid at {@code readTimestamp}. The
   * read timestamp is kept in both cases (when the state was taken; it never moves backwards).
   *
   * @param readTimestamp when the state was taken
   * @param snapshot the PostgreSQL snapshot, or null
   */
  record Jdbc(Instant readTimestamp, String snapshot) implements SourceState {
    private static final java.util.regex.Pattern SNAPSHOT =
        java.util.regex.Pattern.compile("[0-9]+:[0-9]+:([0-9]+(,[0-9]+)*)?");

    public Jdbc {
      readTimestamp =
          Objects.requireNonNull(readTimestamp, "readTimestamp").truncatedTo(ChronoUnit.MICROS);
      if (snapshot != null && !SNAPSHOT.matcher(snapshot).matches()) {
        throw new ValidationException(
            "Invalid PostgreSQL snapshot '%s': expected xmin:xmax:xip_list as"
                + " pg_current_snapshot() prints it",
            snapshot);
      }
    }

    /** A state read by timestamp only (no snapshot). */
    public Jdbc(Instant readTimestamp) {
      this(readTimestamp, null);
    }

    /** The snapshot, if this state has one. */
    public java.util.Optional<String> pgSnapshot() {
      return java.util.Optional.ofNullable(snapshot);
    }

    @Override
    public SourceKind kind() {
      return SourceKind.JDBC;
    }

    @Override
    public void checkTransition(String sourceId, SourceState next) {
      Jdbc nextJdbc = sameKind(sourceId, this, next, Jdbc.class);
      if (nextJdbc.readTimestamp.isBefore(readTimestamp)) {
        throw new ValidationException(
            "Cannot change source '%s': read timestamp would move backwards from %s to %s",
            sourceId, readTimestamp, nextJdbc.readTimestamp);
      }
    }
  }

  private static <T extends SourceState> T sameKind(
      String sourceId, SourceState before, SourceState next, Class<T> type) {
    if (!type.isInstance(next)) {
      throw new ValidationException(
          "Cannot change source '%s': it is a %s source but the new state is %s",
          sourceId, before.kind().id(), next == null ? "missing" : next.kind().id());
    }
    return type.cast(next);
  }
}
