package io.dataharness.spark.read;

import io.dataharness.spark.conf.ColumnDefaults;
import io.dataharness.spark.conf.MetadataColumns;
import java.io.Serializable;
import java.util.Arrays;
import java.util.Set;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The columns a scan returns, in the order Spark asked for them: harness data columns and hidden
 * metadata columns. Readers fill one row value per column.
 */
final class OutputColumns implements Serializable {
  private static final long serialVersionUID = 1L;

  private final String[] names;
  private final DataType[] types;
  private final boolean[] metadata;

  /** Per column: the default that rows without a value for it read (Spark value), or null. */
  private final Object[] defaults;

  OutputColumns(StructType dataSchema, StructType readSchema) {
    Set<String> dataNames = Set.of(dataSchema.fieldNames());
    StructField[] fields = readSchema.fields();
    names = new String[fields.length];
    types = new DataType[fields.length];
    metadata = new boolean[fields.length];
    defaults = new Object[fields.length];
    Set<String> metadataNames = Set.of(MetadataColumns.SCHEMA.fieldNames());
    for (int i = 0; i < fields.length; i++) {
      names[i] = fields[i].name();
      types[i] = fields[i].dataType();
      metadata[i] = !dataNames.contains(names[i]) && metadataNames.contains(names[i]);
      if (!metadata[i] && !dataNames.contains(names[i])) {
        throw new IllegalArgumentException(
            "Cannot read column '" + names[i] + "': it is neither a data nor a metadata column");
      }
      if (!metadata[i]) {
        defaults[i] = ColumnDefaults.internalValue(dataSchema.apply(names[i]));
      }
    }
  }

  int size() {
    return names.length;
  }

  String name(int index) {
    return names[index];
  }

  DataType type(int index) {
    return types[index];
  }

  boolean isMetadata(int index) {
    return metadata[index];
  }

  /**
   * The value of data column {@code index} in a row that has none for it (a Kafka message without
   * the field, an Iceberg snapshot without the column): the column's default, or null.
   */
  Object defaultValue(int index) {
    return defaults[index];
  }

  /** Whether any data column is read (a count reads none). */
  boolean hasDataColumns() {
    for (boolean isMetadata : metadata) {
      if (!isMetadata) {
        return true;
      }
    }
    return false;
  }

  @Override
  public String toString() {
    return Arrays.toString(names);
  }
}
