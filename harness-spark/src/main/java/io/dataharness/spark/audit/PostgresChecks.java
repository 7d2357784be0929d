package io.dataharness.spark.audit;

import static org.apache.spark.sql.functions.col;

import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.conf.ConnectionConfig;
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
  private static final org.slf4j.Logger LOG =
      org.slf4j.LoggerFactory.getLogger(PostgresChecks.class);

  /** At most this many overlaps or duplicate candidates are read per source and version. */
  static final int LIMIT = 10_000;

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
    Auditor.sourcesOfKind(versions, SourceState.Jdbc.class)
        .forEach(
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

  /** An Iceberg source's snapshot. */
  private record Snapshot(String icebergSource, long snapshotId) {}

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
    // the candidates of every pair, grouped by snapshot: one Iceberg lookup per snapshot
    Map<Snapshot, Map<Pair, List<PostgresHistoryAudit.Image>>> bySnapshot = new LinkedHashMap<>();
    for (Pair pair : pairs.keySet()) {
      List<PostgresHistoryAudit.Image> candidates =
          history.imagesEndedAfter(
              keyColumns(source),
              ordering == null ? null : source.sourceColumn(ordering),
              pair.readTimestamp(),
              LIMIT);
      if (candidates.size() >= LIMIT) {
        LOG.warn(
            "Audit of {}: only the first {} PostgreSQL images of source '{}' visible at {} are"
                + " checked for duplicates in Iceberg source '{}'",
            table.identifier(),
            LIMIT,
            id,
            pair.readTimestamp(),
            pair.icebergSource());
      }
      if (!candidates.isEmpty()) {
        bySnapshot
            .computeIfAbsent(
                new Snapshot(pair.icebergSource(), pair.snapshotId()), k -> new LinkedHashMap<>())
            .put(pair, candidates);
      }
    }
    bySnapshot.forEach(
        (snapshot, candidatesByPair) -> {
          SourceDefinition iceberg = icebergSources.get(snapshot.icebergSource());
          Map<String, PostgresHistoryAudit.Image> keys = new LinkedHashMap<>();
          candidatesByPair
              .values()
              .forEach(list -> list.forEach(i -> keys.put(canonical(i.key()), i)));
          Map<String, List<String>> found =
              lookup(iceberg, snapshot.snapshotId(), keys.values(), ordering);
          candidatesByPair.forEach(
              (pair, candidates) -> {
                List<String> duplicates = new ArrayList<>();
                for (PostgresHistoryAudit.Image image : candidates) {
                  List<String> orderings = found.get(canonical(image.key()));
                  if (orderings != null
                      && (ordering == null || orderings.contains(canonical(image.ordering())))) {
                    duplicates.add(
                        describeKey(image.key().stream().map(String::valueOf).toList())
                            + (ordering == null
                                ? ""
                                : " (" + ordering + " " + image.ordering() + ")"));
                  }
                }
                if (!duplicates.isEmpty()) {
                  report(id, pair, pairs.get(pair), duplicates);
                }
              });
        });
  }

  private void report(String id, Pair pair, List<Long> seenBy, List<String> duplicates) {
    violations.add(
        new Violation(
            Check.DUPLICATE_ACROSS_SOURCES,
            id + "," + pair.icebergSource(),
            seenBy,
            String.format(
                "%s the same image in PostgreSQL source '%s' at read timestamp %s and in"
                    + " Iceberg source '%s' at snapshot %d, so versions %s show it twice:"
                    + " %s%s. A commit recorded the Iceberg snapshot holding moved rows without"
                    + " advancing the PostgreSQL read timestamp past their delete",
                duplicates.size() == 1 ? "1 key has" : duplicates.size() + " keys have",
                id,
                pair.readTimestamp(),
                pair.icebergSource(),
                pair.snapshotId(),
                seenBy,
                String.join(
                    ", ", duplicates.subList(0, Math.min(REPORTED_KEYS, duplicates.size()))),
                duplicates.size() > REPORTED_KEYS ? ", ..." : "")));
  }

  /**
   * The candidates' keys found in the Iceberg snapshot, each with the ordering values of its rows
   * there (one Spark query, filtered by the first key column so Iceberg prunes files).
   */
  private Map<String, List<String>> lookup(
      SourceDefinition iceberg,
      long snapshotId,
      java.util.Collection<PostgresHistoryAudit.Image> candidates,
      String ordering) {
    List<String> keyColumns = keyColumns(iceberg);
    String orderingColumn = ordering == null ? null : iceberg.sourceColumn(ordering);
    ConnectionConfig connection = connections.apply(iceberg);
    Identifier identifier = IcebergSources.identifier(iceberg);
    if (!snapshotExists(connection, identifier, snapshotId)) {
      return Map.of(); // reported by the Iceberg checks
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
    Object[] firstKeys =
        candidates.stream().map(image -> sparkValue(image.key().get(0))).distinct().toArray();
    List<Row> rows =
        spark
            .sql("SELECT * FROM " + name + " VERSION AS OF " + snapshotId)
            .filter(col(quote(keyColumns.get(0))).isin(firstKeys))
            .select(select.toArray(Column[]::new))
            .collectAsList();
    Map<String, List<String>> found = new HashMap<>();
    for (Row row : rows) {
      List<Object> key = new ArrayList<>();
      for (int i = 0; i < keyColumns.size(); i++) {
        key.add(row.get(i));
      }
      found
          .computeIfAbsent(canonical(key), k -> new ArrayList<>())
          .add(orderingColumn == null ? "" : canonical(row.get(keyColumns.size())));
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
