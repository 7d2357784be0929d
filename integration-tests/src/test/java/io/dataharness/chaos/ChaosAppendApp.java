package io.dataharness.chaos;

import org.apache.spark.sql.SparkSession;

/**
 * The chaos test's append job: a user's own small Spark application, submitted as its own jar with
 * the harness runtime jar in {@code --jars}. It uses only Spark's API: {@code INSERT INTO
 * harness.<table>} of the rows with ids [from, to) ({@code message = 'append-<id>'}), through the
 * table's write source. Any failure leaves {@code main} as an exception, so spark-submit exits
 * non-zero and prints it.
 *
 * <p>Arguments: {@code --table ns.t --from N --to M}. {@link SparkInstallation} puts this class
 * alone into the application jar, so it must not use other classes of the test.
 */
public final class ChaosAppendApp {
  private ChaosAppendApp() {}

  public static void main(String[] args) {
    String table = null;
    long from = -1;
    long to = -1;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--table" -> table = args[i + 1];
        case "--from" -> from = Long.parseLong(args[i + 1]);
        case "--to" -> to = Long.parseLong(args[i + 1]);
        default -> throw new IllegalArgumentException("Unknown append option " + args[i]);
      }
    }
    if (table == null || from < 0 || to < from) {
      throw new IllegalArgumentException(
          "Usage: ChaosAppendApp --table ns.t --from N --to M (0 <= N <= M)");
    }
    SparkSession spark = SparkSession.builder().appName("DataHarness append").getOrCreate();
    spark.sql(
        "INSERT INTO harness."
            + table
            + " SELECT id, concat('append-', CAST(id AS STRING)) AS message,"
            + " current_timestamp() AS updated_at FROM range("
            + from
            + ", "
            + to
            + ")");
    System.out.println("Appended ids [" + from + ", " + to + ") to harness." + table);
  }
}
