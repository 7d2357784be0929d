package io.dataharness.spark.jobs;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.LockHeldException;
import io.dataharness.metadata.NoSuchSourceException;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.source.SourceUnavailableException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sync job: records what sources hold now, in one commit (operation {@code sync}): each Kafka
 * source's live end offsets (read committed) become its {@code end}, each PostgreSQL source's read
 * timestamp advances to {@link PostgresSources#safeReadTimestamp}. Iceberg sources change only
 * through harness writes. A Kafka source without an explicit {@code partitions} option also gains
 * the partitions added to its topic since the last version, from their earliest offset.
 *
 * <p>The commit compares each state with the one read (compare-and-set) and retries on a conflict.
 * A source another job holds locked (a mover) is retried for a while and then left out of this
 * sync: the next sync, or the mover's own commit, advances it.
 *
 * <p>As a Spark application: {@code spark-submit --class io.dataharness.spark.jobs.SyncJob ...
 * --table ns.t [--every '1 minute'] [--catalog harness]} ({@code --help} prints every option): one
 * line per sync, then one JSON object on the last line of stdout and an exit code ({@link
 * JobStatus}). As SQL: {@code CALL harness.system.sync(table => 'ns.t')}.
 */
public final class SyncJob {
  private static final Logger LOG = LoggerFactory.getLogger(SyncJob.class);
  private static final int ATTEMPTS = 20;
  private static final Duration LOCKED_WAIT = Duration.ofSeconds(10);

  private SyncJob() {}

  public static SyncResult run(HarnessContext catalog, TableIdentifier table) {
    try {
      return sync(catalog, table);
    } catch (SourceUnavailableException e) {
      // a source's service failed (Kafka, PostgreSQL, the Iceberg catalog) before the commit
      throw new SourceUnavailableException(
          e,
          "Cannot sync table %s: %s; rerun the sync once the service answers (the failed sync"
              + " committed no version)",
          table,
          e.getMessage());
    }
  }

  private static SyncResult sync(HarnessContext catalog, TableIdentifier table) {
    HarnessStore store = catalog.store();
    long started = System.nanoTime();
    Set<String> skipped = new HashSet<>();
    long lockedSince = -1;
    for (int attempt = 1; ; attempt++) {
      TableVersion version = store.readLatest(table);
      Map<String, SourceState[]> changes = new LinkedHashMap<>();
      for (Map.Entry<String, SourceState> entry : version.sourceStates().entrySet()) {
        if (skipped.contains(entry.getKey())) {
          continue;
        }
        if (version.openIntent(entry.getKey()).isPresent()) {
          // a writer's side effects (rows upserted into or deleted from PostgreSQL) may not be
          // recorded yet: the store refuses to change the source until that writer's rerun
          // completes its intent
          var intent = version.openIntent(entry.getKey()).get();
          LOG.warn(
              "Sync of {} skips source '{}': intent '{}' ({}, owner '{}', since version {}) is"
                  + " open on it; run that job again to complete it",
              table,
              entry.getKey(),
              intent.id(),
              intent.kind(),
              intent.owner(),
              intent.openedVersion());
          skipped.add(entry.getKey());
          continue;
        }
        SourceDefinition source = version.sources().get(entry.getKey());
        SourceState next = current(catalog.connection(table, source), source, entry.getValue());
        if (!next.equals(entry.getValue())) {
          changes.put(entry.getKey(), new SourceState[] {entry.getValue(), next});
        }
      }
      if (changes.isEmpty()) {
        LOG.info("Sync of {}: nothing changed since version {}", table, version.version());
        return new SyncResult(version.version(), List.of(), List.copyOf(skipped));
      }
      Transaction transaction = store.newTransaction(table).operation("sync");
      changes.forEach(
          (id, states) -> {
            transaction.setSourceState(id, states[0], states[1]);
            transaction.summary(id, describe(states[1]));
          });
      try {
        VersionInfo committed = transaction.commit();
        io.dataharness.spark.txn.CommitLog.committedDirectly(
            table, "sync", List.copyOf(changes.keySet()), committed, "sync", started);
        LOG.info(
            "Sync of {} committed version {}: {}{}",
            table,
            committed.version(),
            committed.commit().summary(),
            skipped.isEmpty() ? "" : " (skipped locked sources " + skipped + ")");
        return new SyncResult(
            committed.version(), List.copyOf(changes.keySet()), List.copyOf(skipped));
      } catch (LockHeldException locked) {
        io.dataharness.spark.metrics.HarnessMetrics.get().lockWaited();
        if (lockedSince < 0) {
          lockedSince = System.nanoTime();
        }
        if (System.nanoTime() - lockedSince > LOCKED_WAIT.toNanos()) {
          LOG.info(
              "Sync of {} skips source '{}': {}",
              table,
              locked.holder().sourceId(),
              locked.getMessage());
          skipped.add(locked.holder().sourceId());
        } else {
          pause(attempt);
        }
      } catch (CommitConflictException conflict) {
        io.dataharness.spark.metrics.HarnessMetrics.get().conflicted();
        if (attempt >= ATTEMPTS) {
          throw conflict;
        }
        pause(attempt);
      } catch (NoSuchSourceException retired) {
        // an ALTER TABLE retired a source after this sync read it: sync the remaining ones
        Set<String> gone = new HashSet<>(changes.keySet());
        gone.removeAll(store.readLatest(table).sources().keySet());
        if (gone.isEmpty() || attempt >= ATTEMPTS) {
          throw retired;
        }
        LOG.info(
            "Sync of {}: sources {} were retired since version {}; syncing the others",
            table,
            gone,
            version.version());
      }
    }
  }

  /** The state a source holds now, never behind the recorded one. */
  static SourceState current(
      ConnectionConfig connection, SourceDefinition source, SourceState recorded) {
    switch (source.kind()) {
      case KAFKA -> {
        return KafkaSources.liveState(connection, source, (SourceState.Kafka) recorded);
      }
      case JDBC -> {
        SourceState.Jdbc jdbc = (SourceState.Jdbc) recorded;
        SourceState.Jdbc next = PostgresSources.currentState(connection, source, jdbc);
        return next.readTimestamp().isAfter(jdbc.readTimestamp()) ? next : jdbc;
      }
      default -> {
        return recorded;
      }
    }
  }

  private static String describe(SourceState state) {
    if (state instanceof SourceState.Kafka kafka) {
      StringBuilder ends = new StringBuilder("end ");
      kafka.partitions().forEach((p, r) -> ends.append(p).append(':').append(r.end()).append(' '));
      return ends.toString().trim();
    }
    if (state instanceof SourceState.Jdbc jdbc) {
      return "read timestamp " + jdbc.readTimestamp();
    }
    return state.toString();
  }

  private static void pause(int attempt) {
    try {
      Thread.sleep(Math.min(500, 10L * attempt * attempt));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while syncing", e);
    }
  }

  static final JobArguments.Usage USAGE =
      new JobArguments.Usage(
          "SyncJob",
          """
          Records what a harness table's sources hold now in one harness version: each Kafka
          source's live end offsets, each PostgreSQL source's read timestamp. A source another job
          holds locked (a mover) is left out and named as skipped. With --every, SIGTERM or SIGINT
          (Ctrl-C) stops the job after the sync it is running.""",
          List.of(
              JobArguments.Option.required(
                  "table", "namespace.table", "the harness table whose sources are recorded"),
              JobArguments.Option.optional(
                  "every",
                  "interval",
                  "run as a long-lived service: one sync, then a wait of this interval, and"
                      + " again, until SIGTERM or SIGINT;"
                      + " a positive interval such as '1 minute'. A failed sync ends the job"
                      + " (exit 1)",
                  "run once"),
              JobArguments.Option.CATALOG),
          List.of("--table logs.events", "--table logs.events --every '1 minute'"),
          "synced: at least one source's state advanced (a run that changed nothing but skipped"
              + " locked sources exits 3)");

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.SyncJob}. */
  public static void main(String[] args) {
    JobSession session = new JobSession("DataHarness sync");
    int code = run(args, System.out, System.err, session, null);
    session.exit(code);
  }

  /**
   * Runs the job with its options and returns its exit code (see {@link JobStatus}), without ending
   * the JVM: one line per sync on {@code out}, then one JSON object on the last line.
   */
  static int run(
      String[] args,
      PrintStream out,
      PrintStream err,
      Supplier<SparkSession> spark,
      StopSignal stop) {
    TableIdentifier table;
    Optional<Duration> every;
    String catalogName;
    try {
      JobArguments arguments = JobArguments.parse(USAGE, args);
      if (arguments.help()) {
        out.print(USAGE.text());
        out.flush();
        return JobStatus.DONE.exitCode;
      }
      table = TableIdentifier.parse(arguments.required("table"));
      every = arguments.interval("every", false);
      catalogName = arguments.optional("catalog").orElse("harness");
    } catch (ValidationException e) {
      err.println(e.getMessage());
      out.println(json(null, List.of(), Set.of(), Set.of(), JobStatus.USAGE_ERROR, e.getMessage()));
      out.flush();
      return JobStatus.USAGE_ERROR.exitCode;
    }
    List<Long> versions = new ArrayList<>();
    Set<String> synced = new LinkedHashSet<>();
    Set<String> skipped = new LinkedHashSet<>();
    JobStatus status = null;
    String error = null;
    try {
      HarnessContext catalog = JobArguments.catalog(spark.get(), catalogName);
      StopSignal signal =
          every.isEmpty() ? new StopSignal() : stop == null ? StopSignal.install("SyncJob") : stop;
      try {
        do {
          SyncResult result = run(catalog, table);
          skipped.addAll(result.skipped());
          if (result.sourcesSynced().isEmpty()) {
            out.println(
                "Nothing to sync in "
                    + table
                    + " at version "
                    + result.version()
                    + (result.skipped().isEmpty()
                        ? ""
                        : " (skipped locked " + result.skipped() + ")"));
          } else {
            versions.add(result.version());
            synced.addAll(result.sourcesSynced());
            out.println(
                "Synced "
                    + result.sourcesSynced()
                    + " of "
                    + table
                    + " at version "
                    + result.version()
                    + (result.skipped().isEmpty()
                        ? ""
                        : " (skipped locked " + result.skipped() + ")"));
          }
          out.flush();
        } while (every.isPresent() && !signal.requested() && !signal.await(every.get()));
      } finally {
        signal.finished();
      }
    } catch (RuntimeException e) {
      status = JobStatus.of(e);
      error = JobStatus.describe(e);
      if (status == JobStatus.FAILED) {
        e.printStackTrace(err);
      }
      out.println(
          (status == JobStatus.LOCK_HELD ? "Cannot sync now (retry later): " : "Sync failed: ")
              + error);
    }
    if (status == null) {
      status =
          !versions.isEmpty()
              ? JobStatus.DONE
              : skipped.isEmpty() ? JobStatus.NOTHING_TO_DO : JobStatus.LOCK_HELD;
    }
    out.println(json(table, versions, synced, skipped, status, error));
    out.flush();
    return status.exitCode;
  }

  private static String json(
      TableIdentifier table,
      List<Long> versions,
      Set<String> synced,
      Set<String> skipped,
      JobStatus status,
      String error) {
    ObjectNode node = JobSession.object();
    node.put("job", "sync");
    node.put("table", table == null ? null : table.toString());
    ArrayNode versionList = node.putArray("versions");
    versions.forEach(versionList::add);
    ArrayNode syncedList = node.putArray("synced");
    synced.forEach(syncedList::add);
    ArrayNode skippedList = node.putArray("skipped");
    skipped.forEach(skippedList::add);
    node.put("status", status.id("synced"));
    node.put("error", error);
    return JobSession.json(node);
  }
}
