package io.dataharness.metadata;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Everything needed to create a harness table: its name, first schema, layout, and its first
 * sources with the state each one starts at (which becomes version 1).
 */
public record TableDefinition(
    TableIdentifier identifier,
    Schema schema,
    Layout layout,
    Map<String, SourceDefinition> sources,
    Map<String, SourceState> initialStates) {

  /**
   * What a table declares besides columns and sources.
   *
   * @param primaryKey harness columns that identify a row (may be empty)
   * @param orderingColumn the column whose larger value is the later image of a key, or null
   * @param partitionColumns harness columns that sources' partition filters refer to
   * @param properties free-form table properties
   */
  public record Layout(
      List<String> primaryKey,
      String orderingColumn,
      List<String> partitionColumns,
      Map<String, String> properties) {
    public Layout {
      primaryKey = List.copyOf(primaryKey == null ? List.of() : primaryKey);
      partitionColumns = List.copyOf(partitionColumns == null ? List.of() : partitionColumns);
      properties = Map.copyOf(new TreeMap<>(properties == null ? Map.of() : properties));
    }

    public static Layout empty() {
      return new Layout(List.of(), null, List.of(), Map.of());
    }

    /** Refuses key, ordering or partition columns that {@code schema} does not have. */
    public void validate(TableIdentifier table, Schema schema) {
      List<String> columns = new ArrayList<>(primaryKey);
      columns.addAll(partitionColumns);
      if (orderingColumn != null) {
        columns.add(orderingColumn);
      }
      for (String column : columns) {
        if (schema.field(column).isEmpty()) {
          throw new ValidationException(
              "Invalid layout of table %s: key, ordering or partition column '%s' is not a column of"
                  + " the table",
              table, column);
        }
      }
    }
  }

  public TableDefinition {
    Objects.requireNonNull(identifier, "identifier");
    Objects.requireNonNull(schema, "schema");
    layout = layout == null ? Layout.empty() : layout;
    sources = new LinkedHashMap<>(sources == null ? Map.of() : sources);
    initialStates = Map.copyOf(initialStates == null ? Map.of() : initialStates);
    layout.validate(identifier, schema);
    for (Map.Entry<String, SourceDefinition> source : sources.entrySet()) {
      SourceState state = initialStates.get(source.getKey());
      if (state == null || state.kind() != source.getValue().kind()) {
        throw new ValidationException(
            "Cannot create table %s: source '%s' (%s) needs an initial %s state",
            identifier,
            source.getKey(),
            source.getValue().kind().id(),
            source.getValue().kind().id());
      }
    }
    if (!sources.keySet().containsAll(initialStates.keySet())) {
      throw new ValidationException(
          "Cannot create table %s: initial states given for sources that are not declared: %s",
          identifier, initialStates.keySet());
    }
    sources = java.util.Collections.unmodifiableMap(sources);
  }

  /** A builder, for readability at call sites. */
  public static Builder builder(TableIdentifier identifier, Schema schema) {
    return new Builder(identifier, schema);
  }

  /** Builds a {@link TableDefinition}. */
  public static final class Builder {
    private final TableIdentifier identifier;
    private final Schema schema;
    private List<String> primaryKey = List.of();
    private String orderingColumn;
    private List<String> partitionColumns = List.of();
    private final Map<String, String> properties = new TreeMap<>();
    private final Map<String, SourceDefinition> sources = new LinkedHashMap<>();
    private final Map<String, SourceState> states = new LinkedHashMap<>();

    private Builder(TableIdentifier identifier, Schema schema) {
      this.identifier = identifier;
      this.schema = schema;
    }

    public Builder primaryKey(List<String> columns) {
      this.primaryKey = columns;
      return this;
    }

    public Builder orderingColumn(String column) {
      this.orderingColumn = column;
      return this;
    }

    public Builder partitionColumns(List<String> columns) {
      this.partitionColumns = columns;
      return this;
    }

    public Builder property(String key, String value) {
      properties.put(key, value);
      return this;
    }

    public Builder properties(Map<String, String> values) {
      properties.putAll(values);
      return this;
    }

    public Builder source(SourceDefinition source, SourceState initialState) {
      if (sources.putIfAbsent(source.id(), source) != null) {
        throw new AlreadyExistsException(
            "Cannot create table %s: source '%s' is declared twice", identifier, source.id());
      }
      states.put(source.id(), initialState);
      return this;
    }

    public TableDefinition build() {
      return new TableDefinition(
          identifier,
          schema,
          new Layout(primaryKey, orderingColumn, partitionColumns, properties),
          sources,
          states);
    }
  }
}
