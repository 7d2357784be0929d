package io.dataharness.chaos;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the writers of a chaos run did, as the final check needs it: the ids produced to Kafka,
 * every application write that PostgreSQL acknowledged, and the append jobs with their outcome.
 */
final class Ledger {
  static final long APPLICATION_IDS = 1_000_000_000L;
  static final long APPEND_IDS = 2_000_000_000L;

  /** Ids [0, produced) were acknowledged by Kafka. */
  final AtomicLong produced = new AtomicLong();

  /** The message of the application's last acknowledged write (insert or update) per id. */
  final Map<Long, String> lastWrite = new ConcurrentHashMap<>();

  /** Ids the application updated at least once (the update changed a row). */
  final Set<Long> updated = ConcurrentHashMap.newKeySet();

  /** Ids the application deleted (the delete removed a row); never written again. */
  final Set<Long> deleted = ConcurrentHashMap.newKeySet();

  final AtomicLong applicationInserts = new AtomicLong();
  final AtomicLong applicationUpdates = new AtomicLong();
  final AtomicLong applicationDeletes = new AtomicLong();

  /** Updates and deletes that found no row: it had moved to Iceberg (or was deleted) already. */
  final AtomicLong applicationMisses = new AtomicLong();

  final AtomicLong applicationErrors = new AtomicLong();

  /** When PostgreSQL acknowledged the application's last write. */
  volatile Instant lastApplicationWrite = Instant.EPOCH;

  final List<Append> appends = new CopyOnWriteArrayList<>();

  enum Outcome {
    RUNNING,
    SUCCEEDED,
    KILLED,
    FAILED
  }

  /** An append job of ids [from, to). */
  static final class Append {
    final long from;
    final long to;
    volatile Outcome outcome = Outcome.RUNNING;

    Append(long from, long to) {
      this.from = from;
      this.to = to;
    }
  }
}
