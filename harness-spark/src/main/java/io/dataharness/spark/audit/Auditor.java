package io.dataharness.spark.audit;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.ConnectionConfig;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks a harness table's invariants over its retained versions and the sources' own records (SPEC
 * 11, "Auditor"), and returns each violation with the versions involved:
 *
 * <ul>
 *   <li>Kafka: per partition, start and end never decrease; a start advances only by a move whose
 *       recorded offsets are exactly the offsets that left the range; no offset is inside a
 *       version's range and recorded as moved at or before it; the latest ranges still exist in the
 *       topic (not expired, not past the last stable offset);
 *   <li>Iceberg: every recorded snapshot exists; every recorded snapshot is kept by a harness tag
 *       ({@code harness-<table>-v<version>}, a warning when missing) and each such tag names the
 *       snapshot its version records; a version's snapshot descends from the previous version's
 *       (unless the commit's operation starts with {@code rollback});
 *   <li>PostgreSQL (primary-key tables): no two images of one key are valid at one instant; no
 *       image visible at a version's read timestamp is also in an Iceberg source at that version
 *       with the same ordering value;
 *   <li>intents: a write-ahead intent open for longer than a lease whose sources nobody holds a
 *       lock on is an interrupted writer.
 * </ul>
 *
 * <p>It reads metadata: the harness history, Iceberg snapshots and refs, Kafka offsets, and SQL
 * over PostgreSQL's history tables. The only data it reads from Iceberg is the key and ordering
 * columns of the few keys that PostgreSQL names as candidates for duplicates.
 */
public final class Auditor {
  private static final Logger LOG = LoggerFactory.getLogger(Auditor.class);

  /**
   * The age after which an open intent whose sources nobody holds counts as interrupted: the lease
   * writers take their locks for ({@link LeaseKeeper#DEFAULT_LEASE}).
   */
  public static final Duration DEFAULT_LEASE = LeaseKeeper.DEFAULT_LEASE;

  private static final int HISTORY_PAGE = 500;

  private final SparkSession spark;
  private final HarnessStore store;
  private final Function<SourceDefinition, ConnectionConfig> connections;
  private final OpenIntents intents;
  private Duration lease = DEFAULT_LEASE;

  /**
   * @param spark the session whose catalogs reach the Iceberg sources
   * @param store the table's metadata store
   * @param connections the connection of each source
   * @param intents how writers record their write-ahead intents
   */
  public Auditor(
      SparkSession spark,
      HarnessStore store,
      Function<SourceDefinition, ConnectionConfig> connections,
      OpenIntents intents) {
    this.spark = Objects.requireNonNull(spark, "spark");
    this.store = Objects.requireNonNull(store, "store");
    this.connections = Objects.requireNonNull(connections, "connections");
    this.intents = Objects.requireNonNull(intents, "intents");
  }

  /** How old an open intent must be before it counts as interrupted (default 30 seconds). */
  public Auditor lease(Duration value) {
    if (value == null || value.isNegative()) {
      throw new ValidationException(
          "Invalid lease %s for an audit: use zero or a positive interval", value);
    }
    this.lease = value;
    return this;
  }

  /** Audits one table. */
  public AuditReport audit(TableIdentifier table) {
    long startNanos = System.nanoTime();
    HarnessTable definition = store.loadTable(table);
    List<TableVersion> versions = retainedVersions(table, definition.currentVersion());
    List<Violation> violations = new ArrayList<>();
    violations.addAll(new KafkaChecks(versions, connections).check());
    violations.addAll(new IcebergChecks(spark, definition, versions, connections).check());
    violations.addAll(new PostgresChecks(spark, definition, versions, connections).check());
    violations.addAll(
        new IntentChecks(store, table, versions, intents, lease, Instant.now()).check());
    violations.sort(
        Comparator.comparing((Violation v) -> v.severity())
            .thenComparing(v -> v.versions().isEmpty() ? Long.MAX_VALUE : v.versions().get(0))
            .thenComparing(v -> v.check().id())
            .thenComparing(Violation::source)
            .thenComparing(Violation::detail));
    AuditReport report =
        new AuditReport(table, definition.currentVersion(), versions.size(), violations);
    LOG.info(
        "Audited {} ({} versions up to {}) in {} ms: {} errors, {} warnings",
        table,
        versions.size(),
        definition.currentVersion(),
        (System.nanoTime() - startNanos) / 1_000_000,
        report.errors(),
        report.warnings());
    return report;
  }

  /** Every retained version up to {@code latest}, oldest first. */
  private List<TableVersion> retainedVersions(TableIdentifier table, long latest) {
    List<TableVersion> versions = new ArrayList<>();
    long from = 0;
    while (true) {
      List<VersionInfo> page = store.history(table, from, HISTORY_PAGE);
      for (VersionInfo info : page) {
        if (info.version() <= latest) {
          versions.add(store.readVersion(table, info.version()));
        }
      }
      if (page.size() < HISTORY_PAGE || page.get(page.size() - 1).version() >= latest) {
        return versions;
      }
      from = page.get(page.size() - 1).version() + 1;
    }
  }

  /** The sources that hold a state of {@code kind} at any of {@code versions}, by id, in order. */
  static Map<String, SourceDefinition> sourcesOfKind(
      List<TableVersion> versions, Class<? extends SourceState> kind) {
    Map<String, SourceDefinition> sources = new LinkedHashMap<>();
    for (TableVersion version : versions) {
      version
          .sources()
          .forEach(
              (id, source) -> {
                if (kind.isInstance(version.sourceStates().get(id))) {
                  sources.put(id, source);
                }
              });
    }
    return sources;
  }
}
