package io.dataharness.metadata;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A harness table's definition as it is now: what does not change with versions (identity, key,
 * ordering, partitioning, properties), plus its current version number. Read a {@link TableVersion}
 * for schema, sources and states at any version.
 *
 * @param oldestVersion the first version the table keeps: 1 unless {@link
 *     HarnessStore#expireVersions} removed older ones
 */
public record HarnessTable(
    TableIdentifier identifier,
    String uuid,
    TableDefinition.Layout layout,
    long currentVersion,
    Instant createdAt,
    long oldestVersion) {

  public List<String> primaryKey() {
    return layout.primaryKey();
  }

  public Optional<String> orderingColumn() {
    return Optional.ofNullable(layout.orderingColumn());
  }

  public Map<String, String> properties() {
    return layout.properties();
  }
}
