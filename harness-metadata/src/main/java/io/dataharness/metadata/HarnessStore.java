package io.dataharness.metadata;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * The harness metadata store: namespaces, tables, their numbered versions, and locks on sources.
 * One interface for every backing database; every implementation passes the same conformance suite.
 *
 * <p>Other engines and services (a Kafka consumer, a Flink job, a script) take part through this
 * interface: acquire a source's lock, write to the source, then commit the new state with an
 * idempotency key derived from what was written.
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
   * @throws LockHeldException if another owner holds an unexpired lease
   */
  SourceLock acquireLock(TableIdentifier table, String sourceId, String owner, Duration lease);

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

  @Override
  void close();
}
