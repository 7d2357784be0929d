package io.dataharness.spark.audit;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;

import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.ConnectionConfig;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.PostgresHistoryAudit;
import io.dataharness.spark.source.SourceUnavailableException;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.Identifier;

/**
 * The PostgreSQL invariants of primary-key tables: one valid image per key at every instant, and no
 * image visible at a version in both a PostgreSQL source and an Iceberg source.
 *
 * <p>The duplicate check looks at the images a version shows from PostgreSQL that stopped being
 * valid after its read timestamp (the images a move copies into Iceberg and then deletes, or that
 * the application updated later), and looks those keys up in the Iceberg snapshot the version
 * records. A duplicate is the same image: the same key with an equal ordering value (with no
 * ordering column, the same key). An image still current in PostgreSQL is not looked up (that would
 * read the whole table).
 */
final class PostgresChecks {
  /** At most this many overlaps or duplicate candidates are read per source and version. */
  static final int LIMIT = 10_000;

  /** Keys per Iceberg lookup query. */
  private static final int LOOKUP_CHUNK = 500;

  private static final int REPORTED_KEYS = 20;

  private final SparkSession spark;
  private final HarnessTable table;
  private final List<TableVersion> versions;
  private final Function<SourceDefinition, ConnectionConfig> connections;
  private final List<Violation> violations = new ArrayList<>();

  PostgresChecks(
      SparkSession spark,
      HarnessTable table,
      List<TableVersion> versions,
      Function<SourceDefinition, ConnectionConfig> connections) {
    this.spark = spark;
    this.table = table;
    this.versions = versions;
    this.connections = connections;
  }

  List<Violation> check() {
    if (table.primaryKey().isEmpty()) {
      return violations;
    }
    Map<String, SourceDefinition> jdbcSources = new LinkedHashMap<>();
    for (TableVersion version : versions) {
      version
          .sources()
          .forEach(
              (id, source) -> {
                if (version.sourceStates().get(id) instanceof SourceState.Jdbc) {
                  jdbcSources.put(id, source);
                }
              });
    }
    jdbcSources.forEach(
        (id, source) -> {
          try (PostgresHistoryAudit history =
              PostgresHistoryAudit.open(connections.apply(source), source)) {
            checkOverlaps(id, source, history);
            checkDuplicates(id, source, history);
          } catch (SourceUnavailableException e) {
            violations.add(
                Violation.unavailable(id, versions.get(versions.size() - 1).version(), e));
          }
        });
    return violations;
  }

  private List<String> keyColumns(SourceDefinition source) {
    return table.primaryKey().stream().map(source::sourceColumn).collect(Collectors.toList());
  }

  private void checkOverlaps(String id, SourceDefinition source, PostgresHistoryAudit history) {
    List<PostgresHistoryAudit.Overlap> overlaps =
        history.overlappingImages(keyColumns(source), LIMIT);
    for (PostgresHistoryAudit.Overlap overlap : overlaps) {
      List<Long> seenBy = new ArrayList<>();
      for (TableVersion version : versions) {
        if (version.sourceStates().get(id) instanceof SourceState.Jdbc jdbc
            && overlap.visibleAt(jdbc.readTimestamp())) {
          seenBy.add(version.version());
        }
      }
      violations.add(
          new Violation(
              Check.POSTGRES_OVERLAPPING_IMAGES,
              id,
              seenBy,
              String.format(
                  "PostgreSQL source '%s' (table %s, history %s_harness_history): two images of"
                      + " key %s are valid at once, one from %s to %s and one from %s to %s;"
                      + " %s. The history table was changed outside the harness trigger, or the"
                      + " trigger was disabled",
                  id,
                  history.tableName(),
                  history.tableName(),
                  describeKey(overlap.key()),
                  bound(overlap.earlierFrom(), "-infinity"),
                  bound(overlap.earlierTo(), "infinity"),
                  bound(overlap.laterFrom(), "-infinity"),
                  bound(overlap.laterTo(), "infinity"),
                  seenBy.isEmpty()
                      ? "no retained version reads between those instants"
                      : "versions " + seenBy + " read both")));
    }
    if (overlaps.size() >= LIMIT) {
      violations.add(
          new Violation(
              Check.POSTGRES_OVERLAPPING_IMAGES,
              id,
              List.of(),
              String.format(
                  "PostgreSQL source '%s': more than %d overlapping images; only the first %d"
                      + " keys are listed",
                  id, LIMIT, LIMIT)));
    }
  }

  /** A version's state pair: the PostgreSQL read timestamp and an Iceberg snapshot. */
  private record Pair(String icebergSource, Instant readTimestamp, long snapshotId) {}

  private void checkDuplicates(String id, SourceDefinition source, PostgresHistoryAudit history) {
    // versions that show the same pair of states are checked once
    Map<Pair, List<Long>> pairs = new LinkedHashMap<>();
    Map<String, SourceDefinition> icebergSources = new HashMap<>();
    for (TableVersion version : versions) {
      if (!(version.sourceStates().get(id) instanceof SourceState.Jdbc jdbc)) {
        continue;
      }
      version
          .sourceStates()
          .forEach(
              (otherId, state) -> {
                if (state instanceof SourceState.Iceberg iceberg
                    && iceberg.snapshotId().isPresent()) {
                  icebergSources.put(otherId, version.source(otherId));
                  pairs
                      .computeIfAbsent(
                          new Pair(otherId, jdbc.readTimestamp(), iceberg.snapshotId().getAsLong()),
                          k -> new ArrayList<>())
                      .add(version.version());
                }
              });
    }
    String ordering = table.orderingColumn().orElse(null);
    for (Map.Entry<Pair, List<Long>> entry : pairs.entrySet()) {
      Pair pair = entry.getKey();
      List<PostgresHistoryAudit.Image> candidates =
          history.imagesEndedAfter(
              keyColumns(source),
              ordering == null ? null : source.sourceColumn(ordering),
              pair.readTimestamp(),
              LIMIT);
      if (candidates.isEmpty()) {
        continue;
      }
      SourceDefinition iceberg = icebergSources.get(pair.icebergSource());
      List<String> duplicates = duplicates(iceberg, pair.snapshotId(), candidates, ordering);
      if (duplicates.isEmpty()) {
        continue;
      }
      violations.add(
          new Violation(
              Check.DUPLICATE_ACROSS_SOURCES,
              id + "," + pair.icebergSource(),
              entry.getValue(),
              String.format(
                  "%d keys have the same image in PostgreSQL source '%s' at read timestamp %s and"
                      + " in Iceberg source '%s' at snapshot %d, so versions %s show them twice:"
                      + " %s%s. A commit recorded the Iceberg snapshot holding moved rows without"
                      + " advancing the PostgreSQL read timestamp past their delete",
                  duplicates.size(),
                  id,
                  pair.readTimestamp(),
                  pair.icebergSource(),
                  pair.snapshotId(),
                  entry.getValue(),
                  String.join(
                      ", ", duplicates.subList(0, Math.min(REPORTED_KEYS, duplicates.size()))),
                  duplicates.size() > REPORTED_KEYS ? ", ..." : "")));
    }
  }

  /** The candidates whose image (key and ordering value) is in the Iceberg snapshot. */
  private List<String> duplicates(
      SourceDefinition iceberg,
      long snapshotId,
      List<PostgresHistoryAudit.Image> candidates,
      String ordering) {
    List<String> keyColumns = keyColumns(iceberg);
    String orderingColumn = ordering == null ? null : iceberg.sourceColumn(ordering);
    Map<String, PostgresHistoryAudit.Image> byKey = new TreeMap<>();
    for (PostgresHistoryAudit.Image image : candidates) {
      byKey.put(canonical(image.key()), image);
    }
    ConnectionConfig connection = connections.apply(iceberg);
    Identifier identifier = IcebergSources.identifier(iceberg);
    if (!snapshotExists(connection, identifier, snapshotId)) {
      return List.of(); // reported by the Iceberg checks
    }
    String name =
        quote(connection.sparkCatalog())
            + "."
            + java.util.Arrays.stream(identifier.namespace())
                .map(PostgresChecks::quote)
                .collect(Collectors.joining("."))
            + "."
            + quote(identifier.name());
    List<Column> select = new ArrayList<>();
    keyColumns.forEach(column -> select.add(col(quote(column))));
    if (orderingColumn != null) {
      select.add(col(quote(orderingColumn)));
    }
    List<String> found = new ArrayList<>();
    List<PostgresHistoryAudit.Image> all = new ArrayList<>(byKey.values());
    for (int from = 0; from < all.size(); from += LOOKUP_CHUNK) {
      List<PostgresHistoryAudit.Image> chunk =
          all.subList(from, Math.min(all.size(), from + LOOKUP_CHUNK));
      Column filter = keyFilter(keyColumns, chunk);
      List<Row> rows =
          spark
              .sql("SELECT * FROM " + name + " VERSION AS OF " + snapshotId)
              .filter(filter)
              .select(select.toArray(Column[]::new))
              .collectAsList();
      for (Row row : rows) {
        List<Object> key = new ArrayList<>();
        for (int i = 0; i < keyColumns.size(); i++) {
          key.add(row.get(i));
        }
        PostgresHistoryAudit.Image image = byKey.get(canonical(key));
        if (image == null) {
          continue;
        }
        if (orderingColumn == null
            || Objects.equals(canonical(image.ordering()), canonical(row.get(keyColumns.size())))) {
          found.add(
              describeKey(key.stream().map(String::valueOf).toList())
                  + (orderingColumn == null ? "" : " (" + ordering + " " + image.ordering() + ")"));
        }
      }
    }
    return found;
  }

  private boolean snapshotExists(ConnectionConfig connection, Identifier identifier, long id) {
    try {
      org.apache.iceberg.Table iceberg =
          ((org.apache.iceberg.spark.source.SparkTable)
                  IcebergSources.catalog(spark, connection).loadTable(identifier))
              .table();
      iceberg.refresh();
      return iceberg.snapshot(id) != null;
    } catch (org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
      return false;
    }
  }

  private static Column keyFilter(List<String> keyColumns, List<PostgresHistoryAudit.Image> chunk) {
    if (keyColumns.size() == 1) {
      return col(quote(keyColumns.get(0)))
          .isin(chunk.stream().map(image -> sparkValue(image.key().get(0))).toArray());
    }
    Column any = lit(false);
    for (PostgresHistoryAudit.Image image : chunk) {
      Column all = lit(true);
      for (int i = 0; i < keyColumns.size(); i++) {
        all = all.and(col(quote(keyColumns.get(i))).equalTo(lit(sparkValue(image.key().get(i)))));
      }
      any = any.or(all);
    }
    return any;
  }

  /** A JDBC value as a Spark literal value. */
  private static Object sparkValue(Object value) {
    if (value instanceof OffsetDateTime time) {
      return java.sql.Timestamp.from(time.toInstant());
    }
    return value;
  }

  /** A type-independent text form, so JDBC and Spark values of one image compare equal. */
  static String canonical(Object value) {
    if (value == null) {
      return "null";
    }
    if (value instanceof List<?> list) {
      return list.stream().map(PostgresChecks::canonical).collect(Collectors.joining("\u0001"));
    }
    if (value instanceof java.sql.Timestamp timestamp) {
      return timestamp.toInstant().toString();
    }
    if (value instanceof OffsetDateTime time) {
      return time.toInstant().toString();
    }
    if (value instanceof Instant instant) {
      return instant.toString();
    }
    if (value instanceof Number number) {
      return new BigDecimal(number.toString()).stripTrailingZeros().toPlainString();
    }
    return value.toString();
  }

  private static String quote(String identifier) {
    return "`" + identifier.replace("`", "``") + "`";
  }

  private String describeKey(List<String> values) {
    List<String> parts = new ArrayList<>();
    for (int i = 0; i < values.size(); i++) {
      parts.add(table.primaryKey().get(i) + "=" + values.get(i));
    }
    return "(" + String.join(", ", parts) + ")";
  }

  private static String bound(Instant instant, String unbounded) {
    return instant == null ? unbounded : instant.toString();
  }
}
