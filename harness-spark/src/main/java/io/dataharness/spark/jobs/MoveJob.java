package io.dataharness.spark.jobs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.source.SourceUnavailableException;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;

/**
 * The move job: moves one batch of rows of a harness table from one source to another and commits
 * both new states in one harness version. Supported moves: kafka to iceberg, kafka to jdbc
 * (PostgreSQL upserts), jdbc to iceberg.
 *
 * <p>As a Spark application: {@code spark-submit --class io.dataharness.spark.jobs.MoveJob ...
 * --table ns.t --source a --target b [--max-rows N] [--older-than '10 minutes'] [--until-empty]
 * [--every '5 minutes'] [--catalog harness] [--owner name]} ({@code --help} prints every option);
 * one line per batch, then one JSON object on the last line of stdout, and an exit code that tells
 * moved (0), nothing to do (2), retry later (3), failed (1) and usage error (64) apart ({@link
 * JobStatus}). As SQL: {@code CALL harness.system.move(table => 'ns.t', source => 'a', target =>
 * 'b', max_rows => 1000, older_than => '10 minutes')}.
 */
public final class MoveJob {
  static final JobArguments.Usage USAGE =
      new JobArguments.Usage(
          "MoveJob",
          """
          Moves rows of a harness table from one source to another and commits both sources' new
          states in one harness version per batch, so readers see every row exactly once. Moves:
          kafka -> iceberg, kafka -> jdbc (PostgreSQL upserts), jdbc -> iceberg. A move retried
          after a crash completes the crashed batch. With --until-empty or --every, SIGTERM or
          SIGINT (Ctrl-C) stops the job after the batch it is running, which finishes and
          commits; a second signal exits at once (the next run completes the batch).""",
          List.of(
              JobArguments.Option.required(
                  "table", "namespace.table", "the harness table whose rows move"),
              JobArguments.Option.required(
                  "source", "source id", "the source rows leave (a kafka or jdbc source)"),
              JobArguments.Option.required(
                  "target", "source id", "the source rows arrive in (an iceberg or jdbc source)"),
              JobArguments.Option.optional(
                  "max-rows",
                  "n",
                  "at most n rows per batch (kafka: in total over its partitions); a positive"
                      + " number",
                  "no limit: everything eligible in one batch"),
              JobArguments.Option.optional(
                  "older-than",
                  "interval",
                  "only rows older than this age (by the Kafka timestamp or the ordering column),"
                      + " such as '10 minutes', '30s', '2 hours' or 'PT10M', or than a cut-off"
                      + " timestamp such as '2026-11-01 00:00:00' (this JVM's time zone) or"
                      + " '2026-11-01T00:00:00Z'; with --every, give an age",
                  "no age bound"),
              JobArguments.Option.flag(
                  "until-empty",
                  "repeat batches, each its own version, until a batch finds nothing to move"),
              JobArguments.Option.optional(
                  "every",
                  "interval",
                  "run as a long-lived service: one batch (or one --until-empty round), then"
                      + " a wait of this interval, and again, until SIGTERM or SIGINT; a positive"
                      + " interval. A round refused"
                      + " by a held lock is retried at the next interval; a failed round ends"
                      + " the job (exit 1)",
                  "run once"),
              JobArguments.Option.CATALOG,
              JobArguments.Option.optional(
                  "owner",
                  "name",
                  "the lock owner name, shown in the table's locks metadata table",
                  "mover@<host>:<pid>:<random>")),
          List.of(
              "--table logs.events --source hot --target cold --max-rows 100000",
              "--table logs.events --source warm --target cold --older-than '10 minutes'",
              "--table logs.events --source hot --target cold --max-rows 50000 --until-empty",
              "--table logs.events --source hot --target cold --until-empty --every '5 minutes'"),
          "moved rows (at least one batch recorded a version)");

  private MoveJob() {}

  /** Runs one move, dispatching on the kinds of the two sources. */
  public static MoveResult run(SparkSession spark, HarnessContext catalog, MoveRequest request) {
    long started = System.nanoTime();
    try {
      return dispatch(spark, catalog, request)
          .withDuration(Duration.ofNanos(System.nanoTime() - started));
    } catch (SourceUnavailableException e) {
      throw unavailable(request, e);
    }
  }

  /**
   * The connections of the latest version's sources, by source id, to tell which service failed
   * ({@link io.dataharness.spark.source.ServiceFailures}); empty if they cannot be read.
   */
  static Map<String, io.dataharness.spark.conf.ConnectionConfig> connections(
      HarnessContext catalog, TableIdentifier table) {
    Map<String, io.dataharness.spark.conf.ConnectionConfig> connections = new java.util.TreeMap<>();
    try {
      for (SourceDefinition source : catalog.store().readLatest(table).sources().values()) {
        connections.put(source.id(), catalog.connection(table, source));
      }
    } catch (RuntimeException e) {
      // the error being reported matters more than naming its service
    }
    return connections;
  }

  /** A move that failed because a service it needs failed: see {@link #unavailable}. */
  private static final class MoveUnavailableException extends SourceUnavailableException {
    MoveUnavailableException(Throwable cause, String message, Object... args) {
      super(cause, message, args);
    }
  }

  /**
   * A service the move needs (Kafka, the PostgreSQL source, the Iceberg catalog) failed: the error
   * names the move and says what a rerun does. The write protocol released the locks; a version the
   * move committed (its intent) is completed by the rerun.
   */
  static SourceUnavailableException unavailable(MoveRequest request, SourceUnavailableException e) {
    if (e instanceof MoveUnavailableException) {
      return e;
    }
    return new MoveUnavailableException(
        e,
        "Cannot move source '%s' of table %s to source '%s': %s; rerun the move once the service"
            + " answers: the table's versions and both sources are as the last committed version"
            + " recorded them, and a rerun completes an interrupted batch exactly once",
        request.source(),
        request.table(),
        request.target(),
        e.getMessage());
  }

  private static MoveResult dispatch(
      SparkSession spark, HarnessContext catalog, MoveRequest request) {
    if (request.source().equals(request.target())) {
      throw new ValidationException(
          "Cannot move rows of %s from source '%s' to itself: name two different sources",
          request.table(), request.source());
    }
    TableVersion latest = catalog.store().readLatest(request.table());
    SourceDefinition source = latest.source(request.source());
    SourceDefinition target = latest.source(request.target());
    if (source.kind() == SourceKind.KAFKA && target.kind() == SourceKind.ICEBERG) {
      return KafkaToIcebergMover.move(spark, catalog, request);
    }
    if (source.kind() == SourceKind.KAFKA && target.kind() == SourceKind.JDBC) {
      return KafkaToPostgresMover.move(spark, catalog, request);
    }
    if (source.kind() == SourceKind.JDBC && target.kind() == SourceKind.ICEBERG) {
      return PostgresToIcebergMover.move(spark, catalog, request);
    }
    throw new ValidationException(
        "Cannot move rows of %s from '%s' (%s) to '%s' (%s): supported moves are kafka -> iceberg,"
            + " kafka -> jdbc and jdbc -> iceberg",
        request.table(), source.id(), source.kind().id(), target.id(), target.kind().id());
  }

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.MoveJob}. */
  public static void main(String[] args) {
    JobSession session = new JobSession("DataHarness move");
    int code = run(args, System.out, System.err, session, null);
    session.exit(code);
  }

  /**
   * Runs the job with its options and returns its exit code (see {@link JobStatus}), without ending
   * the JVM: one line per batch on {@code out}, then one JSON object on the last line.
   *
   * @param spark the session, asked for only when the options are valid
   * @param stop the stop request of {@code --every}; null installs the SIGTERM/SIGINT handlers when
   *     {@code --every} is given
   */
  static int run(
      String[] args,
      PrintStream out,
      PrintStream err,
      Supplier<SparkSession> spark,
      StopSignal stop) {
    Plan plan;
    try {
      JobArguments arguments = JobArguments.parse(USAGE, args);
      if (arguments.help()) {
        out.print(USAGE.text());
        out.flush();
        return JobStatus.DONE.exitCode;
      }
      plan = Plan.of(arguments);
    } catch (ValidationException e) {
      err.println(e.getMessage());
      MoveRun refused = new MoveRun(null, out);
      refused.status = JobStatus.USAGE_ERROR;
      refused.error = e.getMessage();
      out.println(refused.json());
      out.flush();
      return JobStatus.USAGE_ERROR.exitCode;
    }
    MoveRun moves = new MoveRun(plan, out);
    try {
      SparkSession session = spark.get();
      HarnessContext catalog = JobArguments.catalog(session, plan.catalog());
      // a run of several batches stops between them on SIGTERM; a single batch just finishes
      boolean batches = plan.every().isPresent() || plan.untilEmpty();
      StopSignal signal =
          !batches ? new StopSignal() : stop == null ? StopSignal.install("MoveJob") : stop;
      try {
        JobStatus round;
        do {
          round = moves.round(session, catalog, signal);
        } while (plan.every().isPresent()
            && round != JobStatus.FAILED
            && !signal.requested()
            && !signal.await(plan.every().get()));
      } finally {
        signal.finished();
      }
    } catch (RuntimeException e) {
      moves.failed(e, err);
    }
    out.println(moves.json());
    out.flush();
    return moves.status().exitCode;
  }

  /** The job's options, checked. */
  record Plan(MoveRequest request, boolean untilEmpty, Optional<Duration> every, String catalog) {
    static Plan of(JobArguments arguments) {
      MoveRequest request =
          MoveJob.request(
              "run MoveJob",
              arguments.required("table"),
              arguments.required("source"),
              arguments.required("target"),
              arguments.positiveLong("max-rows"),
              arguments
                  .optional("older-than")
                  .map(
                      value ->
                          JobArguments.age(
                              "run MoveJob",
                              "--older-than",
                              value,
                              Instant.now(),
                              ZoneId.systemDefault())),
              arguments.optional("owner").orElse(null));
      return new Plan(
          request,
          arguments.flag("until-empty"),
          arguments.interval("every", false),
          arguments.optional("catalog").orElse("harness"));
    }
  }

  /** What the batches of one job run did, printed as they go and as the final JSON line. */
  private static final class MoveRun {
    private final Plan plan;
    private final PrintStream out;
    private final List<Long> versions = new ArrayList<>();
    private long rowsMoved;
    private boolean replayed;
    private boolean refused;
    private JobStatus status;
    private String error;

    MoveRun(Plan plan, PrintStream out) {
      this.plan = plan;
      this.out = out;
    }

    /**
     * One batch, or with {@code --until-empty} batches until one finds nothing to move (each its
     * own version); a stop request ends the round between batches.
     */
    JobStatus round(SparkSession spark, HarnessContext catalog, StopSignal stop) {
      MoveRequest request = plan.request();
      boolean movedThisRound = false;
      while (true) {
        MoveResult result;
        try {
          result = MoveJob.run(spark, catalog, request);
        } catch (RuntimeException e) {
          JobStatus failure = JobStatus.of(e);
          if (failure == JobStatus.LOCK_HELD) {
            refused = true;
            error = JobStatus.describe(e);
            out.println(
                "Cannot move rows of "
                    + request.table()
                    + " from '"
                    + request.source()
                    + "' to '"
                    + request.target()
                    + "' now (retry later): "
                    + error);
            out.flush();
            return failure;
          }
          throw e;
        }
        if (!result.committed()) {
          out.println(
              "Nothing to move in "
                  + request.table()
                  + " from '"
                  + request.source()
                  + "' to '"
                  + request.target()
                  + "' at version "
                  + result.version());
          out.flush();
          return movedThisRound ? JobStatus.DONE : JobStatus.NOTHING_TO_DO;
        }
        movedThisRound = true;
        versions.add(result.version());
        rowsMoved += result.rowsMoved();
        replayed |= result.replayed();
        String covered = result.moved();
        out.println(
            "Moved "
                + result.rowsMoved()
                + " rows of "
                + request.table()
                + " from '"
                + request.source()
                + "' to '"
                + request.target()
                + "' at version "
                + result.version()
                + (result.replayed() ? " (replayed)" : "")
                + " in "
                + result.duration().toMillis()
                + " ms"
                + (covered == null ? "" : ": " + covered));
        out.flush();
        if (!plan.untilEmpty() || stop.requested()) {
          return JobStatus.DONE;
        }
      }
    }

    void failed(RuntimeException e, PrintStream err) {
      status = JobStatus.of(e);
      refused |= status == JobStatus.LOCK_HELD;
      error = JobStatus.describe(e);
      if (status == JobStatus.FAILED) {
        e.printStackTrace(err);
      }
      out.println(
          (status == JobStatus.LOCK_HELD ? "Cannot move now (retry later): " : "Move failed: ")
              + error);
    }

    /** Failed if a batch failed; else done if any batch moved; else lock held if refused. */
    JobStatus status() {
      if (status != null) {
        return status;
      }
      if (!versions.isEmpty()) {
        return JobStatus.DONE;
      }
      return refused ? JobStatus.LOCK_HELD : JobStatus.NOTHING_TO_DO;
    }

    String json() {
      ObjectNode node = JobSession.object();
      node.put("job", "move");
      MoveRequest request = plan == null ? null : plan.request();
      node.put("table", request == null ? null : request.table().toString());
      node.put("source", request == null ? null : request.source());
      node.put("target", request == null ? null : request.target());
      node.put("batches", versions.size());
      node.put("rows_moved", rowsMoved);
      ArrayNode list = node.putArray("versions");
      versions.forEach(list::add);
      node.put("replayed", replayed);
      JobStatus outcome = status();
      node.put("status", outcome.id("moved"));
      node.put(
          "error", outcome == JobStatus.DONE || outcome == JobStatus.NOTHING_TO_DO ? null : error);
      return JobSession.json(node);
    }
  }

  /** A request from the names users type (procedure arguments, job options). */
  static MoveRequest request(
      String table, String source, String target, Long maxRows, String olderThan, String owner) {
    String action = "call system.move";
    return request(
        action,
        table,
        source,
        target,
        maxRows == null
            ? OptionalLong.empty()
            : OptionalLong.of(JobArguments.positiveLong(action, "max_rows", maxRows)),
        olderThan == null
            ? Optional.empty()
            : Optional.of(
                JobArguments.age(action, "older_than", olderThan, Instant.now(), sessionZone())),
        owner);
  }

  private static MoveRequest request(
      String action,
      String table,
      String source,
      String target,
      OptionalLong maxRows,
      Optional<Duration> olderThan,
      String owner) {
    if (table == null || source == null || target == null) {
      throw new ValidationException(
          "Cannot %s: table, source and target are required; name the harness table and two of"
              + " its sources",
          action);
    }
    if (source.equals(target)) {
      throw new ValidationException(
          "Cannot move rows of %s from source '%s' to itself: name two different sources",
          table, source);
    }
    return new MoveRequest(
        TableIdentifier.parse(table),
        source,
        target,
        maxRows,
        olderThan,
        owner == null || owner.isBlank() ? defaultOwner() : owner);
  }

  /** The active session's time zone, in which a timestamp without an offset is read. */
  private static ZoneId sessionZone() {
    return SparkSession.getActiveSession().isDefined()
        ? JobArguments.sessionZone(SparkSession.getActiveSession().get())
        : ZoneId.systemDefault();
  }

  static String defaultOwner() {
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      host = "unknown-host";
    }
    return "mover@"
        + host
        + ":"
        + ProcessHandle.current().pid()
        + ":"
        + java.util.UUID.randomUUID().toString().substring(0, 8);
  }
}
