package io.dataharness.spark.jobs;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.LockHeldException;
import io.dataharness.metadata.NoSuchSourceException;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.source.PostgresSources;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * --table ns.t [--catalog harness]}. As SQL: {@code CALL harness.system.sync(table => 'ns.t')}.
 */
public final class SyncJob {
  private static final Logger LOG = LoggerFactory.getLogger(SyncJob.class);
  private static final int ATTEMPTS = 20;
  private static final Duration LOCKED_WAIT = Duration.ofSeconds(10);

  private SyncJob() {}

  public static SyncResult run(HarnessContext catalog, TableIdentifier table) {
    HarnessStore store = catalog.store();
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
        LOG.info(
            "Sync of {} committed version {}: {}{}",
            table,
            committed.version(),
            committed.commit().summary(),
            skipped.isEmpty() ? "" : " (skipped locked sources " + skipped + ")");
        return new SyncResult(
            committed.version(), List.copyOf(changes.keySet()), List.copyOf(skipped));
      } catch (LockHeldException locked) {
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

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.SyncJob}. */
  public static void main(String[] args) {
    JobArguments arguments = JobArguments.parse("SyncJob", args, Set.of("table", "catalog"));
    SparkSession spark = SparkSession.builder().appName("DataHarness sync").getOrCreate();
    HarnessContext catalog =
        JobArguments.catalog(spark, arguments.optional("catalog").orElse("harness"));
    TableIdentifier table = TableIdentifier.parse(arguments.required("table"));
    SyncResult result = run(catalog, table);
    System.out.println(
        "Synced "
            + result.sourcesSynced()
            + " of "
            + table
            + " at version "
            + result.version()
            + (result.skipped().isEmpty() ? "" : " (skipped locked " + result.skipped() + ")"));
  }
}
