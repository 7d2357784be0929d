package io.dataharness.chaos;

import io.dataharness.metadata.LockHeldException;
import io.dataharness.spark.jobs.MoveJob;
import java.util.Arrays;
import org.apache.spark.sql.SparkSession;

/**
 * The main class of a chaos job process, standing in for {@code spark-submit}: the Spark
 * configuration comes from {@code -Dspark.*} system properties (as spark-submit passes {@code
 * --conf}), and the process exits with a status a scheduler can act on, whatever threads Spark left
 * running.
 *
 * <ul>
 *   <li>{@code move <MoveJob options>}: runs {@link MoveJob#main} unchanged;
 *   <li>{@code append --table ns.t --from N --to M}: {@code INSERT INTO harness.ns.t} the rows with
 *       ids [N, M) ({@code message = 'append-<id>'}), through the table's write source.
 * </ul>
 *
 * Exit status: 0 done, {@value #LOCK_HELD} refused because another owner holds a lock, 1 any other
 * failure. The last line of a failure is {@code CHAOS-ERROR <exception chain>}.
 */
public final class ChaosJobMain {
  static final int LOCK_HELD = 75;
  static final String ERROR_PREFIX = "CHAOS-ERROR ";

  private ChaosJobMain() {}

  public static void main(String[] args) {
    int status;
    try {
      String[] options = Arrays.copyOfRange(args, 1, args.length);
      switch (args[0]) {
        case "move" -> MoveJob.main(options);
        case "append" -> append(options);
        default -> throw new IllegalArgumentException("Unknown chaos job " + args[0]);
      }
      status = 0;
    } catch (Throwable e) {
      e.printStackTrace();
      System.out.println(ERROR_PREFIX + describe(e));
      status = isLockHeld(e) ? LOCK_HELD : 1;
    }
    System.out.flush();
    System.err.flush();
    Runtime.getRuntime().halt(status);
  }

  private static void append(String[] options) {
    String table = null;
    long from = -1;
    long to = -1;
    for (int i = 0; i + 1 < options.length; i += 2) {
      switch (options[i]) {
        case "--table" -> table = options[i + 1];
        case "--from" -> from = Long.parseLong(options[i + 1]);
        case "--to" -> to = Long.parseLong(options[i + 1]);
        default -> throw new IllegalArgumentException("Unknown append option " + options[i]);
      }
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

  private static boolean isLockHeld(Throwable e) {
    for (Throwable cause = e; cause != null; cause = cause.getCause()) {
      if (cause instanceof LockHeldException) {
        return true;
      }
    }
    return false;
  }

  static String describe(Throwable e) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = e; cause != null; cause = cause.getCause()) {
      if (text.length() > 0) {
        text.append(" <- ");
      }
      text.append(cause.getClass().getSimpleName()).append(": ").append(cause.getMessage());
      if (cause.getCause() == cause) {
        break;
      }
    }
    return text.toString().replace('\n', ' ');
  }
}
