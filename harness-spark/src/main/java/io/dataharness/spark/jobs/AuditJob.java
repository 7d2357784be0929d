package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.audit.AuditReport;
import io.dataharness.spark.audit.Auditor;
import io.dataharness.spark.audit.OpenIntents;
import io.dataharness.spark.audit.StoreIntents;
import io.dataharness.spark.audit.Violation;
import io.dataharness.spark.conf.HarnessContext;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Set;
import org.apache.spark.sql.SparkSession;

/**
 * The audit job: checks a harness table's invariants over its history and its sources' own records
 * (see {@link Auditor}) and reports every violation with the versions involved. It changes nothing.
 *
 * <p>As a Spark application: {@code spark-submit --class io.dataharness.spark.jobs.AuditJob ...
 * --table ns.t [--lease '30 seconds'] [--catalog harness]}; one line per violation, then the result
 * as one JSON object on the last line of stdout. As SQL: {@code CALL harness.system.audit(table =>
 * 'ns.t')}, one row per violation (check, severity, source, versions, detail).
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

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.AuditJob}. */
  public static void main(String[] args) {
    main(args, System.out);
  }

  /** Runs the job with its options, printing to {@code out}: the result JSON is the last line. */
  static void main(String[] args, PrintStream out) {
    JobArguments arguments =
        JobArguments.parse("AuditJob", args, Set.of("table", "catalog", "lease"));
    TableIdentifier table = TableIdentifier.parse(arguments.required("table"));
    Duration lease = arguments.optional("lease").map(JobArguments::interval).orElse(null);
    SparkSession spark = SparkSession.builder().appName("DataHarness audit").getOrCreate();
    HarnessContext catalog =
        JobArguments.catalog(spark, arguments.optional("catalog").orElse("harness"));
    AuditReport report = run(spark, catalog, table, lease);
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
    out.println(report.toJson());
    out.flush();
  }
}
