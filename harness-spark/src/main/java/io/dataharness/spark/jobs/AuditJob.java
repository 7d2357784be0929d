package io.dataharness.spark.jobs;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.audit.AuditReport;
import io.dataharness.spark.audit.Auditor;
import io.dataharness.spark.audit.OpenIntents;
import io.dataharness.spark.audit.StoreIntents;
import io.dataharness.spark.audit.Violation;
import io.dataharness.spark.conf.HarnessContext;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;

/**
 * The audit job: checks a harness table's invariants over its history and its sources' own records
 * (see {@link Auditor}) and reports every violation with the versions involved. It changes nothing.
 *
 * <p>As a Spark application: {@code spark-submit --class io.dataharness.spark.jobs.AuditJob ...
 * --table ns.t [--lease '30 seconds'] [--catalog harness]}; one line per violation, then the result
 * as one JSON object on the last line of stdout; exit code 0 without errors, 1 with errors or when
 * the audit failed, 64 for a bad option ({@code --help} prints the options). As SQL: {@code CALL
 * harness.system.audit(table => 'ns.t')}, one row per violation (check, severity, source, versions,
 * detail).
 */
public final class AuditJob {
  private AuditJob() {}

  /** The write-ahead intents writers record: the store's intents. */
  static OpenIntents intents() {
    return new StoreIntents();
  }

  /** Audits one table. */
  public static AuditReport run(
      SparkSession spark, HarnessContext catalog, TableIdentifier table, Duration lease) {
    return new Auditor(
            spark, catalog.store(), source -> catalog.connection(table, source), intents())
        .lease(lease == null ? Auditor.DEFAULT_LEASE : lease)
        .audit(table);
  }

  static final JobArguments.Usage USAGE =
      new JobArguments.Usage(
          "AuditJob",
          """
          Checks a harness table's invariants over its history and its sources' own records and
          reports every violation with the versions involved: one line per violation, then the
          result as one JSON object on the last line. It changes nothing.""",
          List.of(
              JobArguments.Option.required(
                  "table", "namespace.table", "the harness table to audit"),
              JobArguments.Option.optional(
                  "lease",
                  "interval",
                  "how long a writer's lock or intent may stay open before the audit reports it"
                      + " as stale; an interval of zero or more such as '30 seconds'",
                  Auditor.DEFAULT_LEASE.toSeconds() + " seconds"),
              JobArguments.Option.CATALOG),
          List.of("--table logs.events", "--table logs.events --lease '2 minutes'"),
          "no violation of severity error (warnings are printed; errors exit 1)");

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.AuditJob}. */
  public static void main(String[] args) {
    JobSession session = new JobSession("DataHarness audit");
    int code = main(args, System.out, System.err, session);
    session.exit(code);
  }

  /**
   * Runs the job in the active session; see {@link #main(String[], PrintStream, PrintStream,
   * Supplier)}.
   */
  static int main(String[] args, PrintStream out) {
    return main(args, out, System.err, SparkSession::active);
  }

  /**
   * Runs the job with its options, printing to {@code out}: the result JSON is the last line.
   *
   * @return the exit code: 0 without error violations, 1 with some or when the audit failed, 64 for
   *     a usage error
   */
  static int main(String[] args, PrintStream out, PrintStream err, Supplier<SparkSession> spark) {
    TableIdentifier table;
    Duration lease;
    String catalogName;
    try {
      JobArguments arguments = JobArguments.parse(USAGE, args);
      if (arguments.help()) {
        out.print(USAGE.text());
        out.flush();
        return JobStatus.DONE.exitCode;
      }
      table = TableIdentifier.parse(arguments.required("table"));
      lease = arguments.interval("lease", true).orElse(null);
      catalogName = arguments.optional("catalog").orElse("harness");
    } catch (ValidationException e) {
      err.println(e.getMessage());
      out.println(failure(null, JobStatus.USAGE_ERROR, e.getMessage()));
      out.flush();
      return JobStatus.USAGE_ERROR.exitCode;
    }
    AuditReport report;
    try {
      SparkSession session = spark.get();
      report = run(session, JobArguments.catalog(session, catalogName), table, lease);
    } catch (RuntimeException e) {
      e.printStackTrace(err);
      out.println("Audit failed: " + JobStatus.describe(e));
      out.println(failure(table, JobStatus.FAILED, JobStatus.describe(e)));
      out.flush();
      return JobStatus.FAILED.exitCode;
    }
    for (Violation violation : report.violations()) {
      out.println(
          violation.severity().id()
              + " "
              + violation.check().id()
              + " ["
              + violation.source()
              + "] versions "
              + violation.versions()
              + ": "
              + violation.detail());
    }
    JobStatus status = report.errors() == 0 ? JobStatus.DONE : JobStatus.FAILED;
    out.println(
        "Audit of "
            + table
            + ": "
            + report.errors()
            + " errors, "
            + report.warnings()
            + " warnings");
    ObjectNode node = JobSession.object();
    node.put("job", "audit");
    node.setAll(JobSession.parse(report.toJson()));
    node.put("status", status.id("clean"));
    node.put("error", status == JobStatus.DONE ? null : report.errors() + " error violations");
    out.println(JobSession.json(node));
    out.flush();
    return status.exitCode;
  }

  private static String failure(TableIdentifier table, JobStatus status, String error) {
    ObjectNode node = JobSession.object();
    node.put("job", "audit");
    node.put("table", table == null ? null : table.toString());
    node.put("status", status.id("clean"));
    node.put("error", error);
    return JobSession.json(node);
  }
}
