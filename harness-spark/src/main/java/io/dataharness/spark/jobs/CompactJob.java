package io.dataharness.spark.jobs;

import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import io.dataharness.spark.write.IcebergStaging;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.iceberg.actions.RewriteDataFiles;
import org.apache.iceberg.spark.actions.SparkActions;
import org.apache.spark.sql.SparkSession;

/**
 * Compaction of an Iceberg source: rewrites its small files with Iceberg's own {@code
 * rewriteDataFiles} action, under the source's fenced lock, and records the rewritten snapshot in
 * one harness version. It runs through the {@link WriteProtocol} like a mover: the rewrite is
 * staged on a harness staging branch at the snapshot the harness records (invisible to readers of
 * the harness and of {@code main}), committed to the harness, then published to {@code main}. A
 * mover never races it (they take the same lock; the failure class of apache/iceberg #4996 and
 * #5404 cannot happen), and a compaction stopped anywhere is completed or discarded by the next
 * write to the source.
 *
 * <p>Every version reads the same rows before and after; the files the old snapshot used stay until
 * {@code expire_versions} releases the old versions' tags and Iceberg's {@code expire_snapshots}
 * removes them.
 *
 * <p>As a Spark application: {@code spark-submit --class io.dataharness.spark.jobs.CompactJob ...
 * --table ns.t --source cold [--options 'min-input-files=2,target-file-size-bytes=134217728']
 * [--catalog harness]}. As SQL: {@code CALL harness.system.compact(table => 'ns.t', source =>
 * 'cold', options => map('min-input-files', '2'))}.
 */
public final class CompactJob {
  private CompactJob() {}

  /** What a compaction did. */
  public record Result(
      TableIdentifier table,
      String source,
      long version,
      boolean compacted,
      long rewrittenFiles,
      long addedFiles,
      long rewrittenBytes,
      Long snapshotId,
      boolean replayed,
      long durationMs) {
    @Override
    public String toString() {
      return compacted
          ? String.format(
              "Compacted source '%s' of %s at version %d: %d files rewritten into %d (%d bytes),"
                  + " Iceberg snapshot %d%s in %d ms",
              source,
              table,
              version,
              rewrittenFiles,
              addedFiles,
              rewrittenBytes,
              snapshotId,
              replayed ? " (replayed)" : "",
              durationMs)
          : String.format(
              "Nothing to compact in source '%s' of %s at version %d (no file group met the"
                  + " rewrite options) in %d ms",
              source, table, version, durationMs);
    }
  }

  /** Compacts one Iceberg source of {@code table}. */
  public static Result run(
      SparkSession spark,
      HarnessContext catalog,
      TableIdentifier table,
      String sourceId,
      Map<String, String> options,
      String owner) {
    long start = System.nanoTime();
    TableVersion latest = catalog.store().readLatest(table);
    SourceDefinition source = latest.source(sourceId);
    if (source.kind() != SourceKind.ICEBERG) {
      throw new ValidationException(
          "Cannot compact source '%s' of %s: it is a %s source; compaction rewrites the files of"
              + " an Iceberg source",
          sourceId, table, source.kind().id());
    }
    Compaction compaction;
    WriteOutcome<String, IcebergStaging.Staged> outcome;
    try {
      compaction = new Compaction(spark, catalog, table, source, options);
      outcome =
          new WriteProtocol(catalog.store(), table)
              .run(
                  owner == null ? MoveJob.defaultOwner().replace("mover", "compact") : owner,
                  compaction);
    } catch (NothingToCompact nothing) {
      return new Result(
          table,
          sourceId,
          catalog.store().readLatest(table).version(),
          false,
          0,
          0,
          0,
          null,
          false,
          (System.nanoTime() - start) / 1_000_000);
    } catch (RuntimeException e) {
      throw io.dataharness.spark.source.ServiceFailures.wrap(
          e,
          spark,
          Map.of(sourceId, catalog.connection(table, source)),
          "compact source '" + sourceId + "' of " + table,
          "the table's versions and the source's files are unchanged; run compact again once the"
              + " service answers");
    }
    RewriteDataFiles.Result rewrite = compaction.result;
    return new Result(
        table,
        sourceId,
        outcome.version(),
        outcome.staged().isPresent(),
        rewrite == null ? 0 : rewrite.rewrittenDataFilesCount(),
        rewrite == null ? 0 : rewrite.addedDataFilesCount(),
        rewrite == null ? 0 : rewrite.rewrittenBytesCount(),
        outcome.staged().map(IcebergStaging.Staged::snapshotId).orElse(null),
        outcome.replayed(),
        (System.nanoTime() - start) / 1_000_000);
  }

  /** The rewrite staged nothing: no file group met the options. Nothing was committed. */
  private static final class NothingToCompact extends RuntimeException {
    NothingToCompact() {
      super(null, null, false, false);
    }
  }

  /** The compaction as a {@link Writer}: batch = its idempotency key. */
  private static final class Compaction implements Writer<String, IcebergStaging.Staged> {
    private final SparkSession spark;
    private final HarnessContext catalog;
    private final TableIdentifier table;
    private final SourceDefinition source;
    private final Map<String, String> options;
    private TableVersion version;
    private IcebergStaging staging;
    private RewriteDataFiles.Result result;

    Compaction(
        SparkSession spark,
        HarnessContext catalog,
        TableIdentifier table,
        SourceDefinition source,
        Map<String, String> options) {
      this.spark = spark;
      this.catalog = catalog;
      this.table = table;
      this.source = source;
      this.options = new TreeMap<>(options);
    }

    @Override
    public String operation() {
      return "compact";
    }

    @Override
    public List<String> sources() {
      return List.of(source.id());
    }

    /** Compaction is long and rare: it waits for movers rather than losing to them forever. */
    @Override
    public Duration lockWait() {
      return Duration.ofMinutes(2);
    }

    private SourceState.Iceberg recorded() {
      return (SourceState.Iceberg) version.state(source.id());
    }

    @Override
    public Optional<String> plan(TableVersion latest) {
      version = latest;
      staging =
          IcebergStaging.open(
              spark, catalog.connection(table, source), source, catalog.store().loadTable(table));
      staging.ensurePublished(recorded(), latest.version());
      if (recorded().snapshotId().isEmpty()) {
        return Optional.empty();
      }
      if (!options.isEmpty()) {
        checkOptions();
      }
      return Optional.of(
          IdempotencyKeys.of(
              "compact",
              table.toString(),
              source.id(),
              String.valueOf(recorded().snapshotId().getAsLong()),
              options.toString()));
    }

    @Override
    public String idempotencyKey(String batch) {
      return batch;
    }

    @Override
    public Optional<String> intentPayload(String batch) {
      return Optional.empty(); // staged on a branch: invisible until the commit
    }

    /**
     * Lets Iceberg validate the options before anything is staged: a rewrite that selects no file
     * checks them and changes nothing.
     */
    private void checkOptions() {
      try {
        SparkActions.get(spark)
            .rewriteDataFiles(staging.table())
            .filter(org.apache.iceberg.expressions.Expressions.alwaysFalse())
            .options(options)
            .execute();
      } catch (IllegalArgumentException e) {
        throw new InvalidArgumentException(
            "options",
            "Cannot compact source '%s' of %s: options %s are refused by Iceberg's"
                + " rewrite_data_files (%s); use its options, such as min-input-files or"
                + " target-file-size-bytes",
            source.id(),
            table,
            options,
            e.getMessage());
      }
    }

    @Override
    public String resume(Intent intent, TableVersion latest) {
      throw new IllegalStateException("Compactions record no intents: " + intent);
    }

    @Override
    public IcebergStaging.Staged stage(String batch, LeaseKeeper locks) {
      String stageKey = batch + "#" + locks.lock(source.id()).fencingToken();
      staging.removeAbandonedStages(recorded(), stageKey);
      return staging
          .stageOnBranch(
              recorded(),
              stageKey,
              branch ->
                  result =
                      SparkActions.get(spark)
                          .rewriteDataFiles(staging.table())
                          .toBranch(branch)
                          .snapshotProperty(IcebergStaging.KEY_PROPERTY, stageKey)
                          .options(options)
                          .execute())
          .orElseThrow(NothingToCompact::new);
    }

    @Override
    public void record(Transaction transaction, String batch, IcebergStaging.Staged staged) {
      transaction
          .setSourceState(source.id(), SourceState.Iceberg.of(staged.snapshotId()))
          .externalIds(source.id(), Map.of("snapshot-id", String.valueOf(staged.snapshotId())))
          .summary("source", source.id());
      if (result != null) {
        transaction
            .summary("rewritten-files", String.valueOf(result.rewrittenDataFilesCount()))
            .summary("added-files", String.valueOf(result.addedDataFilesCount()));
      }
    }

    @Override
    public void publish(String batch, IcebergStaging.Staged staged, VersionInfo committed) {
      staging.publish(staged.snapshotId(), committed.version());
    }

    @Override
    public String describe(String batch) {
      return "compaction of source '" + source.id() + "' of " + table + " (" + batch + ")";
    }
  }

  /** Parses {@code --options 'k=v,k=v'}. */
  static Map<String, String> options(String text) {
    Map<String, String> options = new TreeMap<>();
    if (text == null || text.isBlank()) {
      return options;
    }
    for (String pair : text.split(",")) {
      int equals = pair.indexOf('=');
      if (equals <= 0) {
        throw new ValidationException(
            "Cannot run CompactJob: --options '%s' is not a list of key=value pairs; write them"
                + " separated by commas, such as 'min-input-files=2'",
            text);
      }
      options.put(pair.substring(0, equals).trim(), pair.substring(equals + 1).trim());
    }
    return options;
  }

  static final JobArguments.Usage USAGE =
      new JobArguments.Usage(
          "CompactJob",
          """
          Rewrites the small files of an Iceberg source with Iceberg's rewriteDataFiles action,
          under the source's lock (waiting up to 2 minutes for a mover), and records the rewritten
          snapshot in one version; every version reads the same rows.""",
          List.of(
              JobArguments.Option.required("table", "namespace.table", "the harness table"),
              JobArguments.Option.required("source", "id", "the Iceberg source to compact"),
              JobArguments.Option.optional(
                  "options",
                  "key=value,...",
                  "options of Iceberg's rewrite_data_files, such as"
                      + " 'min-input-files=2,target-file-size-bytes=134217728'",
                  "Iceberg's defaults"),
              JobArguments.Option.CATALOG,
              JobArguments.Option.optional(
                  "owner", "name", "the lock owner name", "compact@<host>:<pid>:<random>")),
          List.of(
              "--table logs.events --source cold",
              "--table logs.events --source cold --options 'min-input-files=2'"),
          "files were rewritten and committed");

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.CompactJob}. */
  public static void main(String[] args) {
    JobSession session = new JobSession("DataHarness compact");
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
        "compact",
        "compacted",
        args,
        out,
        err,
        sessions,
        JobSession.checked(
            arguments -> {
              TableIdentifier.parse(arguments.required("table"));
              options(arguments.optional("options").orElse(null));
            },
            (arguments, spark, json, print) -> {
              TableIdentifier table = TableIdentifier.parse(arguments.required("table"));
              String source = arguments.required("source");
              Map<String, String> options = options(arguments.optional("options").orElse(null));
              Result result =
                  run(
                      spark,
                      arguments.catalog(spark),
                      table,
                      source,
                      options,
                      arguments.optional("owner").orElse(null));
              print.println(result);
              json.put("table", table.toString())
                  .put("source", source)
                  .put("version", result.version())
                  .put("rewritten_files", result.rewrittenFiles())
                  .put("added_files", result.addedFiles())
                  .put("rewritten_bytes", result.rewrittenBytes())
                  .put("snapshot_id", result.snapshotId())
                  .put("replayed", result.replayed())
                  .put("duration_ms", result.durationMs());
              return result.compacted() ? JobStatus.DONE : JobStatus.NOTHING_TO_DO;
            }));
  }
}
