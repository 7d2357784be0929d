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
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import io.dataharness.spark.write.IcebergStaging;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;

/**
 * {@code rollback_to_version}: commits a new version whose source states are those of an earlier
 * version {@code n}, so the table reads exactly version n's rows again, where the sources still
 * hold them; refused, naming why, where they do not. Iceberg sources also move {@code main} back to
 * the snapshot version n reads (the later snapshots stay, tagged by their versions, for time
 * travel).
 *
 * <p>What it cannot undo is refused: a table whose sources changed since n (added, retired); a
 * Kafka source whose broker no longer retains offsets version n reads; an Iceberg snapshot that is
 * gone; and a move into or out of a PostgreSQL source since n (PostgreSQL rows belong to the
 * application: the harness cannot put back rows a move deleted or take out rows a move upserted).
 * Kafka and PostgreSQL sources show version n's rows until the next sync or move records their live
 * ends again: messages produced and rows written by applications since n come back then, as they
 * are the sources' own data.
 */
public final class Rollback {
  /** The commit operation; the audit lets a source's state move back under it. */
  public static final String OPERATION = "rollback";

  private Rollback() {}

  /** What a rollback did. */
  public record Result(long version, long rolledBackTo, List<String> restored, boolean replayed) {}

  public static Result run(
      SparkSession spark, HarnessContext catalog, TableIdentifier table, long target) {
    WriteOutcome<TableVersion, Map<String, SourceState>> outcome;
    try {
      Restore restore = new Restore(spark, catalog, table, target);
      outcome =
          new WriteProtocol(catalog.store(), table)
              .run(MoveJob.defaultOwner().replace("mover", "rollback"), restore);
    } catch (RuntimeException e) {
      throw io.dataharness.spark.source.ServiceFailures.wrap(
          e,
          spark,
          MoveJob.connections(catalog, table),
          "roll back " + table + " to version " + target,
          "the table's versions are unchanged; run rollback_to_version again once the service"
              + " answers");
    }
    return new Result(
        outcome.version(),
        target,
        outcome.staged().map(states -> List.copyOf(states.keySet())).orElse(List.of()),
        outcome.replayed());
  }

  private static final class Restore implements Writer<TableVersion, Map<String, SourceState>> {
    private final SparkSession spark;
    private final HarnessContext catalog;
    private final TableIdentifier table;
    private final long target;
    private final List<String> sources;
    private long from;

    Restore(SparkSession spark, HarnessContext catalog, TableIdentifier table, long target) {
      this.spark = spark;
      this.catalog = catalog;
      this.table = table;
      this.target = target;
      this.sources = List.copyOf(catalog.store().readLatest(table).sources().keySet());
    }

    @Override
    public String operation() {
      return OPERATION;
    }

    @Override
    public List<String> sources() {
      return sources;
    }

    @Override
    public Duration lockWait() {
      return Duration.ofSeconds(30);
    }

    private ValidationException refused(String reason, Object... args) {
      return new ValidationException(
          "Cannot roll %s back to version %d: %s", table, target, String.format(reason, args));
    }

    @Override
    public boolean publishRecorded(TableVersion latest) {
      // a rollback that stopped after its commit: move main back now
      if (!OPERATION.equals(latest.commit().operation())) {
        return false;
      }
      boolean moved = false;
      for (SourceDefinition source : latest.sources().values()) {
        if (source.kind() == SourceKind.ICEBERG) {
          moved |=
              restoreMain(
                  source, (SourceState.Iceberg) latest.state(source.id()), latest.version());
        }
      }
      return moved;
    }

    @Override
    public Optional<TableVersion> plan(TableVersion latest) {
      if (target >= latest.version()) {
        throw refused("it is not an earlier version (the latest is %d)", latest.version());
      }
      TableVersion old = catalog.store().readVersion(table, target);
      if (!old.sources().keySet().equals(latest.sources().keySet())) {
        throw refused(
            "its sources changed since (then %s, now %s); a rollback restores the states of the"
                + " same sources",
            old.sources().keySet(), latest.sources().keySet());
      }
      // PostgreSQL rows moved since cannot be put back
      List<Long> movesSince = new ArrayList<>();
      for (long from = target + 1; from <= latest.version(); ) {
        List<VersionInfo> page = catalog.store().history(table, from, 1000);
        for (VersionInfo info : page) {
          if (info.commit().operation().equals("move")
              && info.commit().sourceChanges().stream()
                  .anyMatch(change -> latest.source(change.sourceId()).kind() == SourceKind.JDBC)) {
            movesSince.add(info.version());
          }
        }
        if (page.isEmpty()) {
          break;
        }
        from = page.get(page.size() - 1).version() + 1;
      }
      if (!movesSince.isEmpty()) {
        throw refused(
            "versions %s moved rows into or out of a PostgreSQL source, which a rollback cannot"
                + " undo (the rows are the application's table's); roll back to version %d or"
                + " later",
            movesSince, movesSince.get(movesSince.size() - 1));
      }
      from = latest.version();
      boolean changes = false;
      for (SourceDefinition source : old.sources().values()) {
        SourceState then = old.state(source.id());
        if (!then.equals(latest.state(source.id()))) {
          changes = true;
          check(source, then);
        }
      }
      return changes ? Optional.of(old) : Optional.empty();
    }

    /** Refuses a state the source no longer holds. */
    private void check(SourceDefinition source, SourceState then) {
      var connection = catalog.connection(table, source);
      if (then instanceof SourceState.Kafka kafka) {
        try {
          KafkaSources.checkRetained(
              connection, KafkaSources.topic(source), kafka, "version " + target + " of " + table);
        } catch (RuntimeException e) {
          throw refused("source '%s' no longer holds its rows: %s", source.id(), e.getMessage());
        }
      } else if (then instanceof SourceState.Iceberg iceberg && iceberg.snapshotId().isPresent()) {
        IcebergStaging staging = staging(source);
        if (staging.table().snapshot(iceberg.snapshotId().getAsLong()) == null) {
          throw refused(
              "Iceberg table %s of source '%s' no longer has snapshot %d (expired)",
              staging.table().name(), source.id(), iceberg.snapshotId().getAsLong());
        }
      }
    }

    private IcebergStaging staging(SourceDefinition source) {
      return IcebergStaging.open(
          spark, catalog.connection(table, source), source, catalog.store().loadTable(table));
    }

    /** Moves main of an Iceberg source to the recorded snapshot; returns true if it had to. */
    private boolean restoreMain(SourceDefinition source, SourceState.Iceberg state, long version) {
      if (state.snapshotId().isEmpty()) {
        return false;
      }
      return staging(source).restoreMain(state.snapshotId().getAsLong(), version);
    }

    @Override
    public String idempotencyKey(TableVersion old) {
      return IdempotencyKeys.of(
          "rollback", table.toString(), String.valueOf(target), String.valueOf(from));
    }

    @Override
    public Optional<String> intentPayload(TableVersion old) {
      return Optional.empty(); // nothing changes in a source before the commit
    }

    @Override
    public TableVersion resume(Intent intent, TableVersion latest) {
      throw new IllegalStateException("Rollbacks record no intents: " + intent);
    }

    @Override
    public Map<String, SourceState> stage(TableVersion old, LeaseKeeper locks) {
      Map<String, SourceState> restored = new TreeMap<>();
      TableVersion latest = catalog.store().readLatest(table);
      old.sourceStates()
          .forEach(
              (id, state) -> {
                if (!state.equals(latest.state(id))) {
                  restored.put(id, state);
                }
              });
      return restored;
    }

    @Override
    public void record(Transaction transaction, TableVersion old, Map<String, SourceState> staged) {
      staged.forEach(transaction::setSourceState);
      // the versions after the target were undone: their batches may be written again
      transaction
          .rollbackTo(target)
          .summary("rolled-back-to", String.valueOf(target))
          .summary("sources", String.join(",", staged.keySet()));
    }

    @Override
    public void publish(TableVersion old, Map<String, SourceState> staged, VersionInfo committed) {
      staged.forEach(
          (id, state) -> {
            if (state instanceof SourceState.Iceberg iceberg) {
              restoreMain(old.source(id), iceberg, committed.version());
            }
          });
    }

    @Override
    public String describe(TableVersion old) {
      return "rollback of " + table + " to version " + target;
    }
  }
}
