package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.col;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.SqlStates;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.PostgresMoves;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.source.SourceUnavailableException;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import io.dataharness.spark.txn.Writer;
import io.dataharness.spark.write.IcebergStaging;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.expressions.Expression;
import org.apache.iceberg.expressions.Expressions;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves old rows of a system-versioned PostgreSQL source into an Iceberg source of the same harness
 * table (SPEC 9.2, second half), as a {@link Writer} of the {@link WriteProtocol}. "Delete first":
 * what the PostgreSQL delete removes is exactly what moves, with its newest committed image, so
 * rows the application updates or deletes meanwhile are neither duplicated nor brought back.
 *
 * <ul>
 *   <li><b>plan</b>: the batch's bounds (ordering column older than {@code older_than}, at most
 *       {@code max_rows}) and a new move id;
 *   <li><b>intent</b>: the delete is visible in PostgreSQL before the harness commit, so the
 *       protocol first records a write-ahead intent (payload: a {@link PendingMoves.PendingMove});
 *       while it is open the store refuses every other writer's commit to both sources;
 *   <li><b>stage</b>: one PostgreSQL transaction deletes the batch from the current table and
 *       records the move id with its transaction id in {@code harness_moves} (the versioning
 *       trigger keeps the deleted images in the history table, stamped with that transaction id);
 *       the deleted images are merged into a staging branch of the Iceberg table, by primary key,
 *       the ordering column deciding which image of a key remains (ties and a missing ordering
 *       column go to the moved image), or inserted when no Iceberg data file can hold their keys; a
 *       PostgreSQL snapshot taken after the delete. Outside the basement the delete and the staging
 *       run at the same time, in one snapshot ({@code deleteWhileStaging}); the delete commits
 *       after the staging;
 *   <li><b>record</b>: that snapshot and the staged Iceberg snapshot, completing the intent;
 *   <li><b>publish</b>: fast-forward {@code main} to the staged snapshot and tag it.
 * </ul>
 *
 * <p><b>Recovery</b>: a rerun that finds the intent completes its batch: if {@code harness_moves}
 * has no row for its move id the delete never committed and staging does it now; otherwise staging
 * takes the history rows of the recorded transaction (reusing a staged snapshot of the same move).
 *
 * <p>When the harness metadata lives in the source's PostgreSQL database (the "basement"), the
 * delete and the intent version are one database transaction ({@link Writer#commitIntent}).
 */
public final class PostgresToIcebergMover {
  private static final Logger LOG = LoggerFactory.getLogger(PostgresToIcebergMover.class);

  /** Column of the MERGE source telling a matching row from an inserting one. */
  private static final String ROLE = "__harness_role";

  /** The points after which a test may inject a crash, in the order a move passes them. */
  enum Step {
    /** Basement mode: the intent version is written in the open transaction, not committed. */
    HARNESS_COMMIT_WRITTEN,
    /** The version recording the move as pending is committed (basement: with the delete). */
    INTENT_COMMIT,
    /**
     * Not in the basement: the delete's snapshot is exported and Spark stages the rows it shows;
     * the delete has not run yet.
     */
    BATCH_SNAPSHOT,
    /**
     * The batch is deleted from PostgreSQL: committed, or in basement mode still inside the
     * transaction that will also write the intent version.
     */
    SOURCE_DELETE,
    /** The moved rows are in Iceberg as a staged snapshot. */
    STAGED_WRITE,
    /** The harness version is committed; the snapshot is not published yet. */
    HARNESS_COMMIT
  }

  /** Called after each step; tests replace it to simulate a crash there. */
  static volatile Consumer<Step> afterStep = step -> {};

  private PostgresToIcebergMover() {}

  /**
   * Moves one batch of {@code request.source()} (a jdbc source) to {@code request.target()} (an
   * iceberg source). A move retried after a crash at any step completes the crashed batch without
   * losing or duplicating rows.
   *
   * @return the version that recorded the move (or the latest version when nothing was older than
   *     the bound), the rows moved, and whether the batch had already been committed
   */
  public static MoveResult move(SparkSession spark, HarnessContext catalog, MoveRequest request) {
    HarnessStore store = catalog.store();
    TableVersion definitions = store.readLatest(request.table());
    String owner =
        request.owner() == null || request.owner().isBlank()
            ? "move-" + UUID.randomUUID()
            : request.owner();
    MoveWriter writer = new MoveWriter(spark, catalog, request, definitions, owner);
    JobDescriptions.Scope jobs = JobDescriptions.startMove(spark, request);
    try {
      WriteOutcome<Batch, Moved> outcome =
          new WriteProtocol(store, request.table()).run(owner, writer);
      if (outcome.staged().isPresent()) {
        Moved moved = outcome.staged().get();
        return new MoveResult(
            outcome.version(),
            moved.deleted().rows(),
            outcome.replayed(),
            writer.summary(outcome.batch().get(), moved));
      }
      TableVersion latest = store.readLatest(request.table());
      if (outcome.replayed()) {
        // a run committed this move's version and stopped before publishing: that completes it
        Map<String, String> summary = latest.commit().summary();
        return new MoveResult(
            latest.version(),
            Long.parseLong(summary.getOrDefault("rows-moved", "0")),
            true,
            summary);
      }
      return MoveResult.nothing(latest.version());
    } catch (SourceUnavailableException e) {
      throw MoveJob.unavailable(request, e);
    } catch (RuntimeException e) {
      Optional<SourceUnavailableException> down = writer.serviceFailure(e);
      if (down.isPresent()) {
        throw MoveJob.unavailable(request, down.get());
      }
      throw e;
    } finally {
      jobs.close();
    }
  }

  /** The batch's bounds, recorded in the intent so that a retry moves the same batch. */
  private record Bounds(Instant olderThan, OptionalLong maxRows) {
    static Bounds of(MoveRequest request, Instant now) {
      Instant olderThan =
          request
              .olderThan()
              .map(age -> now.minus(age).truncatedTo(ChronoUnit.MICROS))
              .orElse(null);
      return new Bounds(olderThan, request.maxRows());
    }

    static Bounds of(PendingMoves.PendingMove move) {
      return new Bounds(move.olderThan().orElse(null), move.maxRows());
    }

    String describe() {
      return (olderThan == null ? "" : " older than " + olderThan)
          + (maxRows.isPresent() ? ", at most " + maxRows.getAsLong() : "");
    }
  }

  /** A planned batch, or the batch of an interrupted run ({@code resumed}). */
  record Batch(PendingMoves.PendingMove move, boolean resumed) {}

  /**
   * What staging did: the delete, the staged Iceberg snapshot (none when nothing was deleted) and
   * the sources' next states.
   */
  record Moved(
      PostgresMoves.Deleted deleted,
      Optional<IcebergStaging.Staged> staged,
      SourceState.Jdbc nextSource,
      SourceState.Iceberg nextTarget) {}

  private static final class MoveWriter implements Writer<Batch, Moved> {
    private final SparkSession spark;
    private final HarnessContext catalog;
    private final MoveRequest request;
    private final TableIdentifier table;
    private final HarnessTable harnessTable;
    private final SourceDefinition source;
    private final SourceDefinition target;
    private final ConnectionConfig sourceConnection;
    private final ConnectionConfig targetConnection;
    private final boolean basement;
    private final String owner;
    private IcebergStaging staging;
    private Set<String> sourceColumns;

    MoveWriter(
        SparkSession spark,
        HarnessContext catalog,
        MoveRequest request,
        TableVersion latest,
        String owner) {
      this.spark = spark;
      this.owner = owner;
      this.catalog = catalog;
      this.request = request;
      this.table = request.table();
      this.harnessTable = catalog.store().loadTable(table);
      this.source = latest.source(request.source());
      this.target = latest.source(request.target());
      // a pending move carries its own bounds: completing it needs none
      checkRequest(PendingMoves.find(latest, source.id()).isEmpty());
      this.sourceConnection = catalog.connection(table, source);
      this.targetConnection = catalog.connection(table, target);
      this.basement =
          DatabaseAddress.sameDatabase(catalog.metadataUri(), sourceConnection.jdbcUrl());
    }

    private void checkRequest(boolean needsBounds) {
      if (source.kind() != SourceKind.JDBC || target.kind() != SourceKind.ICEBERG) {
        throw new ValidationException(
            "Cannot move %s from '%s' (%s) to '%s' (%s) with the PostgreSQL to Iceberg mover: it"
                + " moves from a jdbc source to an iceberg source",
            table, source.id(), source.kind().id(), target.id(), target.kind().id());
      }
      if (harnessTable.primaryKey().isEmpty()) {
        throw new ValidationException(
            "Cannot move %s from '%s' to '%s': the table has no primary key, which the move needs"
                + " to upsert into Iceberg and delete exactly the moved rows; set the table"
                + " property 'primary-key'",
            table, source.id(), target.id());
      }
      if (needsBounds && request.olderThan().isEmpty() && request.maxRows().isEmpty()) {
        throw new ValidationException(
            "Cannot move %s from '%s' to '%s': give older_than (an age bound) or max_rows, or both",
            table, source.id(), target.id());
      }
      if (request.maxRows().isPresent() && request.maxRows().getAsLong() <= 0) {
        throw new ValidationException(
            "Invalid max_rows %d for the move of %s: use a positive number",
            request.maxRows().getAsLong(), table);
      }
      if (request.olderThan().isPresent()) {
        if (request.olderThan().get().isNegative()) {
          throw new ValidationException(
              "Invalid older_than %s for the move of %s: use a positive interval",
              request.olderThan().get(), table);
        }
        if (needsBounds && harnessTable.orderingColumn().isEmpty()) {
          throw new ValidationException(
              "Cannot move rows of %s older than %s: the table has no ordering column to measure"
                  + " age by; set the table property 'ordering-column', or move by max_rows",
              table, request.olderThan().get());
        }
      }
    }

    @Override
    public String operation() {
      return PendingMoves.KIND;
    }

    @Override
    public List<String> sources() {
      return List.of(source.id(), target.id());
    }

    /**
     * The failure as an error naming the service that failed, when it is a service failure: the
     * Iceberg catalog's (a JDBC catalog's database, a REST catalog) or a lost connection to the
     * PostgreSQL source (SQLSTATE class 08, or 57P: terminated, shutting down, not accepting).
     */
    Optional<SourceUnavailableException> serviceFailure(RuntimeException e) {
      Optional<Throwable> catalogDown = IcebergSources.catalogFailure(e);
      if (catalogDown.isPresent()) {
        return Optional.of(
            new SourceUnavailableException(
                targetConnection.scrub(e),
                "Cannot reach the %s (source '%s'): %s; check that the catalog's service runs and"
                    + " answers",
                IcebergSources.describeCatalog(spark, targetConnection),
                target.id(),
                targetConnection.scrub(String.valueOf(catalogDown.get().getMessage()))));
      }
      return SqlStates.connectionLost(e)
          .map(
              sql ->
                  new SourceUnavailableException(
                      sourceConnection.scrub(e),
                      "Cannot use %s: %s",
                      PostgresSources.describe(sourceConnection, source.id()),
                      PostgresSources.lostConnection(sourceConnection, sql)));
    }

    /** A failed statement on the PostgreSQL source, as the error that names it. */
    private SourceUnavailableException sourceFailed(SQLException e, String action) {
      return new SourceUnavailableException(
          e, "Cannot %s of %s in source '%s': %s", action, table, source.id(), e.getMessage());
    }

    /** Opens the Iceberg target once, under the locks, and makes sure the source can move rows. */
    private IcebergStaging staging(TableVersion latest) {
      if (staging == null) {
        PostgresSources.ensureMoveSupport(sourceConnection, source, latest.schema());
        staging = IcebergStaging.open(spark, targetConnection, target, harnessTable);
      }
      return staging;
    }

    @Override
    public boolean publishRecorded(TableVersion latest) {
      SourceState.Iceberg recorded = (SourceState.Iceberg) latest.state(target.id());
      return staging(latest).ensurePublished(recorded, latest.version()) && isThisMove(latest);
    }

    /** Whether {@code version} is the commit of a move from this source to this target. */
    private boolean isThisMove(TableVersion version) {
      Map<String, String> summary = version.commit().summary();
      return "move".equals(version.commit().operation())
          && source.id().equals(summary.get("source"))
          && target.id().equals(summary.get("target"));
    }

    @Override
    public Optional<Batch> plan(TableVersion latest) {
      SourceState.Iceberg recordedTarget = (SourceState.Iceberg) latest.state(target.id());
      staging(latest).removeAbandonedStages(recordedTarget, null);
      Bounds bounds = Bounds.of(request, Instant.now());
      String moveId = UUID.randomUUID().toString();
      PendingMoves.PendingMove move =
          new PendingMoves.PendingMove(
              source.id(),
              target.id(),
              latest.version(),
              moveId,
              recordedTarget.snapshotId(),
              ((SourceState.Jdbc) latest.state(source.id())).readTimestamp(),
              Optional.ofNullable(bounds.olderThan()),
              bounds.maxRows(),
              "pg-move:" + moveId,
              owner,
              catalog.name());
      if (!anyInBatch(bounds)) {
        LOG.info("Nothing to {}", describe(move));
        return Optional.empty();
      }
      LOG.info("Starting to {}", describe(move));
      return Optional.of(new Batch(move, false));
    }

    private boolean anyInBatch(Bounds bounds) {
      try (Connection jdbc = PostgresMoves.connect(sourceConnection)) {
        return PostgresMoves.anyInBatch(
            jdbc, source, harnessTable.orderingColumn().orElse(null), bounds.olderThan());
      } catch (SQLException e) {
        throw sourceFailed(e, "look for rows to move");
      }
    }

    @Override
    public String idempotencyKey(Batch batch) {
      return batch.move().idempotencyKey();
    }

    @Override
    public Optional<String> intentPayload(Batch batch) {
      return Optional.of(batch.move().toJson());
    }

    @Override
    public boolean canResume(Intent intent) {
      return Writer.super.canResume(intent)
          && PendingMoves.isPendingMove(intent)
          && PendingMoves.PendingMove.parse(table, intent).target().equals(target.id());
    }

    @Override
    public Batch resume(Intent intent, TableVersion latest) {
      return new Batch(PendingMoves.PendingMove.parse(table, intent), true);
    }

    /** Basement: the delete and the intent version in one database transaction. */
    @Override
    public VersionInfo commitIntent(Transaction intent, Batch batch) {
      describe("%s: recording the move as pending", describe(batch.move()));
      VersionInfo opened;
      if (basement) {
        AtomicReference<VersionInfo> committed = new AtomicReference<>();
        delete(batch.move(), jdbc -> committed.set(intent.commitUsing(jdbc)));
        opened = committed.get();
      } else {
        opened = intent.commit();
      }
      LOG.info(
          "Recorded the {} as pending in version {}{}",
          describe(batch.move()),
          opened.version(),
          basement ? " (with its delete, in one database transaction)" : "");
      return opened;
    }

    @Override
    public Moved stage(Batch batch, LeaseKeeper locks) {
      PendingMoves.PendingMove move = batch.move();
      Optional<PostgresMoves.Deleted> recorded;
      try (Connection jdbc = PostgresMoves.connect(sourceConnection)) {
        recorded = PostgresMoves.deleted(jdbc, source, move.intentId());
      } catch (SQLException e) {
        throw sourceFailed(e, "find the delete of move " + move.intentId());
      }
      if (batch.resumed()) {
        LOG.info(
            "Completing the {} recorded as pending at version {} by {}: its delete {}",
            describe(move),
            move.baseVersion(),
            move.owner(),
            recorded.isPresent() ? "committed" : "never committed; deleting now");
      }
      TableVersion latest = catalog.store().readLatest(table);
      staging(latest);
      // basement: the delete committed with the intent
      Optional<Removal> removal =
          recorded.isPresent() || basement ? Optional.empty() : deleteWhileStaging(move, latest);
      PostgresMoves.Deleted deleted =
          removal.map(Removal::deleted).or(() -> recorded).orElseGet(() -> delete(move, null));
      Optional<IcebergStaging.Staged> staged =
          removal.isPresent()
              ? removal.get().staged()
              : deleted.rows() == 0 ? Optional.empty() : stageDeleted(move, deleted, latest);
      // a snapshot taken after the delete committed: it shows none of the moved rows
      SourceState.Jdbc nextSource =
          PostgresSources.currentState(
              sourceConnection, source, (SourceState.Jdbc) latest.state(source.id()));
      SourceState.Iceberg nextTarget =
          staged
              .map(s -> SourceState.Iceberg.of(s.snapshotId()))
              .orElse((SourceState.Iceberg) latest.state(target.id()));
      return new Moved(deleted, staged, nextSource, nextTarget);
    }

    /**
     * One PostgreSQL transaction: records the move in {@code harness_moves} and deletes its batch
     * from the current table; {@code alsoInTransaction} (basement: the intent version) runs before
     * it commits.
     */
    private PostgresMoves.Deleted delete(
        PendingMoves.PendingMove move, Consumer<Connection> alsoInTransaction) {
      describe("%s: deleting the batch from PostgreSQL", describe(move));
      try (Connection jdbc = PostgresMoves.connect(sourceConnection)) {
        jdbc.setAutoCommit(false);
        try {
          Bounds bounds = Bounds.of(move);
          PostgresMoves.claimMove(jdbc, source, move.intentId());
          PostgresMoves.Deleted deleted =
              PostgresMoves.deleteBatch(
                  jdbc,
                  source,
                  move.intentId(),
                  harnessTable.orderingColumn().orElse(null),
                  bounds.olderThan(),
                  harnessTable.primaryKey(),
                  bounds.maxRows());
          if (alsoInTransaction == null) {
            jdbc.commit();
            afterStep.accept(Step.SOURCE_DELETE);
          } else {
            afterStep.accept(Step.SOURCE_DELETE);
            alsoInTransaction.accept(jdbc);
            afterStep.accept(Step.HARNESS_COMMIT_WRITTEN);
            jdbc.commit();
          }
          logDeleted(move, deleted, "");
          return deleted;
        } catch (SQLException | RuntimeException | Error e) {
          rollbackQuietly(jdbc);
          throw e;
        }
      } catch (SQLException e) {
        throw sourceFailed(e, "delete the rows to move");
      }
    }

    @Override
    public void record(Transaction transaction, Batch batch, Moved moved) {
      describe("%s: committing", describe(batch.move()));
      transaction
          .setSourceState(source.id(), moved.nextSource())
          .setSourceState(target.id(), moved.nextTarget())
          .externalIds(source.id(), Map.of("rows-deleted", String.valueOf(moved.deleted().rows())));
      moved
          .staged()
          .ifPresent(
              s ->
                  transaction.externalIds(
                      target.id(), Map.of("snapshot-id", String.valueOf(s.snapshotId()))));
      summary(batch, moved).forEach(transaction::summary);
    }

    Map<String, String> summary(Batch batch, Moved moved) {
      PendingMoves.PendingMove move = batch.move();
      Map<String, String> summary = new LinkedHashMap<>();
      summary.put("source", source.id());
      summary.put("target", target.id());
      summary.put("rows-moved", String.valueOf(moved.deleted().rows()));
      summary.put("rows-deleted", String.valueOf(moved.deleted().rows()));
      summary.put("intent-id", move.intentId());
      summary.put("source-transaction", moved.deleted().xid());
      move.olderThan().ifPresent(bound -> summary.put("older-than", bound.toString()));
      if (move.maxRows().isPresent()) {
        summary.put("max-rows", String.valueOf(move.maxRows().getAsLong()));
      }
      moved.staged().ifPresent(s -> summary.put("snapshot-id", String.valueOf(s.snapshotId())));
      summary.put("basement", String.valueOf(basement));
      if (batch.resumed()) {
        summary.put("resumed-from-version", String.valueOf(move.baseVersion()));
      }
      return summary;
    }

    @Override
    public void publish(Batch batch, Moved moved, VersionInfo committed) {
      if (moved.staged().isPresent()) {
        long snapshot = moved.staged().get().snapshotId();
        describe(
            "%s: publishing Iceberg snapshot %d as version %d",
            describe(batch.move()), snapshot, committed.version());
        staging.publish(snapshot, committed.version());
      }
      LOG.info(
          "Moved {} rows of {} from '{}' to '{}' as version {} (read timestamp {}, Iceberg"
              + " snapshot {}{}{})",
          moved.deleted().rows(),
          table,
          source.id(),
          target.id(),
          committed.version(),
          moved.nextSource().readTimestamp(),
          moved.staged().map(s -> String.valueOf(s.snapshotId())).orElse("unchanged"),
          basement ? ", delete and intent in one database transaction" : "",
          batch.resumed()
              ? ", completing the pending move of version " + batch.move().baseVersion()
              : "");
    }

    @Override
    public void reached(WriteProtocol.Step step) {
      afterStep.accept(
          switch (step) {
            case BEFORE_STAGE -> Step.INTENT_COMMIT;
            case STAGED -> Step.STAGED_WRITE;
            case COMMITTED -> Step.HARNESS_COMMIT;
          });
    }

    @Override
    public String describe(Batch batch) {
      return describe(batch.move());
    }

    private String describe(PendingMoves.PendingMove move) {
      return String.format(
          "move %s '%s' -> '%s' (move %s)%s",
          table, source.id(), target.id(), move.intentId(), Bounds.of(move).describe());
    }

    private void describe(String format, Object... arguments) {
      JobDescriptions.set(spark, String.format(format, arguments));
    }

    /** What a move removed from PostgreSQL, and the snapshot that staged it in Iceberg. */
    private record Removal(PostgresMoves.Deleted deleted, Optional<IcebergStaging.Staged> staged) {}

    /**
     * The delete and the Iceberg staging at the same time, when the source is not the basement: a
     * repeatable-read transaction claims the move and exports its snapshot; Spark stages the
     * batch's rows as that snapshot shows them while the transaction deletes the same rows, and the
     * delete commits once the staging is done. In one snapshot the delete removes exactly the rows
     * staged: a batch row the application changes meanwhile makes the delete fail (a serialization
     * failure) instead. Then, or if the staging fails, the transaction rolls back, the staged
     * branch is dropped and the move runs one step after the other (empty). A run killed before the
     * delete commits leaves no delete, so a rerun deletes again; its staging key carries the new
     * transaction id and never reuses what the killed run staged.
     */
    private Optional<Removal> deleteWhileStaging(
        PendingMoves.PendingMove move, TableVersion latest) {
      Bounds bounds = Bounds.of(move);
      String ordering = harnessTable.orderingColumn().orElse(null);
      List<String> key = harnessTable.primaryKey();
      SourceState.Iceberg base = (SourceState.Iceberg) latest.state(target.id());
      describe("%s: deleting the batch from PostgreSQL while staging it", describe(move));
      try (Connection jdbc = PostgresMoves.connect(sourceConnection)) {
        jdbc.setAutoCommit(false);
        jdbc.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        ExecutorService background = Executors.newSingleThreadExecutor();
        Future<Optional<IcebergStaging.Staged>> staging = null;
        String stagingKey = null;
        Removal removal;
        try {
          PostgresMoves.claimMove(jdbc, source, move.intentId());
          PostgresMoves.ExportedSnapshot exported = PostgresMoves.exportSnapshot(jdbc);
          stagingKey = stagingKey(move, exported.xid());
          String rows =
              PostgresMoves.batchRowsFrom(
                  source, ordering, bounds.olderThan(), key, bounds.maxRows());
          boolean keysAreNew =
              keysAreNew(
                  base, latest.schema(), () -> PostgresMoves.keyBounds(jdbc, source, key, rows));
          String query =
              PostgresMoves.batchRowsQuery(
                  source,
                  latest.schema(),
                  sourceColumns(),
                  ordering,
                  bounds.olderThan(),
                  key,
                  bounds.maxRows());
          // the reader's transaction sees the exported snapshot (Spark turns auto-commit off for
          // PostgreSQL reads with a fetch size, so this runs first in the read's transaction)
          String sameSnapshot =
              "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '"
                  + exported.id()
                  + "'";
          String stageKey = stagingKey;
          staging =
              background.submit(
                  () ->
                      stageInIceberg(
                          move, query, sameSnapshot, keysAreNew, base, latest, stageKey));
          afterStep.accept(Step.BATCH_SNAPSHOT);
          PostgresMoves.Deleted deleted =
              PostgresMoves.deleteBatch(
                  jdbc,
                  source,
                  move.intentId(),
                  ordering,
                  bounds.olderThan(),
                  key,
                  bounds.maxRows());
          Optional<IcebergStaging.Staged> staged = staging.get();
          long stagedRows = staged.map(IcebergStaging.Staged::addedRows).orElse(0L);
          if (keysAreNew && stagedRows != deleted.rows()) {
            throw new SQLException("staged " + stagedRows + " rows, deleted " + deleted.rows());
          }
          removal = new Removal(deleted, staged);
        } catch (SQLException | ExecutionException e) {
          // a serialization failure (a batch row changed), or the staging failed
          rollbackQuietly(jdbc);
          discard(staging, stagingKey);
          LOG.info(
              "Could not delete and stage the {} at once ({}); deleting, then staging",
              describe(move),
              String.valueOf(e instanceof ExecutionException ? e.getCause() : e));
          return Optional.empty();
        } catch (InterruptedException e) {
          rollbackQuietly(jdbc);
          Thread.currentThread().interrupt();
          throw new HarnessException(e, "Interrupted while moving %s", table);
        } finally {
          background.shutdown();
        }
        // from here on the delete may have committed: a rerun completes it from the history
        jdbc.commit();
        afterStep.accept(Step.SOURCE_DELETE);
        logDeleted(move, removal.deleted(), " while staging them");
        return Optional.of(removal);
      } catch (SQLException e) {
        throw sourceFailed(e, "delete the rows to move");
      }
    }

    private void logDeleted(
        PendingMoves.PendingMove move, PostgresMoves.Deleted deleted, String how) {
      LOG.info(
          "Deleted {} rows of {} from source '{}' for move {} (transaction {}){}",
          deleted.rows(),
          table,
          source.id(),
          move.intentId(),
          deleted.xid(),
          how);
    }

    /** Waits for a staging that will not be used, and drops its branch. */
    private void discard(Future<Optional<IcebergStaging.Staged>> staging, String stagingKey) {
      if (staging == null) {
        return;
      }
      try {
        staging.get();
      } catch (ExecutionException | RuntimeException e) {
        LOG.debug("Staging for {} failed", stagingKey, e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      try {
        this.staging.discard(stagingKey);
      } catch (RuntimeException e) {
        // left for the next move's cleanup of abandoned stages
        LOG.info("Could not drop the staging branch of {}: {}", stagingKey, e.toString());
      }
    }

    /**
     * The key a move's staged snapshot carries: the move and the transaction of its delete, so that
     * only a staging of exactly the rows that delete removed is ever reused.
     */
    private static String stagingKey(PendingMoves.PendingMove move, String xid) {
      return move.idempotencyKey() + "@" + xid;
    }

    /** The source table's columns, read once per move (under its locks, they stay). */
    private Set<String> sourceColumns() {
      if (sourceColumns == null) {
        sourceColumns = new HashSet<>(PostgresSources.sourceColumns(sourceConnection, source));
      }
      return sourceColumns;
    }

    /** Stages the images a committed delete removed, read from the history table. */
    private Optional<IcebergStaging.Staged> stageDeleted(
        PendingMoves.PendingMove move, PostgresMoves.Deleted deleted, TableVersion latest) {
      SourceState.Iceberg base = (SourceState.Iceberg) latest.state(target.id());
      boolean keysAreNew;
      try {
        // a connection only when the target's files must be compared with the batch's keys
        keysAreNew =
            keysAreNew(
                base,
                latest.schema(),
                () -> {
                  try (Connection jdbc = PostgresMoves.connect(sourceConnection)) {
                    return PostgresMoves.keyBounds(
                        jdbc,
                        source,
                        harnessTable.primaryKey(),
                        PostgresMoves.deletedRowsFrom(source, deleted));
                  }
                });
      } catch (SQLException e) {
        throw sourceFailed(e, "read the keys of the rows move " + move.intentId() + " deleted");
      }
      return stageInIceberg(
          move,
          PostgresMoves.deletedRowsQuery(source, latest.schema(), sourceColumns(), deleted),
          null,
          keysAreNew,
          base,
          latest,
          stagingKey(move, deleted.xid()));
    }

    /**
     * Stages the rows {@code query} reads (one column per harness field) on a branch on top of the
     * recorded target: inserted when {@code keysAreNew}, otherwise one MERGE that, per key of the
     * batch, deletes the Iceberg images the moved image is not older than and inserts the moved
     * image unless an Iceberg image of the key is newer (see {@link #mergeSql}).
     */
    private Optional<IcebergStaging.Staged> stageInIceberg(
        PendingMoves.PendingMove move,
        String query,
        String sessionInit,
        boolean keysAreNew,
        SourceState.Iceberg base,
        TableVersion latest,
        String stagingKey) {
      describe("%s: staging the batch in Iceberg", describe(move));
      var reader =
          spark
              .read()
              .format("jdbc")
              .options(sourceConnection.sparkJdbcOptions())
              .option("query", query)
              .option("fetchsize", "1000");
      if (sessionInit != null) {
        reader = reader.option("sessionInitStatement", sessionInit);
      }
      Dataset<Row> rows = reader.load();
      List<Column> columns = new ArrayList<>();
      List<String> targetColumns = new ArrayList<>();
      for (Field field : latest.schema().fields()) {
        String column = target.sourceColumn(field.name());
        columns.add(
            col("`" + field.name() + "`").cast(SparkSchemas.toSpark(field.type())).as(column));
        targetColumns.add(column);
      }
      String view = "harness_move_batch_" + UUID.randomUUID().toString().replace("-", "");
      rows.select(columns.toArray(Column[]::new)).createOrReplaceTempView(view);
      try {
        Optional<IcebergStaging.Staged> staged =
            staging.stageWrite(
                base,
                stagingKey,
                branch ->
                    spark
                        .sql(
                            keysAreNew
                                ? insertSql(branch, view, targetColumns)
                                : mergeSql(branch, view, targetColumns))
                        .collect());
        staged.ifPresent(
            s ->
                LOG.info(
                    "{} Iceberg snapshot {} for the {}{}",
                    s.reused() ? "Reusing staged" : "Staged",
                    s.snapshotId(),
                    describe(move),
                    keysAreNew ? " (no key in Iceberg yet: inserted)" : " (merged by key)"));
        return staged;
      } finally {
        spark.catalog().dropTempView(view);
      }
    }

    /**
     * Whether no Iceberg image can share a key with the batch, so that the MERGE would only insert:
     * the recorded target is empty, or Iceberg's own pruning by column bounds finds no data file of
     * the recorded snapshot whose key range overlaps the batch's (an archive keyed by a growing id
     * or time moves new keys in most batches). Then the batch is inserted, without joining the
     * target. Only for integer keys: PostgreSQL orders strings by the column's collation, Iceberg's
     * bounds by their bytes, so a string range from one says nothing about the other. Any doubt
     * leaves the MERGE.
     */
    private boolean keysAreNew(SourceState.Iceberg base, Schema schema, KeyBounds keyBounds)
        throws SQLException {
      if (base.snapshotId().isEmpty()) {
        return true;
      }
      Snapshot snapshot = staging.table().snapshot(base.snapshotId().getAsLong());
      if (snapshot == null) {
        return false;
      }
      if ("0".equals(snapshot.summary().get("total-records"))) {
        return true;
      }
      List<String> keys = harnessTable.primaryKey();
      for (String key : keys) {
        FieldType type = schema.field(key).map(Field::type).orElse(null);
        if (!FieldType.INT.equals(type) && !FieldType.LONG.equals(type)) {
          return false;
        }
      }
      Optional<List<Object[]>> bounds = keyBounds.read();
      if (bounds.isEmpty()) {
        return true;
      }
      Expression overlapping = Expressions.alwaysTrue();
      for (int i = 0; i < keys.size(); i++) {
        String column = target.sourceColumn(keys.get(i));
        Object[] range = bounds.get().get(i);
        if (!(range[0] instanceof Integer || range[0] instanceof Long)
            || !(range[1] instanceof Integer || range[1] instanceof Long)) {
          return false; // a numeric or other column behind an integer field: merge
        }
        overlapping =
            Expressions.and(
                overlapping,
                Expressions.and(
                    Expressions.greaterThanOrEqual(column, ((Number) range[0]).longValue()),
                    Expressions.lessThanOrEqual(column, ((Number) range[1]).longValue())));
      }
      try (CloseableIterable<FileScanTask> files =
          staging
              .table()
              .newScan()
              .useSnapshot(snapshot.snapshotId())
              .filter(overlapping)
              .planFiles()) {
        return !files.iterator().hasNext();
      } catch (IOException | org.apache.iceberg.exceptions.ValidationException e) {
        LOG.debug("Cannot prune {} by the batch's keys; merging", staging.table().name(), e);
        return false;
      }
    }

    /** The smallest and largest key of the batch's rows (see {@link PostgresMoves#keyBounds}). */
    @FunctionalInterface
    private interface KeyBounds {
      Optional<List<Object[]>> read() throws SQLException;
    }

    /** The batch as an INSERT into the branch: when no Iceberg image shares a key with it. */
    private static String insertSql(String branch, String view, List<String> targetColumns) {
      String columns =
          targetColumns.stream()
              .map(PostgresToIcebergMover::quote)
              .collect(Collectors.joining(", "));
      return "INSERT INTO " + branch + " (" + columns + ") SELECT " + columns + " FROM " + view;
    }

    /**
     * The MERGE of a batch: every moved image {@code s} comes twice (one scan of PostgreSQL, one of
     * the branch). Its {@code match} copy matches the Iceberg images of its key that are not newer,
     * and deletes them; its {@code insert} copy matches those that are newer, and keeps them, and
     * so is inserted only when there is none. Each Iceberg image matches exactly one copy, as a
     * MERGE requires. (The MERGE this replaced found the newer images with an anti join against the
     * branch, reading PostgreSQL and the branch twice.)
     */
    private String mergeSql(String branch, String view, List<String> targetColumns) {
      List<String> keys = harnessTable.primaryKey().stream().map(target::sourceColumn).toList();
      String ordering = harnessTable.orderingColumn().map(target::sourceColumn).orElse(null);
      String insertColumns =
          targetColumns.stream()
              .map(PostgresToIcebergMover::quote)
              .collect(Collectors.joining(", "));
      String role = "s." + ROLE;
      return "MERGE INTO "
          + branch
          + " t USING (SELECT "
          + insertColumns
          + ", "
          + ROLE
          + " FROM "
          + view
          + " LATERAL VIEW explode(array('match', 'insert')) roles AS "
          + ROLE
          + ") s ON "
          + keyMatch("t", "s", keys)
          + " AND (("
          + role
          + " = 'match' AND NOT "
          + dominates("t", "s", ordering)
          + ") OR ("
          + role
          + " = 'insert' AND "
          + dominates("t", "s", ordering)
          + ")) WHEN MATCHED AND "
          + role
          + " = 'match' THEN DELETE WHEN NOT MATCHED AND "
          + role
          + " = 'insert' THEN INSERT ("
          + insertColumns
          + ") VALUES ("
          + targetColumns.stream().map(c -> "s." + quote(c)).collect(Collectors.joining(", "))
          + ")";
    }

    private static String keyMatch(String left, String right, List<String> keys) {
      return keys.stream()
          .map(key -> left + "." + quote(key) + " = " + right + "." + quote(key))
          .collect(Collectors.joining(" AND "));
    }

    /**
     * True when the image {@code newer} is strictly newer than {@code older} by the ordering column
     * (a null ordering value is the oldest); never without an ordering column. Two-valued.
     */
    private static String dominates(String newer, String older, String ordering) {
      if (ordering == null) {
        return "false";
      }
      String n = newer + "." + quote(ordering);
      String o = older + "." + quote(ordering);
      return "(" + n + " IS NOT NULL AND (" + o + " IS NULL OR " + n + " > " + o + "))";
    }
  }

  private static void rollbackQuietly(Connection jdbc) {
    try {
      jdbc.rollback();
    } catch (SQLException ignored) {
      // the connection is broken: the database rolls back
    }
  }

  private static String quote(String identifier) {
    return "`" + identifier.replace("`", "``") + "`";
  }
}
