package io.dataharness.spark.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.ValidationException;
import java.io.PrintStream;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark session of a job's {@code main}, started only when the job gets past its options (so
 * {@code --help} and usage errors never start Spark), and stopped before the JVM exits with the
 * job's code.
 */
final class JobSession implements Supplier<SparkSession> {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final String appName;
  private SparkSession session;

  JobSession(String appName) {
    this.appName = appName;
  }

  @Override
  public synchronized SparkSession get() {
    if (session == null) {
      session = SparkSession.builder().appName(appName).getOrCreate();
    }
    return session;
  }

  /** Stops the session if it was started, then ends the JVM with {@code exitCode}. */
  void exit(int exitCode) {
    System.out.flush();
    synchronized (this) {
      if (session != null) {
        try {
          session.stop();
        } catch (RuntimeException e) {
          System.err.println("Cannot stop the Spark session cleanly: " + e);
        }
      }
    }
    System.exit(exitCode);
  }

  /** The work of a one-shot job once its options are parsed. */
  interface Work {
    /**
     * Does the job's work, printing its human-readable line to {@code out} and adding its result to
     * {@code json}; returns how it ended ({@link JobStatus#DONE} or {@link
     * JobStatus#NOTHING_TO_DO}).
     */
    JobStatus run(JobArguments arguments, SparkSession spark, ObjectNode json, PrintStream out);

    /**
     * Checks every option value before Spark starts, throwing a {@link ValidationException} that
     * names the option for a bad one (a usage error, exit 64); {@link #run} parses them again.
     */
    default void check(JobArguments arguments) {}
  }

  /** A {@link Work} whose options {@code check} validates before Spark starts. */
  static Work checked(java.util.function.Consumer<JobArguments> check, Work work) {
    return new Work() {
      @Override
      public JobStatus run(
          JobArguments arguments, SparkSession spark, ObjectNode json, PrintStream out) {
        return work.run(arguments, spark, json, out);
      }

      @Override
      public void check(JobArguments arguments) {
        check.accept(arguments);
      }
    };
  }

  /**
   * Runs a one-shot job the way every job runs: {@code --help} prints the usage (0); a bad option
   * ({@link Work#check}) is a usage error (64, before Spark starts); a failure is 3 when a retry
   * resolves it (a held lock, a conflict) and 1 otherwise; and the last line of {@code out} is
   * always one JSON object with {@code job}, the work's fields, {@code status} and {@code error}.
   *
   * @param done the JSON status word for {@link JobStatus#DONE}, such as {@code expired}
   */
  static int run(
      JobArguments.Usage usage,
      String job,
      String done,
      String[] args,
      PrintStream out,
      PrintStream err,
      Supplier<SparkSession> spark,
      Work work) {
    ObjectNode json = object();
    json.put("job", job);
    JobStatus status;
    String error = null;
    try {
      JobArguments arguments = JobArguments.parse(usage, args);
      if (arguments.help()) {
        out.print(usage.text());
        out.flush();
        return JobStatus.DONE.exitCode;
      }
      work.check(arguments);
      try {
        status = work.run(arguments, spark.get(), json, out);
      } catch (RuntimeException e) {
        e.printStackTrace(err);
        status = JobStatus.of(e);
        error = JobStatus.describe(e);
        out.println(job + " failed: " + error);
      }
    } catch (ValidationException e) {
      err.println(e.getMessage());
      status = JobStatus.USAGE_ERROR;
      error = e.getMessage();
    }
    json.put("status", status.id(done));
    json.put("error", error);
    out.println(json(json));
    out.flush();
    return status.exitCode;
  }

  static ObjectNode object() {
    return JSON.createObjectNode();
  }

  static ObjectNode parse(String json) {
    try {
      return (ObjectNode) JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  static String json(ObjectNode node) {
    try {
      return JSON.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
