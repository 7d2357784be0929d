package io.dataharness.metadata;

import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A source of a harness table: where its rows live and how to read them. It references a named
 * connection (whose secrets live in the engine's configuration or the environment, never here).
 *
 * @param id unique within the table
 * @param kind kafka, jdbc or iceberg
 * @param connection the name of the connection to reach it through
 * @param options kind-specific settings, such as {@code topic}, {@code partitions}, {@code format},
 *     {@code table}
 * @param columnMapping harness column name to the source's own column name, where they differ
 * @param partitionFilter a SQL predicate on harness columns that every row of this source
 *     satisfies, or null
 */
public record SourceDefinition(
    String id,
    SourceKind kind,
    String connection,
    Map<String, String> options,
    Map<String, String> columnMapping,
    String partitionFilter) {
  public SourceDefinition {
    Names.check("source id", id);
    Objects.requireNonNull(kind, "kind");
    Names.check("connection name", connection);
    options = Map.copyOf(new TreeMap<>(options == null ? Map.of() : options));
    columnMapping = Map.copyOf(columnMapping == null ? Map.of() : columnMapping);
    if (partitionFilter != null && partitionFilter.isBlank()) {
      partitionFilter = null;
    }
  }

  public SourceDefinition(
      String id, SourceKind kind, String connection, Map<String, String> options) {
    this(id, kind, connection, options, Map.of(), null);
  }

  public Optional<String> option(String key) {
    return Optional.ofNullable(options.get(key));
  }

  public Optional<String> partitionFilterPredicate() {
    return Optional.ofNullable(partitionFilter);
  }

  /** The source's column holding the given harness column. */
  public String sourceColumn(String harnessColumn) {
    return columnMapping.getOrDefault(harnessColumn, harnessColumn);
  }
}
