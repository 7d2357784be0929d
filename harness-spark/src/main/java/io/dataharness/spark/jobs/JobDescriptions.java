package io.dataharness.spark.jobs;

import org.apache.spark.sql.SparkSession;

/**
 * The Spark job descriptions of the movers, so that the Spark UI names what each job does: every
 * description starts with {@value #PREFIX} and names the table, source, target and, once planned,
 * the batch and the step ({@code DataHarness move ns.t 'hot' -> 'cold' from version 7 offsets
 * [0:0-100]: staging in Iceberg}). The jobs of one move also share the job group {@code
 * dataharness-move-<table>-<source>-<target>}, so a user can cancel them together ({@code
 * SparkContext.cancelJobGroup}).
 */
final class JobDescriptions {
  static final String PREFIX = "DataHarness ";

  private JobDescriptions() {}

  /** The description of a move before its batch is planned. */
  static String move(MoveRequest request) {
    return "move " + request.table() + " '" + request.source() + "' -> '" + request.target() + "'";
  }

  /** Sets the description of the Spark jobs the current thread starts next. */
  static void set(SparkSession spark, String description) {
    spark.sparkContext().setJobDescription(PREFIX + description);
  }

  /** Starts the job group of a move (its jobs can be cancelled together) and describes it. */
  static void startMove(SparkSession spark, MoveRequest request) {
    spark
        .sparkContext()
        .setJobGroup(
            "dataharness-move-" + request.table() + "-" + request.source() + "-" + request.target(),
            PREFIX + move(request),
            false);
  }

  /** Clears the description and job group the movers set on this thread. */
  static void clear(SparkSession spark) {
    spark.sparkContext().clearJobGroup();
    spark.sparkContext().setJobDescription(null);
  }
}
