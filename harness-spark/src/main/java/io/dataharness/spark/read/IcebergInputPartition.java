package io.dataharness.spark.read;

import io.dataharness.metadata.HarnessException;
import io.dataharness.spark.conf.MetadataColumns;
import io.dataharness.spark.source.IcebergSources;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.apache.spark.sql.connector.expressions.NamedReference;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.SupportsPushDownRequiredColumns;
import org.apache.spark.sql.connector.read.SupportsPushDownV2Filters;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * One of Iceberg's own input partitions of a source's snapshot, with Iceberg's row reader factory,
 * projected to the harness columns (column mapping, metadata columns).
 */
final class IcebergInputPartition implements InputPartition {
  private static final long serialVersionUID = 1L;

  private final String sourceId;
  private final InputPartition delegate;
  private final PartitionReaderFactory factory;

  /** Per output column: its position in Iceberg's rows, or -1 (metadata, or absent in Iceberg). */
  private final int[] icebergPositions;

  private final DataType[] icebergTypes;

  private IcebergInputPartition(
      String sourceId,
      InputPartition delegate,
      PartitionReaderFactory factory,
      int[] icebergPositions,
      DataType[] icebergTypes) {
    this.sourceId = sourceId;
    this.delegate = delegate;
    this.factory = factory;
    this.icebergPositions = icebergPositions;
    this.icebergTypes = icebergTypes;
  }

  /** Plans Iceberg's scan of the source at {@code snapshotId}, row by row. */
  static List<InputPartition> plan(
      SourceRead read, long snapshotId, OutputColumns columns, Predicate[] predicates) {
    String tableName =
        read.source()
            .option("table")
            .orElseThrow(
                () ->
                    new HarnessException(
                        "Cannot read %s: the source has no table; set source.%s.table",
                        read.describe(), read.source().id()));
    String catalogName = read.connection().sparkCatalog();
    TableCatalog catalog = IcebergSources.catalog(SparkSession.active(), read.connection());
    Table table =
        IcebergSources.loadAt(
            catalog, read.connection(), read.source(), snapshotId, read.describe());
    if (!(table instanceof SupportsRead readable)) {
      throw new HarnessException(
          "Cannot read %s: %s.%s cannot be read", read.describe(), catalogName, tableName);
    }

    List<StructField> required = new ArrayList<>();
    for (int i = 0; i < columns.size(); i++) {
      if (!columns.isMetadata(i)) {
        StructField field = find(table.schema(), read.source().sourceColumn(columns.name(i)));
        if (field != null
            && find(new StructType(required.toArray(StructField[]::new)), field.name()) == null) {
          required.add(field);
        }
      }
    }
    // Iceberg's Spark reader is columnar unless vectorization is off, and one scan cannot mix
    ScanBuilder builder =
        readable.newScanBuilder(
            new CaseInsensitiveStringMap(Map.of("vectorization-enabled", "false")));
    if (builder instanceof SupportsPushDownRequiredColumns pruning) {
      pruning.pruneColumns(new StructType(required.toArray(StructField[]::new)));
    }
    if (builder instanceof SupportsPushDownV2Filters filters) {
      // only for Iceberg's file pruning: Spark applies every predicate to the scan's rows anyway
      filters.pushPredicates(forwardable(read, table.schema(), predicates));
    }
    Scan scan = builder.build();
    StructType icebergSchema = scan.readSchema();
    int[] positions = new int[columns.size()];
    DataType[] types = new DataType[columns.size()];
    Arrays.fill(positions, -1);
    for (int i = 0; i < columns.size(); i++) {
      if (columns.isMetadata(i)) {
        continue;
      }
      String sourceColumn = read.source().sourceColumn(columns.name(i));
      for (int position = 0; position < icebergSchema.fields().length; position++) {
        StructField field = icebergSchema.fields()[position];
        if (field.name().equalsIgnoreCase(sourceColumn)) {
          if (!readable(field.dataType(), columns.type(i))) {
            throw new HarnessException(
                "Cannot read %s: column '%s' of Iceberg table %s.%s is %s, but harness column"
                    + " '%s' is %s",
                read.describe(),
                field.name(),
                catalogName,
                tableName,
                field.dataType().simpleString(),
                columns.name(i),
                columns.type(i).simpleString());
          }
          positions[i] = position;
          types[i] = field.dataType();
        }
      }
    }
    Batch batch = scan.toBatch();
    InputPartition[] icebergPartitions = batch.planInputPartitions();
    PartitionReaderFactory factory = batch.createReaderFactory();
    List<InputPartition> planned = new ArrayList<>();
    for (InputPartition icebergPartition : icebergPartitions) {
      if (factory.supportColumnarReads(icebergPartition)) {
        throw new IllegalStateException(
            "Iceberg planned a columnar read of "
                + tableName
                + " although vectorization is disabled");
      }
      planned.add(
          new IcebergInputPartition(
              read.source().id(), icebergPartition, factory, positions, types));
    }
    return planned;
  }

  @Override
  public String[] preferredLocations() {
    return delegate.preferredLocations();
  }

  PartitionReader<InternalRow> createReader(OutputColumns columns) {
    PartitionReader<InternalRow> rows = factory.createReader(delegate);
    UTF8String source = UTF8String.fromString(sourceId);
    return new PartitionReader<>() {
      private final Object[] values = new Object[columns.size()];
      private long rowsRead;

      @Override
      public boolean next() throws IOException {
        boolean more = rows.next();
        if (more) {
          rowsRead++;
        }
        return more;
      }

      @Override
      public CustomTaskMetric[] currentMetricsValues() {
        return new CustomTaskMetric[] {ScanMetrics.taskValue(ScanMetrics.ICEBERG_ROWS, rowsRead)};
      }

      @Override
      public InternalRow get() {
        InternalRow row = rows.get();
        for (int i = 0; i < values.length; i++) {
          int position = icebergPositions[i];
          if (position >= 0) {
            values[i] =
                row.isNullAt(position)
                    ? null
                    : widen(row.get(position, icebergTypes[i]), columns.type(i));
          } else if (columns.isMetadata(i) && columns.name(i).equals(MetadataColumns.SOURCE)) {
            values[i] = source;
          } else if (!columns.isMetadata(i)) {
            // the snapshot's schema has no such column: its rows read the column's default
            values[i] = columns.defaultValue(i);
          } else {
            values[i] = null;
          }
        }
        return new GenericInternalRow(values.clone());
      }

      @Override
      public void close() throws IOException {
        rows.close();
      }
    };
  }

  /** Predicates on data columns that Iceberg holds under the same name and type. */
  private static Predicate[] forwardable(
      SourceRead read, StructType icebergSchema, Predicate[] predicates) {
    List<Predicate> forwarded = new ArrayList<>();
    for (Predicate predicate : predicates) {
      boolean simple = predicate.references().length > 0;
      for (NamedReference reference : predicate.references()) {
        String[] path = reference.fieldNames();
        StructField harnessField = path.length == 1 ? find(read.schema(), path[0]) : null;
        StructField icebergField =
            harnessField == null ? null : find(icebergSchema, harnessField.name());
        simple &=
            icebergField != null
                && read.source().sourceColumn(harnessField.name()).equals(harnessField.name())
                && icebergField.dataType().equals(harnessField.dataType());
      }
      if (simple) {
        forwarded.add(predicate);
      }
    }
    return forwarded.toArray(Predicate[]::new);
  }

  private static boolean readable(DataType icebergType, DataType harnessType) {
    return icebergType.equals(harnessType)
        || (icebergType.equals(DataTypes.IntegerType) && harnessType.equals(DataTypes.LongType))
        || (icebergType.equals(DataTypes.FloatType) && harnessType.equals(DataTypes.DoubleType));
  }

  private static Object widen(Object value, DataType harnessType) {
    if (value instanceof Integer integer && harnessType.equals(DataTypes.LongType)) {
      return integer.longValue();
    } else if (value instanceof Float single && harnessType.equals(DataTypes.DoubleType)) {
      return single.doubleValue();
    }
    return value;
  }

  private static StructField find(StructType schema, String name) {
    for (StructField field : schema.fields()) {
      if (field.name().toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))) {
        return field;
      }
    }
    return null;
  }
}
