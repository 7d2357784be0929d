package io.dataharness.spark.jobs;

import io.dataharness.metadata.ExpiredVersions;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.write.IcebergStaging;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The expiry: removes the harness versions outside a retention (never the latest), then releases
 * what only they held: the Iceberg tags of removed versions (so Iceberg's own {@code
 * expire_snapshots} can reclaim their snapshots) and the PostgreSQL history images and move records
 * no kept version reads. Kafka data is left to Kafka's retention.
 *
 * <p>Order makes it safe to stop anywhere and run again: first the oldest kept version's Iceberg
 * snapshots get its tag, then the store removes the versions (reads of them fail from then on,
 * naming the expiry), then the sources release what those versions held. A rerun finds the boundary
 * where the last run left it and releases whatever that run did not reach.
 *
 * <p>As a Spark application: {@code spark-submit --class io.dataharness.spark.jobs.ExpireJob ...
 * --table ns.t [--older-than '7 days' | --older-than '2026-11-01 00:00:00'] [--retain-last 1]
 * [--catalog harness]}. As SQL: {@code CALL harness.system.expire_versions(table => 'ns.t',
 * older_than => TIMESTAMP '2026-11-01 00:00:00', retain_last => 10)}.
 */
public final class ExpireJob {
  private static final Logger LOG = LoggerFactory.getLogger(ExpireJob.class);

  /** The retention when none is given: versions of the last 5 days (as Iceberg's default). */
  public static final Duration DEFAULT_AGE = Duration.ofDays(5);

  private ExpireJob() {}

  /**
   * Expires the versions of {@code table} committed before {@code cutoff}, keeping at least the
   * last {@code retainLast}.
   */
  public static ExpireResult run(
      SparkSession spark,
      HarnessContext catalog,
      TableIdentifier table,
      Instant cutoff,
      int retainLast) {
    try {
      return expire(spark, catalog, table, cutoff, retainLast);
    } catch (RuntimeException e) {
      throw io.dataharness.spark.source.ServiceFailures.wrap(
          e,
          spark,
          MoveJob.connections(catalog, table),
          "expire versions of " + table,
          "run expire_versions again once the service answers: versions are removed only after"
              + " every source answered, and a rerun finishes what an interrupted expiry began");
    }
  }

  private static ExpireResult expire(
      SparkSession spark,
      HarnessContext catalog,
      TableIdentifier table,
      Instant cutoff,
      int retainLast) {
    long start = System.nanoTime();
    HarnessStore store = catalog.store();
    HarnessTable harness = store.loadTable(table);
    long previousOldest = harness.oldestVersion();
    long keepFrom = store.expiryBoundary(table, cutoff, retainLast);
    TableVersion oldest = store.readVersion(table, keepFrom);
    Map<String, SourceDefinition> retired = new TreeMap<>();
    if (keepFrom > previousOldest) {
      store.readVersion(table, previousOldest).sources().values().stream()
          .filter(source -> !oldest.sources().containsKey(source.id()))
          .forEach(source -> retired.put(source.id(), source));
    }

    // 1. the oldest kept version's Iceberg snapshots carry its tag before older tags go
    Map<String, IcebergStaging> iceberg = new TreeMap<>();
    for (SourceDefinition source : oldest.sources().values()) {
      if (source.kind() == SourceKind.ICEBERG) {
        IcebergStaging staging =
            IcebergStaging.open(spark, catalog.connection(table, source), source, harness);
        iceberg.put(source.id(), staging);
        ((SourceState.Iceberg) oldest.state(source.id()))
            .snapshotId()
            .ifPresent(snapshot -> staging.tagVersion(snapshot, keepFrom));
      }
    }
    // the PostgreSQL sources answer before any version is removed
    for (SourceDefinition source : oldest.sources().values()) {
      if (source.kind() == SourceKind.JDBC) {
        PostgresSources.checkReachable(catalog.connection(table, source));
      }
    }
    // 2. the store: from here on, reads of removed versions fail naming the retention
    ExpiredVersions expired =
        store.expireVersions(
            table,
            keepFrom,
            "expire_versions(older_than => " + cutoff + ", retain_last => " + retainLast + ")");

    // 3. the sources release what only removed versions held
    Map<String, List<String>> tags = new TreeMap<>();
    Map<String, Long> history = new TreeMap<>();
    Map<String, String> skipped = new LinkedHashMap<>();
    iceberg.forEach(
        (id, staging) -> tags.put(id, staging.removeTagsBefore(expired.oldestVersion())));
    for (SourceDefinition source : retired.values()) {
      if (source.kind() == SourceKind.ICEBERG) {
        tags.put(
            source.id(),
            IcebergStaging.open(spark, catalog.connection(table, source), source, harness)
                .removeTagsBefore(expired.oldestVersion()));
      }
    }
    TableVersion latest = store.readLatest(table);
    for (SourceDefinition source : oldest.sources().values()) {
      if (source.kind() != SourceKind.JDBC) {
        continue;
      }
      if (latest.openIntent(source.id()).isPresent()) {
        skipped.put(
            source.id(),
            "open intent "
                + latest.openIntent(source.id()).get().id()
                + " covers it (its history may finish a move); run the expiry again once it"
                + " completes");
        continue;
      }
      long removed =
          PostgresSources.removeHistoryBefore(
              catalog.connection(table, source),
              source,
              (SourceState.Jdbc) oldest.state(source.id()));
      if (removed < 0) {
        skipped.put(
            source.id(),
            "its state at version "
                + keepFrom
                + " has no PostgreSQL snapshot (read by timestamp only), so history images are kept");
      } else {
        history.put(source.id(), removed);
      }
    }
    ExpireResult result =
        new ExpireResult(
            table,
            expired.oldestVersion(),
            expired.versionsRemoved(),
            expired.statesRemoved(),
            tags,
            history,
            skipped,
            (System.nanoTime() - start) / 1_000_000);
    LOG.info("{}", result);
    return result;
  }

  /**
   * The cut-off an {@code older_than} argument names: a timestamp ({@code 2026-11-01 00:00:00} in
   * the session time zone, or an ISO instant {@code 2026-11-01T00:00:00Z}) is the cut-off itself;
   * an interval ({@code 7 days}, {@code PT12H}) is an age, counted back from {@code now}.
   */
  static Instant cutoff(
      TableIdentifier table,
      String argument,
      String olderThan,
      Instant now,
      java.time.ZoneId zone) {
    if (olderThan == null || olderThan.isBlank()) {
      return now.minus(DEFAULT_AGE);
    }
    return JobArguments.cutoff("expire versions of " + table, argument, olderThan, now, zone);
  }

  /**
   * A {@code retain_last} value: 1 when not given, else a number from 1 to {@link
   * Integer#MAX_VALUE}.
   *
   * @param argument the argument as the user wrote it: {@code retain_last} or {@code --retain-last}
   */
  static int retainLast(TableIdentifier table, String argument, Long value) {
    if (value == null) {
      return 1;
    }
    if (value < 1 || value > Integer.MAX_VALUE) {
      throw new ValidationException(
          "Cannot expire versions of %s: %s '%d' is %s; use a number from 1 to %d (the latest"
              + " version is always kept)",
          table, argument, value, value < 1 ? "below 1" : "too large", Integer.MAX_VALUE);
    }
    return value.intValue();
  }

  static final JobArguments.Usage USAGE =
      new JobArguments.Usage(
          "ExpireJob",
          """
          Removes the versions of a harness table outside a retention (never the latest) and
          releases what only they held: their Iceberg tags and PostgreSQL history. Safe while
          movers, appends and readers of kept versions run.""",
          List.of(
              JobArguments.Option.required(
                  "table", "namespace.table", "the harness table to expire"),
              JobArguments.Option.optional(
                  "older-than",
                  "timestamp or interval",
                  "a cut-off timestamp ('2026-11-01 00:00:00' in the session time zone, or"
                      + " '2026-11-01T00:00:00Z') or an age ('7 days', 'PT12H'): versions"
                      + " committed before it are outside the retention",
                  "5 days"),
              JobArguments.Option.optional(
                  "retain-last", "n", "keep at least the last n versions whatever their age", "1"),
              JobArguments.Option.CATALOG),
          List.of(
              "--table logs.events --older-than '7 days' --retain-last 10",
              "--table logs.events --older-than '2026-11-01 00:00:00'"),
          "versions, tags or history rows were removed");

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.ExpireJob}. */
  public static void main(String[] args) {
    JobSession session = new JobSession("DataHarness expire");
    session.exit(main(args, System.out, System.err, session));
  }

  /** Runs the job, printing a line and the result JSON to {@code out}; returns the exit code. */
  static int main(
      String[] args,
      PrintStream out,
      PrintStream err,
      java.util.function.Supplier<SparkSession> sessions) {
    return JobSession.run(
        USAGE,
        "expire",
        "expired",
        args,
        out,
        err,
        sessions,
        JobSession.checked(
            arguments -> options(arguments, java.time.ZoneId.systemDefault()),
            (arguments, spark, json, print) -> {
              Options options = options(arguments, JobArguments.sessionZone(spark));
              TableIdentifier table = options.table();
              ExpireResult result =
                  run(
                      spark,
                      arguments.catalog(spark),
                      table,
                      options.cutoff(),
                      options.retainLast());
              print.println(result);
              json.put("table", table.toString())
                  .put("oldest_version", result.oldestVersion())
                  .put("versions_removed", result.versionsRemoved())
                  .put("state_records_removed", result.stateRecordsRemoved())
                  .put("tags_removed", result.tagCount())
                  .put("history_rows_removed", result.historyRowCount())
                  .put("duration_ms", result.durationMs());
              var skipped = json.putArray("skipped");
              result.skippedList().forEach(skipped::add);
              return result.removedAnything() ? JobStatus.DONE : JobStatus.NOTHING_TO_DO;
            }));
  }

  /** The job's options, checked (the check before Spark starts and the run read them alike). */
  private record Options(TableIdentifier table, int retainLast, Instant cutoff) {}

  private static Options options(JobArguments arguments, java.time.ZoneId zone) {
    TableIdentifier table = TableIdentifier.parse(arguments.required("table"));
    int retainLast =
        retainLast(
            table,
            "--retain-last",
            arguments.optional("retain-last").isEmpty()
                ? null
                : arguments.positiveLong("retain-last").getAsLong());
    Instant cutoff =
        cutoff(
            table,
            "--older-than",
            arguments.optional("older-than").orElse(null),
            Instant.now(),
            zone);
    return new Options(table, retainLast, cutoff);
  }
}
