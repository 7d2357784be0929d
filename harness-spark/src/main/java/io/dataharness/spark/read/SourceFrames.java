package io.dataharness.spark.read;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * One source as a DataFrame over its native Spark reader, for jobs that read a source directly (a
 * mover reading a Kafka batch): the harness data columns, then {@link
 * io.dataharness.spark.conf.MetadataColumns#SCHEMA}. Checks first that the source still retains the
 * state (Kafka retention).
 */
public final class SourceFrames {
  private SourceFrames() {}

  public static Dataset<Row> read(SparkSession spark, SourceRead read) {
    return NativeRelations.dataFrame(spark, ReadPlanner.resolve(read));
  }
}
