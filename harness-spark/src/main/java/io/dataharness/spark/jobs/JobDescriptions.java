package io.dataharness.spark.jobs;

import org.apache.spark.SparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark job descriptions of the movers, so that the Spark UI names what each job does: every
 * description starts with {@value #PREFIX} and names the table, source, target and, once planned,
 * the batch and the step ({@code DataHarness move ns.t 'hot' -> 'cold' from version 7 offsets
 * [0:0-100]: staging in Iceberg}). The jobs of one move also share the job group {@code
 * dataharness-move-<table>-<source>-<target>}, so a user can cancel them together ({@code
 * SparkContext.cancelJobGroup}); the group and description the thread had before are restored when
 * the move returns.
 */
final class JobDescriptions {
  static final String PREFIX = "DataHarness ";

  // SparkContext's local property keys of job groups and descriptions
  private static final String GROUP = "spark.jobGroup.id";
  private static final String DESCRIPTION = "spark.job.description";
  private static final String INTERRUPT = "spark.job.interruptOnCancel";

  private JobDescriptions() {}

  /** The description of a move before its batch is planned. */
  static String move(MoveRequest request) {
    return "move " + request.table() + " '" + request.source() + "' -> '" + request.target() + "'";
  }

  /** Sets the description of the Spark jobs the current thread starts next. */
  static void set(SparkSession spark, String description) {
    spark.sparkContext().setJobDescription(PREFIX + description);
  }

  /**
   * Starts the job group of a move (its jobs can be cancelled together) and describes it; closing
   * the returned scope restores the group and description the thread had before (a notebook's own).
   */
  static Scope startMove(SparkSession spark, MoveRequest request) {
    SparkContext context = spark.sparkContext();
    Scope previous =
        new Scope(
            context,
            context.getLocalProperty(GROUP),
            context.getLocalProperty(DESCRIPTION),
            context.getLocalProperty(INTERRUPT));
    context.setJobGroup(
        "dataharness-move-" + request.table() + "-" + request.source() + "-" + request.target(),
        PREFIX + move(request),
        false);
    return previous;
  }

  /** The job group and description a thread had before a move; {@link #close} restores them. */
  record Scope(SparkContext context, String group, String description, String interrupt)
      implements AutoCloseable {
    @Override
    public void close() {
      context.setLocalProperty(GROUP, group);
      context.setLocalProperty(DESCRIPTION, description);
      context.setLocalProperty(INTERRUPT, interrupt);
    }
  }
}
