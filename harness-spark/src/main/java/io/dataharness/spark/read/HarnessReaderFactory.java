package io.dataharness.spark.read;

import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;

/** Creates the row reader for each kind of harness partition. */
final class HarnessReaderFactory implements PartitionReaderFactory {
  private static final long serialVersionUID = 1L;

  private final OutputColumns columns;
  private final String sessionTimeZone;

  HarnessReaderFactory(OutputColumns columns, String sessionTimeZone) {
    this.columns = columns;
    this.sessionTimeZone = sessionTimeZone;
  }

  @Override
  public PartitionReader<InternalRow> createReader(InputPartition partition) {
    if (partition instanceof KafkaInputPartition kafka) {
      return new KafkaPartitionReader(kafka, columns, sessionTimeZone);
    } else if (partition instanceof JdbcInputPartition jdbc) {
      return new JdbcPartitionReader(jdbc, columns, sessionTimeZone);
    } else if (partition instanceof IcebergInputPartition iceberg) {
      return iceberg.createReader(columns);
    }
    throw new IllegalArgumentException("Unknown partition " + partition);
  }
}
