package io.dataharness.spark.conf;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.Schema;
import io.dataharness.spark.errors.IncompatibleTypeException;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.MetadataBuilder;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** Converts between harness schemas and Spark types. */
public final class SparkSchemas {
  /** Spark field metadata key holding the harness field id. */
  public static final String FIELD_ID = "harness.field-id";

  private SparkSchemas() {}

  public static StructType toSpark(Schema schema) {
    List<StructField> fields = new ArrayList<>();
    for (Field field : schema.fields()) {
      MetadataBuilder builder = new MetadataBuilder().putLong(FIELD_ID, field.id());
      if (field.defaultValue() != null) {
        String sql = ColumnDefaults.sql(field);
        builder
            .putString(ColumnDefaults.CURRENT_DEFAULT, sql)
            .putString(ColumnDefaults.EXISTS_DEFAULT, sql)
            .putString(ColumnDefaults.HARNESS_DEFAULT, field.defaultValue());
      }
      Metadata metadata = builder.build();
      StructField structField =
          new StructField(field.name(), toSpark(field.type()), !field.required(), metadata);
      fields.add(field.doc() == null ? structField : structField.withComment(field.doc()));
    }
    return new StructType(fields.toArray(StructField[]::new));
  }

  public static DataType toSpark(FieldType type) {
    if (type.isDecimal()) {
      return DataTypes.createDecimalType(type.precision(), type.scale());
    }
    switch (type.name()) {
      case "boolean":
        return DataTypes.BooleanType;
      case "int":
        return DataTypes.IntegerType;
      case "long":
        return DataTypes.LongType;
      case "float":
        return DataTypes.FloatType;
      case "double":
        return DataTypes.DoubleType;
      case "string":
        return DataTypes.StringType;
      case "binary":
        return DataTypes.BinaryType;
      case "date":
        return DataTypes.DateType;
      case "timestamp":
        return DataTypes.TimestampType;
      case "timestamp_ntz":
        return DataTypes.TimestampNTZType;
      default:
        throw new IllegalStateException("Unknown field type " + type);
    }
  }

  /** Harness fields for Spark columns, ids assigned 1..n in order. */
  public static List<Field> fromSpark(StructType struct) {
    List<Field> fields = new ArrayList<>();
    int id = 1;
    for (StructField column : struct.fields()) {
      fields.add(
          new Field(
              id++,
              column.name(),
              fromSpark(column.name(), column.dataType()),
              !column.nullable(),
              column.getComment().isDefined() ? column.getComment().get() : null));
    }
    return fields;
  }

  /** Harness fields for Spark columns that carry their field ids ({@link #toSpark(Schema)}). */
  public static List<Field> fromSparkWithIds(StructType struct) {
    List<Field> fields = new ArrayList<>();
    int nextId =
        1
            + java.util.Arrays.stream(struct.fields())
                .filter(column -> column.metadata().contains(FIELD_ID))
                .mapToInt(column -> (int) column.metadata().getLong(FIELD_ID))
                .max()
                .orElse(0);
    for (StructField column : struct.fields()) {
      int id =
          column.metadata().contains(FIELD_ID)
              ? (int) column.metadata().getLong(FIELD_ID)
              : nextId++;
      fields.add(
          new Field(
              id,
              column.name(),
              fromSpark(column.name(), column.dataType()),
              !column.nullable(),
              null,
              column.metadata().contains(ColumnDefaults.HARNESS_DEFAULT)
                  ? column.metadata().getString(ColumnDefaults.HARNESS_DEFAULT)
                  : null));
    }
    return fields;
  }

  public static FieldType fromSpark(String column, DataType type) {
    if (type instanceof DecimalType decimal) {
      return FieldType.decimal(decimal.precision(), decimal.scale());
    }
    if (type.equals(DataTypes.BooleanType)) {
      return FieldType.BOOLEAN;
    } else if (type.equals(DataTypes.IntegerType)
        || type.equals(DataTypes.ShortType)
        || type.equals(DataTypes.ByteType)) {
      return FieldType.INT;
    } else if (type.equals(DataTypes.LongType)) {
      return FieldType.LONG;
    } else if (type.equals(DataTypes.FloatType)) {
      return FieldType.FLOAT;
    } else if (type.equals(DataTypes.DoubleType)) {
      return FieldType.DOUBLE;
    } else if (type.equals(DataTypes.StringType)) {
      return FieldType.STRING;
    } else if (type.equals(DataTypes.BinaryType)) {
      return FieldType.BINARY;
    } else if (type.equals(DataTypes.DateType)) {
      return FieldType.DATE;
    } else if (type.equals(DataTypes.TimestampType)) {
      return FieldType.TIMESTAMP;
    } else if (type.equals(DataTypes.TimestampNTZType)) {
      return FieldType.TIMESTAMP_NTZ;
    }
    throw new IncompatibleTypeException(
        column,
        "Unsupported type %s for column '%s': harness tables hold boolean, int, long, float,"
            + " double, decimal, string, binary, date, timestamp and timestamp_ntz columns",
        type.simpleString(),
        column);
  }
}
