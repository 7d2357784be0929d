package io.dataharness.spark.jobs;

import io.dataharness.spark.HarnessCatalog;
import org.apache.spark.sql.SparkSession;

/** Moves rows from a PostgreSQL source to an Iceberg source (placeholder until it is merged). */
public final class PostgresToIcebergMover {
  private PostgresToIcebergMover() {}

  public static MoveResult move(SparkSession spark, HarnessCatalog catalog, MoveRequest request) {
    throw new UnsupportedOperationException(
        "Cannot move rows of "
            + request.table()
            + " from jdbc source '"
            + request.source()
            + "' to iceberg source '"
            + request.target()
            + "': the PostgreSQL to Iceberg mover is not available in this build");
  }
}
