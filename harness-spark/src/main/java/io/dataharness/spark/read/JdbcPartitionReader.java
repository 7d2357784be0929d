package io.dataharness.spark.read;

import io.dataharness.metadata.HarnessException;
import io.dataharness.spark.conf.MetadataColumns;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Runs a jdbc source's query over plain JDBC (autocommit off so that the driver streams rows by the
 * fetch size) and converts its values to Spark's internal values.
 */
final class JdbcPartitionReader implements PartitionReader<InternalRow> {
  private long rowsRead;
  static final int FETCH_SIZE = 1_000;

  private final JdbcInputPartition partition;
  private final OutputColumns columns;
  private final ZoneId sessionZone;
  private final Connection connection;
  private final PreparedStatement statement;
  private final ResultSet resultSet;

  /** Per output column: its position in the result set (1-based), or 0 for metadata columns. */
  private final int[] resultColumns;

  private final boolean[] offsetTimestamp;
  private InternalRow current;

  JdbcPartitionReader(JdbcInputPartition partition, OutputColumns columns, String sessionZone) {
    this.partition = partition;
    this.columns = columns;
    this.sessionZone = ZoneId.of(sessionZone);
    this.resultColumns = new int[columns.size()];
    List<String> selected = new ArrayList<>();
    for (int i = 0; i < columns.size(); i++) {
      if (!columns.isMetadata(i)) {
        selected.add(quote(columns.name(i)));
        resultColumns[i] = selected.size();
      }
    }
    String sql =
        "SELECT "
            + (selected.isEmpty() ? "1" : String.join(", ", selected))
            + " FROM ("
            + partition.query()
            + ") harness_source";
    Connection opened = null;
    try {
      java.util.Properties properties = new java.util.Properties();
      properties.putAll(partition.connectionProperties());
      try {
        opened = DriverManager.getConnection(partition.url(), properties);
      } catch (SQLException e) {
        throw new io.dataharness.spark.source.SourceUnavailableException(
            io.dataharness.metadata.Secrets.scrub(
                e, io.dataharness.metadata.Secrets.values(partition.connectionProperties())),
            "Cannot read %s: cannot connect to PostgreSQL at %s (connection '%s'): %s. Check"
                + " connection.%s.url, connection.%s.user and connection.%s.password",
            partition.describe(),
            io.dataharness.metadata.Secrets.maskUrl(partition.url()),
            partition.connectionName(),
            partition.scrub(e.getMessage()),
            partition.connectionName(),
            partition.connectionName(),
            partition.connectionName());
      }
      opened.setAutoCommit(false);
      opened.setReadOnly(true);
      this.connection = opened;
      this.statement =
          opened.prepareStatement(sql, ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY);
      statement.setFetchSize(FETCH_SIZE);
      this.resultSet = statement.executeQuery();
      this.offsetTimestamp = new boolean[columns.size()];
      for (int i = 0; i < columns.size(); i++) {
        if (resultColumns[i] > 0) {
          String typeName = resultSet.getMetaData().getColumnTypeName(resultColumns[i]);
          offsetTimestamp[i] =
              typeName != null && typeName.toLowerCase(Locale.ROOT).contains("timestamptz");
        }
      }
    } catch (SQLException e) {
      closeQuietly(opened);
      throw new HarnessException(
          e,
          "Cannot read %s: query of %s failed: %s",
          partition.describe(),
          partition.table(),
          partition.scrub(e.getMessage()));
    }
  }

  @Override
  public boolean next() {
    try {
      if (!resultSet.next()) {
        return false;
      }
      Object[] values = new Object[columns.size()];
      for (int i = 0; i < values.length; i++) {
        if (resultColumns[i] > 0) {
          values[i] = value(i);
        } else if (columns.name(i).equals(MetadataColumns.SOURCE)) {
          values[i] = UTF8String.fromString(partition.sourceId());
        }
      }
      current = new GenericInternalRow(values);
      rowsRead++;
      return true;
    } catch (SQLException e) {
      throw new HarnessException(e, "Cannot read %s: %s", partition.describe(), e.getMessage());
    }
  }

  private Object value(int index) throws SQLException {
    int column = resultColumns[index];
    DataType type = columns.type(index);
    Object value;
    if (type instanceof IntegerType) {
      value = resultSet.getInt(column);
    } else if (type instanceof LongType) {
      value = resultSet.getLong(column);
    } else if (type instanceof FloatType) {
      value = resultSet.getFloat(column);
    } else if (type instanceof DoubleType) {
      value = resultSet.getDouble(column);
    } else if (type instanceof BooleanType) {
      value = resultSet.getBoolean(column);
    } else if (type instanceof DecimalType decimalType) {
      BigDecimal decimal = resultSet.getBigDecimal(column);
      if (decimal == null) {
        return null;
      }
      Decimal converted = Decimal.apply(decimal);
      if (!converted.changePrecision(decimalType.precision(), decimalType.scale())) {
        throw new HarnessException(
            "Cannot read %s: value %s of column '%s' does not fit %s",
            partition.describe(), decimal, columns.name(index), decimalType.simpleString());
      }
      return converted;
    } else if (type instanceof StringType) {
      String text = resultSet.getString(column);
      return text == null ? null : UTF8String.fromString(text);
    } else if (type instanceof BinaryType) {
      return resultSet.getBytes(column);
    } else if (type instanceof DateType) {
      LocalDate date = resultSet.getObject(column, LocalDate.class);
      return date == null ? null : (int) date.toEpochDay();
    } else if (type instanceof TimestampType) {
      if (offsetTimestamp[index]) {
        OffsetDateTime timestamp = resultSet.getObject(column, OffsetDateTime.class);
        return timestamp == null ? null : JsonValues.micros(timestamp.toInstant());
      }
      LocalDateTime timestamp = resultSet.getObject(column, LocalDateTime.class);
      return timestamp == null
          ? null
          : JsonValues.micros(timestamp.atZone(sessionZone).toInstant());
    } else if (type instanceof TimestampNTZType) {
      LocalDateTime timestamp = resultSet.getObject(column, LocalDateTime.class);
      return timestamp == null ? null : JsonValues.micros(timestamp.toInstant(ZoneOffset.UTC));
    } else {
      throw new IllegalStateException("Unsupported column type " + type);
    }
    return resultSet.wasNull() ? null : value;
  }

  @Override
  public InternalRow get() {
    return current;
  }

  @Override
  public CustomTaskMetric[] currentMetricsValues() {
    return new CustomTaskMetric[] {ScanMetrics.taskValue(ScanMetrics.JDBC_ROWS, rowsRead)};
  }

  @Override
  public void close() {
    closeQuietly(connection);
  }

  private static void closeQuietly(Connection connection) {
    if (connection == null) {
      return;
    }
    try {
      connection.rollback();
    } catch (SQLException ignored) {
      // closing anyway; the read is over
    }
    try {
      connection.close();
    } catch (SQLException ignored) {
      // nothing left to release
    }
  }

  static String quote(String identifier) {
    return "\"" + identifier.replace("\"", "\"\"") + "\"";
  }
}
