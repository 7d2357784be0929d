package io.dataharness.spark.conf;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.errors.InvalidParameterException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The table properties of {@code CREATE TABLE ... TBLPROPERTIES (...)}, validated up front:
 *
 * <ul>
 *   <li>{@code source.<id>.kind}: kafka, jdbc or iceberg; {@code source.<id>.connection}: a
 *       connection of the catalog of that kind;
 *   <li>kafka: {@code source.<id>.topic}, optional {@code .partitions} (such as {@code 0,2}),
 *       {@code .format} ({@code json}), {@code .start} ({@code earliest} or {@code latest});
 *   <li>jdbc: {@code source.<id>.table} ({@code schema.table}); iceberg: {@code source.<id>.table}
 *       ({@code namespace.table} in the connection's catalog);
 *   <li>any kind: {@code source.<id>.partition-filter} (a SQL predicate on harness columns that
 *       every row of the source satisfies; resolved against the table's columns and type-checked
 *       when the table is created, by {@code read.PartitionFilter.check}), {@code
 *       source.<id>.column.<harness column>} (the source's own name for a column, where it
 *       differs);
 *   <li>table: {@code write.source} (one source, or several comma-separated sources that each
 *       declare a {@code partition-filter}: appends route each row to the one whose filter it
 *       matches; see {@link #writeSources}), {@code primary-key} (comma-separated), {@code
 *       ordering-column}, {@code partition-columns} (comma-separated).
 * </ul>
 *
 * Other properties are kept as table properties.
 */
public final class TableProperties {
  public static final String WRITE_SOURCE = "write.source";
  public static final String PRIMARY_KEY = "primary-key";
  public static final String ORDERING_COLUMN = "ordering-column";
  public static final String PARTITION_COLUMNS = "partition-columns";
  public static final String SOURCE_PRECEDENCE = "source-precedence";
  public static final String COMMENT = "comment";

  /** The table-level keys kept as properties (the others are the layout's). */
  public static final Set<String> TABLE_KEYS = Set.of(WRITE_SOURCE, SOURCE_PRECEDENCE, COMMENT);

  /** The layout's keys. */
  public static final Set<String> LAYOUT_KEYS =
      Set.of(PRIMARY_KEY, ORDERING_COLUMN, PARTITION_COLUMNS);

  /** Every table-level key (source keys aside), sorted, for error messages. */
  public static final java.util.SortedSet<String> KNOWN_KEYS = known();

  private static java.util.SortedSet<String> known() {
    java.util.SortedSet<String> keys = new java.util.TreeSet<>(TABLE_KEYS);
    keys.addAll(LAYOUT_KEYS);
    return java.util.Collections.unmodifiableSortedSet(keys);
  }

  public static final String SOURCE_PREFIX = "source.";

  /** {@code source.<id>.kind}: kafka, jdbc or iceberg. */
  public static final String KIND = "kind";

  /** {@code source.<id>.connection}: a catalog connection of the source's kind. */
  public static final String CONNECTION = "connection";

  /** {@code source.<id>.partition-filter}: a predicate every row of the source satisfies. */
  public static final String PARTITION_FILTER = "partition-filter";

  /** {@code source.<id>.column.<column>}: the source's own name for a harness column. */
  public static final String COLUMN_PREFIX = "column.";

  /** {@code source.<id>.retire = force} (ALTER TABLE only): retire a source that holds rows. */
  public static final String RETIRE = "retire";

  /** The source settings every kind takes; {@link #sourceOptions} adds each kind's own. */
  public static final Set<String> SOURCE_SETTINGS =
      Set.of(KIND, CONNECTION, PARTITION_FILTER, COLUMN_PREFIX, RETIRE);

  private static final Map<SourceKind, Set<String>> OPTIONS =
      Map.of(
          SourceKind.KAFKA, Set.of("topic", "partitions", "format", "start"),
          SourceKind.JDBC, Set.of("table"),
          SourceKind.ICEBERG, Set.of("table"));
  private static final Map<SourceKind, Set<String>> REQUIRED =
      Map.of(
          SourceKind.KAFKA, Set.of("topic"),
          SourceKind.JDBC, Set.of("table"),
          SourceKind.ICEBERG, Set.of("table"));
  // Spark adds these on its own; they are not harness properties
  private static final Set<String> SPARK_RESERVED =
      Set.of("provider", "location", "comment", "owner", "external", "is_managed_location");

  private TableProperties() {}

  /** The source settings of one kind beyond {@link #SOURCE_SETTINGS}, such as a topic. */
  public static Set<String> sourceOptions(SourceKind kind) {
    return OPTIONS.get(kind);
  }

  /** The sources declared in the properties, in declaration order of their ids. */
  public static List<SourceDefinition> sources(
      TableIdentifier table,
      Map<String, String> properties,
      Map<String, ConnectionConfig> connections) {
    Map<String, Map<String, String>> settings = new TreeMap<>();
    properties.forEach(
        (key, value) -> {
          if (key.startsWith(SOURCE_PREFIX)) {
            String rest = key.substring(SOURCE_PREFIX.length());
            int dot = rest.indexOf('.');
            if (dot <= 0) {
              throw invalid(table, key, "it names no source setting; write source.<id>.<setting>");
            }
            settings
                .computeIfAbsent(rest.substring(0, dot), id -> new LinkedHashMap<>())
                .put(rest.substring(dot + 1), value.trim());
          }
        });
    List<SourceDefinition> sources = new ArrayList<>();
    settings.forEach((id, values) -> sources.add(source(table, id, values, connections)));
    return sources;
  }

  private static SourceDefinition source(
      TableIdentifier table,
      String id,
      Map<String, String> values,
      Map<String, ConnectionConfig> connections) {
    String prefix = SOURCE_PREFIX + id + ".";
    String kindName = values.remove(KIND);
    if (kindName == null) {
      throw invalid(table, prefix + "kind", "it is missing; set it to kafka, jdbc or iceberg");
    }
    if (java.util.Arrays.stream(SourceKind.values())
        .noneMatch(known -> known.id().equalsIgnoreCase(kindName.trim()))) {
      throw invalid(
          table,
          prefix + "kind",
          "'" + kindName + "' is not a source kind; set it to kafka, jdbc or iceberg");
    }
    SourceKind kind = SourceKind.parse(kindName);
    String connectionName = values.remove(CONNECTION);
    if (connectionName == null) {
      throw invalid(
          table,
          prefix + "connection",
          "it is missing; set it to one of the catalog's "
              + kind.id()
              + " connections "
              + names(connections, kind));
    }
    ConnectionConfig connection = connections.get(connectionName);
    if (connection == null || connection.kind() != kind) {
      throw invalid(
          table,
          prefix + "connection",
          "there is no "
              + kind.id()
              + " connection '"
              + connectionName
              + "'; configure spark.sql.catalog.<catalog>.connection."
              + connectionName
              + ".kind="
              + kind.id()
              + " or use one of "
              + names(connections, kind));
    }
    String partitionFilter = values.remove(PARTITION_FILTER);
    Map<String, String> columnMapping = new TreeMap<>();
    Map<String, String> options = new TreeMap<>();
    values.forEach(
        (key, value) -> {
          if (key.startsWith(COLUMN_PREFIX)) {
            columnMapping.put(key.substring(COLUMN_PREFIX.length()), value);
          } else if (OPTIONS.get(kind).contains(key)) {
            options.put(key, value);
          } else {
            throw invalid(
                table,
                prefix + key,
                "it is not a setting of a "
                    + kind.id()
                    + " source; "
                    + didYouMean(prefix, key, sourceSettings(kind))
                    + "use kind, connection, partition-filter, column.<column> and "
                    + String.join(", ", OPTIONS.get(kind).stream().sorted().toList()));
          }
        });
    for (String required : REQUIRED.get(kind)) {
      if (!options.containsKey(required) || options.get(required).isEmpty()) {
        throw invalid(
            table, prefix + required, "it is missing; a " + kind.id() + " source needs it");
      }
    }
    if (kind == SourceKind.KAFKA) {
      checkOneOf(table, prefix + "format", options.get("format"), "json");
      checkOneOf(table, prefix + "start", options.get("start"), "earliest", "latest");
    }
    return new SourceDefinition(id, kind, connectionName, options, columnMapping, partitionFilter);
  }

  private static void checkOneOf(
      TableIdentifier table, String key, String value, String... allowed) {
    if (value != null && Arrays.stream(allowed).noneMatch(value::equalsIgnoreCase)) {
      throw invalid(
          table, key, "'" + value + "' is not supported; use " + String.join(" or ", allowed));
    }
  }

  /** The layout (key, ordering, partitioning) and the remaining free-form properties. */
  public static TableDefinition.Layout layout(
      TableIdentifier table, Map<String, String> properties) {
    Map<String, String> free = new TreeMap<>();
    properties.forEach(
        (key, value) -> {
          if (TABLE_KEYS.contains(key)) {
            free.put(key, value);
          } else if (!key.startsWith(SOURCE_PREFIX)
              && !SPARK_RESERVED.contains(key.toLowerCase(Locale.ROOT))
              && !LAYOUT_KEYS.contains(key)) {
            throw invalid(
                table,
                key,
                "it is not a harness table property; "
                    + didYouMean("", key, KNOWN_KEYS)
                    + "use one of "
                    + KNOWN_KEYS
                    + " or source.<id>.<key>");
          }
        });
    return new TableDefinition.Layout(
        list(properties.get(PRIMARY_KEY)),
        properties.get(ORDERING_COLUMN) == null ? null : properties.get(ORDERING_COLUMN).trim(),
        list(properties.get(PARTITION_COLUMNS)),
        free);
  }

  /**
   * The write sources that {@code write.source} names, validated against the table's sources: each
   * must be one of them, named once, and when there are several each must declare a {@code
   * partition-filter} (appends route each row to the one source whose filter it matches).
   *
   * @param action what is being done, for the message ("create", "alter", "append to")
   * @return the ids in the order written; empty when the property is absent or blank
   * @throws ValidationException naming the table, the value and what to write instead
   */
  public static List<String> writeSources(
      TableIdentifier table, String action, String value, Map<String, SourceDefinition> sources) {
    List<String> ids = list(value);
    List<String> seen = new ArrayList<>();
    for (String id : ids) {
      if (!sources.containsKey(id)) {
        throw new InvalidParameterException(
            WRITE_SOURCE,
            "Cannot %s %s: table property %s = '%s': '%s' is not one of its sources %s; name"
                + " one or more of them, comma-separated",
            action,
            table,
            WRITE_SOURCE,
            value,
            id,
            new java.util.TreeSet<>(sources.keySet()));
      }
      if (seen.contains(id)) {
        throw new InvalidParameterException(
            WRITE_SOURCE,
            "Cannot %s %s: table property %s = '%s' names '%s' twice; name each source once",
            action,
            table,
            WRITE_SOURCE,
            value,
            id);
      }
      seen.add(id);
    }
    if (ids.size() > 1) {
      List<String> unfiltered =
          ids.stream().filter(id -> sources.get(id).partitionFilter() == null).toList();
      if (!unfiltered.isEmpty()) {
        throw new InvalidParameterException(
            WRITE_SOURCE,
            "Cannot %s %s: table property %s = '%s' names several write sources, so appends"
                + " route each row by the sources' partition filters, but %s declare no"
                + " partition-filter; set source.<id>.partition-filter for each, or name one write"
                + " source",
            action,
            table,
            WRITE_SOURCE,
            value,
            unfiltered);
      }
    }
    return ids;
  }

  /** The settings of a source of {@code kind} other than {@code column.<column>}. */
  private static List<String> sourceSettings(SourceKind kind) {
    List<String> settings = new ArrayList<>(List.of(KIND, CONNECTION, PARTITION_FILTER));
    settings.addAll(OPTIONS.get(kind));
    return settings;
  }

  /**
   * "did you mean 'source.a.connection'? " when a known key is close to a misspelt one, else "".
   */
  public static String didYouMean(
      String prefix, String key, java.util.Collection<String> knownKeys) {
    return CatalogOptions.closest(key, knownKeys)
        .map(known -> "did you mean '" + prefix + known + "'? ")
        .orElse("");
  }

  /** A comma-separated list of names, trimmed, empty entries left out. */
  public static List<String> list(String value) {
    if (value == null || value.isBlank()) {
      return List.of();
    }
    return Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  private static String names(Map<String, ConnectionConfig> connections, SourceKind kind) {
    return connections.values().stream()
        .filter(connection -> connection.kind() == kind)
        .map(ConnectionConfig::name)
        .sorted()
        .toList()
        .toString();
  }

  private static InvalidParameterException invalid(TableIdentifier table, String key, String fix) {
    return new InvalidParameterException(
        key, "Cannot use table property '%s' of %s: %s", key, table, fix);
  }
}
