package io.dataharness.spark.read;

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

  OutputColumns(StructType dataSchema, StructType readSchema) {
    Set<String> dataNames = Set.of(dataSchema.fieldNames());
    StructField[] fields = readSchema.fields();
    names = new String[fields.length];
    types = new DataType[fields.length];
    metadata = new boolean[fields.length];
    Set<String> metadataNames = Set.of(MetadataColumns.SCHEMA.fieldNames());
    for (int i = 0; i < fields.length; i++) {
      names[i] = fields[i].name();
      types[i] = fields[i].dataType();
      metadata[i] = !dataNames.contains(names[i]) && metadataNames.contains(names[i]);
      if (!metadata[i] && !dataNames.contains(names[i])) {
        throw new IllegalArgumentException(
            "Cannot read column '" + names[i] + "': it is neither a data nor a metadata column");
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
