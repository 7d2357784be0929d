package io.dataharness.metadata;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The harness metadata store: namespaces, tables, their numbered versions, and locks on sources.
 * One interface for every backing database; every implementation passes the same conformance suite.
 *
 * <p>Other engines and services (a Kafka consumer, a Flink job, a script) take part through this
 * interface: acquire the sources' locks (a {@link LeaseKeeper} renews them), open a write-ahead
 * intent before the first side effect a later version could expose ({@link
 * Transaction#openIntent}), write to the sources, then commit the new states with the intent's
 * completion and an idempotency key derived from what was written (see {@link Transaction}).
 *
 * <p>Implementations must enforce the protocol themselves, for every caller: a commit must be
 * refused if it changes a source whose lock another holder has, presents a lock that is no longer
 * held with its fencing token, or changes or removes a source covered by an open intent that it
 * neither completes nor holds with the intent's fencing tokens ({@link IntentPendingException}).
 *
 * <p>Implementations are thread-safe. Open one with {@link HarnessStores#open}.
 */
public interface HarnessStore extends AutoCloseable {

  void createNamespace(String namespace, Map<String, String> properties);

  boolean namespaceExists(String namespace);

  List<String> listNamespaces();

  Map<String, String> namespaceProperties(String namespace);

  /** Drops an empty namespace; fails if it still has tables. */
  void dropNamespace(String namespace);

  /** Creates a table; version 1 records its first schema, sources and their initial states. */
  HarnessTable createTable(TableDefinition definition);

  HarnessTable loadTable(TableIdentifier table);

  boolean tableExists(TableIdentifier table);

  List<TableIdentifier> listTables(String namespace);

  /** Drops a table's metadata, including its history. The sources' data is not touched. */
  void dropTable(TableIdentifier table);

  /**
   * Renames a table; its versions, sources, locks and uuid go with it, and no version is added.
   * Refused with a {@link CommitConflictException} while a lock of one of its sources is held or an
   * intent is open (running writers address the table by name).
   */
  void renameTable(TableIdentifier from, TableIdentifier to);

  /**
   * The first version to keep under a retention: every version committed before {@code olderThan}
   * is outside it, except the last {@code retainLast} versions; the latest version is always kept.
   * Never less than the table's oldest version.
   */
  long expiryBoundary(TableIdentifier table, Instant olderThan, int retainLast);

  /**
   * Removes the versions before {@code keepFrom} (at most up to the latest version) and what only
   * they held in the store: state records no kept version reads, sources retired before it, schemas
   * and completed intents. Every kept version reads as before; a read of a removed version fails
   * naming {@code retention}. Idempotent: versions already removed are skipped.
   */
  ExpiredVersions expireVersions(TableIdentifier table, long keepFrom, String retention);

  /** Starts a change of the table; nothing happens until {@link Transaction#commit()}. */
  Transaction newTransaction(TableIdentifier table);

  TableVersion readLatest(TableIdentifier table);

  TableVersion readVersion(TableIdentifier table, long version);

  /** The latest version committed at or before {@code timestamp}. */
  TableVersion readVersionAsOf(TableIdentifier table, Instant timestamp);

  /** Versions from {@code fromVersion} upwards, at most {@code limit}, oldest first. */
  List<VersionInfo> history(TableIdentifier table, long fromVersion, int limit);

  Schema schema(TableIdentifier table, int schemaId);

  /**
   * Acquires the lock on a source for {@code lease}, if it is free or its lease expired. The
   * returned lock's fencing token is larger than any issued before for this source.
   *
   * <p>A held lock is refused to everyone, including an owner with the same name: two live
   * processes must never act under one lock, so a rerun of a killed job waits for the lease to end
   * (keep leases short and renew them with a {@link LeaseKeeper}) or an operator breaks the lock
   * ({@link #breakLock}). Implementations must never hand out a token twice.
   *
   * @throws LockHeldException if anyone holds an unexpired lease
   */
  SourceLock acquireLock(TableIdentifier table, String sourceId, String owner, Duration lease);

  /**
   * For operators: frees a source's lock now, whoever holds it, and moves its fencing token on, so
   * the old holder can no longer commit, renew or release it. Logs a warning naming the holder.
   *
   * <p>Breaking the lock of a live writer does not stop its side effects in the source (rows it is
   * writing to PostgreSQL, a snapshot it is staging): do it only when the holder is known to be
   * dead. An open intent of the holder stays open; the next writer completes it.
   *
   * @return the lock as it was held, or empty if it was free or expired
   */
  Optional<SourceLock> breakLock(TableIdentifier table, String sourceId);

  /**
   * Extends a held lock's lease.
   *
   * @throws StaleLockException if the lease expired or the lock was taken over
   */
  SourceLock renewLock(SourceLock lock, Duration lease);

  /** Releases a held lock; releasing a lock that is no longer held does nothing. */
  void releaseLock(SourceLock lock);

  /** Every lock of the table that is held now. */
  List<SourceLock> listLocks(TableIdentifier table);

  /** A short description for logs and errors: kind and location, never credentials. */
  String description();

  /**
   * Logs in once more with the store's credentials on a new connection (not a pooled one, which
   * logged in when it opened): a password changed or revoked since then fails here, with a {@link
   * MetadataStoreException} naming the user, never the password.
   */
  void checkLogin();

  @Override
  void close();
}
