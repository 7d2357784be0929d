package io.dataharness.spark.audit;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.SourceUnavailableException;
import io.dataharness.spark.write.IcebergStaging;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.iceberg.SnapshotRef;
import org.apache.iceberg.Table;
import org.apache.iceberg.spark.source.SparkTable;
import org.apache.iceberg.util.SnapshotUtil;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.Identifier;

/**
 * The Iceberg invariants: recorded snapshots exist and are kept by harness tags, tags name what
 * their versions record, and each version's snapshot descends from the previous version's.
 */
final class IcebergChecks {
  /** Operations allowed to move an Iceberg source to a snapshot that is not a descendant. */
  static final String REWINDING_OPERATION_PREFIX = "rollback";

  private final SparkSession spark;
  private final HarnessTable harness;
  private final List<TableVersion> versions;
  private final Function<SourceDefinition, ConnectionConfig> connections;
  private final List<Violation> violations = new ArrayList<>();

  IcebergChecks(
      SparkSession spark,
      HarnessTable harness,
      List<TableVersion> versions,
      Function<SourceDefinition, ConnectionConfig> connections) {
    this.spark = spark;
    this.harness = harness;
    this.versions = versions;
    this.connections = connections;
  }

  List<Violation> check() {
    Auditor.sourcesOfKind(versions, SourceState.Iceberg.class).forEach(this::checkSource);
    return violations;
  }

  private void checkSource(String source, SourceDefinition definition) {
    Table iceberg;
    try {
      iceberg = load(definition);
    } catch (HarnessException e) {
      violations.add(Violation.unavailable(source, versions.get(versions.size() - 1).version(), e));
      return;
    }
    // snapshot id -> the versions recording it; the version that introduced it
    Map<Long, List<Long>> recordedBy = new TreeMap<>();
    Map<Long, Long> introducedBy = new TreeMap<>();
    Map<Long, Long> snapshotOfVersion = new TreeMap<>();
    TableVersion previous = null;
    for (TableVersion version : versions) {
      if (!(version.sourceStates().get(source) instanceof SourceState.Iceberg state)) {
        previous = null;
        continue;
      }
      Long current = state.snapshotId().isPresent() ? state.snapshotId().getAsLong() : null;
      Long before = null;
      boolean consecutive =
          previous != null
              && previous.version() + 1 == version.version()
              && previous.sourceStates().get(source) instanceof SourceState.Iceberg;
      if (consecutive) {
        SourceState.Iceberg was = (SourceState.Iceberg) previous.sourceStates().get(source);
        before = was.snapshotId().isPresent() ? was.snapshotId().getAsLong() : null;
        checkDescends(source, iceberg, previous, before, version, current);
      }
      if (current != null) {
        recordedBy.computeIfAbsent(current, k -> new ArrayList<>()).add(version.version());
        if (!current.equals(before)) {
          introducedBy.putIfAbsent(current, version.version());
        }
        snapshotOfVersion.put(version.version(), current);
      }
      previous = version;
    }
    Map<Long, Set<String>> harnessTags = new TreeMap<>();
    iceberg
        .refs()
        .forEach(
            (name, ref) -> {
              if (ref.isTag() && name.startsWith(IcebergStaging.tagPrefix(harness))) {
                harnessTags.computeIfAbsent(ref.snapshotId(), k -> new LinkedHashSet<>()).add(name);
                checkTag(source, iceberg, name, ref, snapshotOfVersion);
              }
            });
    recordedBy.forEach(
        (snapshot, recording) -> {
          if (iceberg.snapshot(snapshot) == null) {
            violations.add(
                new Violation(
                    Check.ICEBERG_SNAPSHOT_MISSING,
                    source,
                    recording,
                    String.format(
                        "Iceberg table %s of source '%s' has no snapshot %d, which versions %s"
                            + " record: those versions cannot be read. The snapshot was expired"
                            + " without a harness tag keeping it, or never published; restore it"
                            + " or stop reading those versions",
                        iceberg.name(), source, snapshot, describe(recording))));
          } else if (!harnessTags.containsKey(snapshot)) {
            long version = introducedBy.getOrDefault(snapshot, recording.get(0));
            violations.add(
                new Violation(
                    Check.ICEBERG_SNAPSHOT_UNTAGGED,
                    source,
                    List.of(version),
                    String.format(
                        "Iceberg table %s of source '%s': snapshot %d recorded since version %d"
                            + " has no harness tag, so snapshot expiry may remove it and those"
                            + " versions could no longer be read; tag it: ALTER TABLE %s CREATE"
                            + " TAG `%s` AS OF VERSION %d",
                        iceberg.name(),
                        source,
                        snapshot,
                        version,
                        iceberg.name(),
                        IcebergStaging.tagName(harness, version),
                        snapshot)));
          }
        });
  }

  private void checkDescends(
      String source,
      Table iceberg,
      TableVersion previous,
      Long before,
      TableVersion version,
      Long current) {
    if (before == null || before.equals(current)) {
      return;
    }
    String operation = version.commit() == null ? "" : version.commit().operation();
    if (operation != null && operation.startsWith(REWINDING_OPERATION_PREFIX)) {
      return;
    }
    if (current == null) {
      violations.add(
          new Violation(
              Check.ICEBERG_SNAPSHOT_NOT_DESCENDANT,
              source,
              List.of(previous.version(), version.version()),
              String.format(
                  "Iceberg source '%s' recorded snapshot %d at version %d and no snapshot at"
                      + " version %d (operation %s): every row of the source vanished",
                  source, before, previous.version(), version.version(), operation)));
      return;
    }
    if (iceberg.snapshot(before) == null || iceberg.snapshot(current) == null) {
      return; // reported as missing
    }
    if (!SnapshotUtil.isAncestorOf(iceberg, current, before)) {
      violations.add(
          new Violation(
              Check.ICEBERG_SNAPSHOT_NOT_DESCENDANT,
              source,
              List.of(previous.version(), version.version()),
              String.format(
                  "Iceberg table %s of source '%s': snapshot %d recorded by version %d does not"
                      + " descend from snapshot %d recorded by version %d (operation %s): rows"
                      + " of the earlier version may be lost or come back; a commit that rewinds"
                      + " a source names an operation starting with '%s'",
                  iceberg.name(),
                  source,
                  current,
                  version.version(),
                  before,
                  previous.version(),
                  operation,
                  REWINDING_OPERATION_PREFIX)));
    }
  }

  private void checkTag(
      String source,
      Table iceberg,
      String name,
      SnapshotRef ref,
      Map<Long, Long> snapshotOfVersion) {
    long version;
    try {
      version = Long.parseLong(name.substring(IcebergStaging.tagPrefix(harness).length()));
    } catch (NumberFormatException e) {
      return;
    }
    Long recorded = snapshotOfVersion.get(version);
    if (recorded != null && recorded != ref.snapshotId()) {
      violations.add(
          new Violation(
              Check.ICEBERG_TAG_MISMATCH,
              source,
              List.of(version),
              String.format(
                  "Iceberg table %s of source '%s': tag %s names snapshot %d, but version %d"
                      + " records snapshot %d; replace the tag: ALTER TABLE %s REPLACE TAG `%s`"
                      + " AS OF VERSION %d",
                  iceberg.name(),
                  source,
                  name,
                  ref.snapshotId(),
                  version,
                  recorded,
                  iceberg.name(),
                  name,
                  recorded)));
    }
  }

  private Table load(SourceDefinition source) {
    ConnectionConfig connection = connections.apply(source);
    Identifier identifier = IcebergSources.identifier(source);
    try {
      Table iceberg =
          ((SparkTable) IcebergSources.catalog(spark, connection).loadTable(identifier)).table();
      // a caching catalog may hold old metadata: the audit needs the table as it is now
      iceberg.refresh();
      return iceberg;
    } catch (org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
      throw new SourceUnavailableException(
          e,
          "Cannot audit %s: Iceberg table %s of source '%s' does not exist in catalog %s",
          harness.identifier(),
          identifier,
          source.id(),
          connection.sparkCatalog());
    }
  }

  private static String describe(List<Long> versions) {
    if (versions.size() <= 10) {
      return versions.toString();
    }
    return versions.get(0)
        + " to "
        + versions.get(versions.size() - 1)
        + " ("
        + versions.size()
        + " versions)";
  }
}
