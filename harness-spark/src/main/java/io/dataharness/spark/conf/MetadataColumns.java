package io.dataharness.spark.conf;

import org.apache.spark.sql.connector.catalog.MetadataColumn;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Hidden columns every harness table offers (select them by name; {@code *} does not include them).
 * Kafka columns are null for rows of other sources.
 */
public final class MetadataColumns {
  /** The id of the source the row was read from. */
  public static final String SOURCE = "_source";

  public static final String KAFKA_PARTITION = "_kafka_partition";
  public static final String KAFKA_OFFSET = "_kafka_offset";
  public static final String KAFKA_TIMESTAMP = "_kafka_timestamp";
  public static final String KAFKA_KEY = "_kafka_key";

  /** In PERMISSIVE mode, the raw Kafka value of a message that could not be parsed (else null). */
  public static final String CORRUPT_RECORD = "_corrupt_record";

  public static final StructType SCHEMA =
      new StructType(
          new StructField[] {
            field(SOURCE, DataTypes.StringType, false),
            field(KAFKA_PARTITION, DataTypes.IntegerType, true),
            field(KAFKA_OFFSET, DataTypes.LongType, true),
            field(KAFKA_TIMESTAMP, DataTypes.TimestampType, true),
            field(KAFKA_KEY, DataTypes.StringType, true),
            field(CORRUPT_RECORD, DataTypes.StringType, true)
          });

  private MetadataColumns() {}

  /** The columns as a DataSource V2 table declares them. */
  public static MetadataColumn[] connectorColumns() {
    return java.util.Arrays.stream(SCHEMA.fields())
        .map(MetadataColumns::connectorColumn)
        .toArray(MetadataColumn[]::new);
  }

  private static MetadataColumn connectorColumn(StructField field) {
    return new MetadataColumn() {
      @Override
      public String name() {
        return field.name();
      }

      @Override
      public DataType dataType() {
        return field.dataType();
      }

      @Override
      public boolean isNullable() {
        return field.nullable();
      }
    };
  }

  private static StructField field(String name, DataType type, boolean nullable) {
    return new StructField(name, type, nullable, org.apache.spark.sql.types.Metadata.empty());
  }
}
