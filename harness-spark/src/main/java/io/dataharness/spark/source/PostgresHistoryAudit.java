package io.dataharness.spark.source;

import static io.dataharness.spark.source.PostgresSources.VALID_FROM;
import static io.dataharness.spark.source.PostgresSources.VALID_TO;
import static io.dataharness.spark.source.PostgresTableName.quote;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.spark.conf.ConnectionConfig;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Read-only SQL over a system-versioned PostgreSQL source's table and history table, for the
 * auditor. Each query reads key, ordering and validity columns only, and is bounded by a limit.
 */
public final class PostgresHistoryAudit implements AutoCloseable {
  private final SourceDefinition source;
  private final PostgresTableName table;
  private final Connection jdbc;

  private PostgresHistoryAudit(SourceDefinition source, Connection jdbc) {
    this.source = source;
    this.table = PostgresTableName.of(source);
    this.jdbc = jdbc;
  }

  /** Opens a read-only connection to the source's database. */
  public static PostgresHistoryAudit open(ConnectionConfig connection, SourceDefinition source) {
    Connection jdbc = PostgresSources.connect(connection);
    try {
      jdbc.setReadOnly(true);
    } catch (SQLException e) {
      close(jdbc);
      throw unavailable(source, e);
    }
    return new PostgresHistoryAudit(source, jdbc);
  }

  /**
   * Two images of one key valid at one instant: the earlier one's validity [from, to) and the later
   * one's. A null bound is unbounded ({@code -infinity} or {@code infinity}).
   *
   * @param key the key's values as text, in key column order
   */
  public record Overlap(
      List<String> key,
      Instant earlierFrom,
      Instant earlierTo,
      Instant laterFrom,
      Instant laterTo) {
    public Overlap {
      key = List.copyOf(key);
    }

    /** The first instant at which both images are valid, or null from the beginning of time. */
    public Instant from() {
      if (earlierFrom == null) {
        return laterFrom;
      }
      return laterFrom == null || earlierFrom.isAfter(laterFrom) ? earlierFrom : laterFrom;
    }

    /** The instant at which one of them stops being valid, or null if both still are. */
    public Instant to() {
      if (earlierTo == null) {
        return laterTo;
      }
      return laterTo == null || earlierTo.isBefore(laterTo) ? earlierTo : laterTo;
    }

    /** True when a read at {@code readTimestamp} sees both images. */
    public boolean visibleAt(Instant readTimestamp) {
      Instant from = from();
      Instant to = to();
      return (from == null || !from.isAfter(readTimestamp))
          && (to == null || to.isAfter(readTimestamp));
    }
  }

  /**
   * Images of one key (current rows and history rows) whose validity ranges overlap, sorted by key,
   * at most {@code limit}. Each overlapping key is reported at least once.
   *
   * @param keyColumns the source's columns of the harness primary key
   */
  public List<Overlap> overlappingImages(List<String> keyColumns, int limit) {
    String keys = columns(keyColumns);
    String sql =
        "WITH images AS (SELECT "
            + keys
            + ", "
            + quote(VALID_FROM)
            + " AS valid_from, "
            + quote(VALID_TO)
            + " AS valid_to FROM "
            + table.qualifiedHistory()
            + " UNION ALL SELECT "
            + keys
            + ", "
            + quote(VALID_FROM)
            + ", 'infinity'::timestamptz FROM "
            + table.qualified()
            + "), ordered AS (SELECT "
            + keys
            + ", valid_from, valid_to, lag(valid_from) OVER w AS previous_from, lag(valid_to) OVER"
            + " w AS previous_to FROM images WINDOW w AS (PARTITION BY "
            + keys
            + " ORDER BY valid_from, valid_to)) SELECT "
            + keyColumns.stream()
                .map(column -> "CAST(" + quote(column) + " AS text)")
                .collect(Collectors.joining(", "))
            + ", "
            + bounded("previous_from")
            + ", "
            + bounded("previous_to")
            + ", "
            + bounded("valid_from")
            + ", "
            + bounded("valid_to")
            + " FROM ordered WHERE previous_to > valid_from ORDER BY "
            + keys
            + ", valid_from LIMIT ?";
    List<Overlap> overlaps = new ArrayList<>();
    try (PreparedStatement statement = jdbc.prepareStatement(sql)) {
      statement.setInt(1, limit);
      try (ResultSet row = statement.executeQuery()) {
        while (row.next()) {
          List<String> key = new ArrayList<>();
          for (int i = 1; i <= keyColumns.size(); i++) {
            key.add(row.getString(i));
          }
          int at = keyColumns.size();
          overlaps.add(
              new Overlap(
                  key,
                  instant(row.getTimestamp(at + 1)),
                  instant(row.getTimestamp(at + 2)),
                  instant(row.getTimestamp(at + 3)),
                  instant(row.getTimestamp(at + 4))));
        }
      }
    } catch (SQLException e) {
      throw unavailable(source, e);
    }
    return overlaps;
  }

  /** An image of a key: the key's values and the ordering column's value, as JDBC returns them. */
  public record Image(List<Object> key, Object ordering) {
    public Image {
      key = java.util.Collections.unmodifiableList(new ArrayList<>(key));
    }
  }

  /**
   * Images valid at {@code readTimestamp} that stopped being valid later (updated, deleted or moved
   * out after it): the images a move could have copied elsewhere while a version still shows them
   * here. At most {@code limit}.
   *
   * @param orderingColumn the source's column of the harness ordering column, or null
   */
  public List<Image> imagesEndedAfter(
      List<String> keyColumns, String orderingColumn, Instant readTimestamp, int limit) {
    String at = PostgresSources.timestampLiteral(readTimestamp);
    String sql =
        "SELECT "
            + columns(keyColumns)
            + (orderingColumn == null ? "" : ", " + quote(orderingColumn))
            + " FROM "
            + table.qualifiedHistory()
            + " WHERE "
            + quote(VALID_TO)
            + " > "
            + at
            + " AND "
            + quote(VALID_FROM)
            + " <= "
            + at
            + " LIMIT ?";
    List<Image> images = new ArrayList<>();
    try (PreparedStatement statement = jdbc.prepareStatement(sql)) {
      statement.setInt(1, limit);
      try (ResultSet row = statement.executeQuery()) {
        while (row.next()) {
          List<Object> key = new ArrayList<>();
          for (int i = 1; i <= keyColumns.size(); i++) {
            key.add(row.getObject(i));
          }
          images.add(
              new Image(key, orderingColumn == null ? null : row.getObject(keyColumns.size() + 1)));
        }
      }
    } catch (SQLException e) {
      throw unavailable(source, e);
    }
    return images;
  }

  /** The source's table, as {@code schema.table}. */
  public String tableName() {
    return table.toString();
  }

  @Override
  public void close() {
    close(jdbc);
  }

  private static String columns(List<String> columns) {
    return columns.stream().map(PostgresTableName::quote).collect(Collectors.joining(", "));
  }

  /** The column with infinite bounds as NULL. */
  private static String bounded(String column) {
    return "CASE WHEN isfinite(" + column + ") THEN " + column + " END";
  }

  private static Instant instant(Timestamp timestamp) {
    return timestamp == null ? null : timestamp.toInstant();
  }

  private static void close(Connection jdbc) {
    try {
      jdbc.close();
    } catch (SQLException ignored) {
      // nothing was written
    }
  }

  private static SourceUnavailableException unavailable(SourceDefinition source, SQLException e) {
    return new SourceUnavailableException(
        e,
        "Cannot audit the history of PostgreSQL source '%s' (table %s): %s",
        source.id(),
        source.option("table").orElse("?"),
        e.getMessage());
  }
}
