package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.col;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.ConnectionConfig;
import io.dataharness.spark.HarnessCatalog;
import io.dataharness.spark.SparkSchemas;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.PostgresMoves;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.source.SourceUnavailableException;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.spark.source.SparkTable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves old rows of a system-versioned PostgreSQL source into an Iceberg source of the same harness
 * table (SPEC 9.2, second half), as one harness commit per batch:
 *
 * <ol>
 *   <li>lock both sources (fenced leases); read the latest version V and its PostgreSQL read
 *       timestamp T_V;
 *   <li>bring Iceberg's {@code main} to the snapshot V records (publishing a snapshot a crashed run
 *       left recorded but unpublished);
 *   <li>the batch: rows valid at T_V whose ordering column is older than the bound, in ordering
 *       column then primary key order, at most {@code max_rows}. Because it is defined at T_V it is
 *       the same batch on every retry, even after a crashed run deleted its rows;
 *   <li>MERGE the batch by primary key into Iceberg as a staged snapshot (write-audit-publish),
 *       invisible to Iceberg readers; a retry finds the staged snapshot by its WAP id and reuses
 *       it;
 *   <li>commit a {@code move-intent} version that changes no state but records the move as pending
 *       (external state {@code pending-move.<source>}, see {@link PendingMoves}): from now on no
 *       writer may advance the source's read timestamp, and a retry completes exactly this move;
 *   <li>delete the batch's rows from PostgreSQL where the current image is still the one moved
 *       (rows updated since T_V keep their newer image), and commit;
 *   <li>T' = a safe read timestamp after the deletes; one harness commit records T' and the staged
 *       snapshot and removes the pending marker, with an idempotency key derived from the table,
 *       sources, T_V and the bounds;
 *   <li>publish the snapshot (fast-forward {@code main}) and tag it so snapshot expiry keeps it.
 * </ol>
 *
 * <p>A run that finds a pending move of its source in the latest version (a crashed run's)
 * completes that move, whatever versions of other sources came in between, instead of starting a
 * new batch.
 *
 * <p>When the harness metadata lives in the source's PostgreSQL database (the "basement"), the
 * delete and the move's version are one database transaction: they land together or not at all, so
 * no intent is recorded.
 */
public final class PostgresToIcebergMover {
  private static final Logger LOG = LoggerFactory.getLogger(PostgresToIcebergMover.class);

  /** How long the move holds its locks; a move that takes longer fails its harness commit. */
  static final Duration LEASE = Duration.ofMinutes(15);

  /** The points after which a test may inject a crash. */
  enum Step {
    /** The batch is in Iceberg as a staged snapshot. */
    STAGED_WRITE,
    /** The harness version recording the move as pending is committed; PostgreSQL is untouched. */
    INTENT_COMMIT,
    /**
     * The moved rows are deleted from PostgreSQL: committed, or in basement mode still inside the
     * transaction that will also write the version.
     */
    SOURCE_DELETE,
    /** Basement mode: the version is written in the open transaction, not committed yet. */
    HARNESS_COMMIT_WRITTEN,
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
  public static MoveResult move(SparkSession spark, HarnessCatalog catalog, MoveRequest request) {
    return new Run(spark, catalog, request).run();
  }

  /** One execution of a move. */
  private static final class Run {
    private final SparkSession spark;
    private final HarnessCatalog catalog;
    private final MoveRequest request;
    private final HarnessStore store;
    private final TableIdentifier table;

    Run(SparkSession spark, HarnessCatalog catalog, MoveRequest request) {
      this.spark = spark;
      this.catalog = catalog;
      this.request = request;
      this.store = catalog.store();
      this.table = request.table();
    }

    MoveResult run() {
      HarnessTable harnessTable = store.loadTable(table);
      TableVersion definitions = store.readLatest(table);
      SourceDefinition source = definitions.source(request.source());
      SourceDefinition target = definitions.source(request.target());
      // a pending move carries its own bounds: completing it needs none
      checkRequest(
          harnessTable, source, target, PendingMoves.find(definitions, source.id()).isEmpty());
      String owner =
          request.owner() == null || request.owner().isBlank()
              ? "move-" + UUID.randomUUID()
              : request.owner();
      SourceLock sourceLock = store.acquireLock(table, source.id(), owner, LEASE);
      try {
        SourceLock targetLock = store.acquireLock(table, target.id(), owner, LEASE);
        try {
          return underLocks(harnessTable, source, target, new Locks(sourceLock, targetLock));
        } finally {
          store.releaseLock(targetLock);
        }
      } finally {
        store.releaseLock(sourceLock);
        spark.sparkContext().setJobDescription(null);
      }
    }

    private void checkRequest(
        HarnessTable harnessTable,
        SourceDefinition source,
        SourceDefinition target,
        boolean needsBounds) {
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

    /** The move's fenced locks on its two sources. */
    private record Locks(SourceLock source, SourceLock target) {}

    /** One batch, as defined at its base version, and where it was staged. */
    private record Batch(
        long baseVersion,
        Instant readTimestamp,
        Bounds bounds,
        String query,
        long rows,
        long stagedId,
        String wapId,
        String idempotencyKey,
        String description) {}

    private MoveResult underLocks(
        HarnessTable harnessTable, SourceDefinition source, SourceDefinition target, Locks locks) {
      TableVersion base = store.readLatest(table);
      ConnectionConfig sourceConnection = catalog.connection(table, source);
      ConnectionConfig targetConnection = catalog.connection(table, target);
      org.apache.iceberg.Table iceberg = icebergTable(targetConnection, target);
      Optional<PendingMoves.PendingMove> intent = PendingMoves.find(base, source.id());
      if (intent.isPresent()) {
        return completePending(
            harnessTable, base, intent.get(), source, target, sourceConnection, iceberg, locks);
      }
      // a move from another source into the target would publish on top of this one's snapshot
      PendingMoves.refuseIfPending(base, target.id(), "move rows into");
      Instant baseReadTimestamp = ((SourceState.Jdbc) base.state(source.id())).readTimestamp();
      describe(
          "move %s '%s' -> '%s': version %d, reconciling Iceberg",
          table, source.id(), target.id(), base.version());

      Optional<MoveResult> published = publishRecorded(base, target, iceberg);
      if (published.isPresent()) {
        return published.get();
      }

      String wapId =
          "harness-move:" + table + ":" + source.id() + "->" + target.id() + ":v" + base.version();
      Optional<Snapshot> pending =
          IcebergStaging.staged(iceberg, wapId)
              .filter(snapshot -> IcebergStaging.isOnTopOfMain(iceberg, snapshot));
      for (Snapshot stale : IcebergStaging.unpublished(iceberg, table, target.id(), wapId)) {
        // A run that crashed before recording its intent (its rows are still in PostgreSQL; a
        // run that deleted them is completed through its pending move above). Not expired
        // automatically: a run of an older harness may have deleted its rows without an intent.
        LOG.warn(
            "Iceberg table {} has staged snapshot {} (WAP id {}) from an earlier move of {} that"
                + " was never recorded by a harness version; check whether its rows are still in"
                + " source '{}' before expiring it",
            iceberg.name(),
            stale.snapshotId(),
            stale.summary().get(org.apache.iceberg.SnapshotSummary.STAGED_WAP_ID_PROP),
            table,
            source.id());
      }
      Bounds bounds =
          pending.map(Bounds::of).orElseGet(() -> Bounds.of(request, Instant.now(), harnessTable));
      String batchQuery = batchQuery(harnessTable, base, source, sourceConnection, bounds);
      long rows = count(sourceConnection, batchQuery);
      String describeBatch =
          describeBatch(source, target, base.version(), baseReadTimestamp, rows, bounds);
      if (rows == 0 && pending.isEmpty()) {
        LOG.info("Nothing to {}", describeBatch);
        return new MoveResult(base.version(), 0, false, Map.of("rows-moved", "0"));
      }
      LOG.info("Starting to {}", describeBatch);

      long stagedId;
      if (pending.isPresent()) {
        stagedId = pending.get().snapshotId();
        LOG.info(
            "Completing the move a previous run staged as Iceberg snapshot {} (WAP id {})",
            stagedId,
            wapId);
      } else {
        describe("%s: writing a staged Iceberg snapshot", describeBatch);
        stagedId =
            writeStaged(
                iceberg,
                targetConnection,
                target,
                sourceConnection,
                base,
                batchQuery,
                wapId,
                bounds,
                harnessTable.primaryKey());
        LOG.info("Staged {} rows as Iceberg snapshot {} (WAP id {})", rows, stagedId, wapId);
      }
      afterStep.accept(Step.STAGED_WRITE);

      String idempotencyKey =
          "move:"
              + table
              + ":"
              + source.id()
              + "->"
              + target.id()
              + ":"
              + baseReadTimestamp
              + ":"
              + (bounds.olderThan() == null ? "-" : bounds.olderThan().toString())
              + ":"
              + (bounds.maxRows().isPresent() ? bounds.maxRows().getAsLong() : "-");
      Batch batch =
          new Batch(
              base.version(),
              baseReadTimestamp,
              bounds,
              batchQuery,
              rows,
              stagedId,
              wapId,
              idempotencyKey,
              describeBatch);
      boolean basement =
          DatabaseAddress.sameDatabase(catalog.metadataUri(), sourceConnection.jdbcUrl());
      boolean intentRecorded = false;
      if (!basement) {
        // From the delete on, the rows are only in the staged snapshot until the move commits: a
        // version recording that first keeps other writers from advancing the read timestamp past
        // the delete, and tells a retry which batch to complete (in the basement the delete and
        // the commit are one database transaction, so there is nothing to protect)
        recordIntent(
            base,
            source,
            target,
            batch,
            ((SourceState.Iceberg) base.state(target.id())).snapshotId(),
            locks);
        intentRecorded = true;
        afterStep.accept(Step.INTENT_COMMIT);
      }
      return finish(
          base,
          source,
          target,
          sourceConnection,
          iceberg,
          batch,
          basement,
          intentRecorded,
          baseReadTimestamp,
          false,
          locks);
    }

    /**
     * Completes the move a crashed run recorded as pending: the same batch (defined at the recorded
     * read timestamp and bounds), the same staged snapshot, the same idempotency key. The delete
     * finds the rows already gone (or deletes the rest), and the commit removes the marker.
     */
    private MoveResult completePending(
        HarnessTable harnessTable,
        TableVersion latest,
        PendingMoves.PendingMove move,
        SourceDefinition source,
        SourceDefinition target,
        ConnectionConfig sourceConnection,
        org.apache.iceberg.Table iceberg,
        Locks locks) {
      if (!move.target().equals(target.id())) {
        throw new ValidationException(
            "Cannot move %s from '%s' to '%s': a move from '%s' to '%s' is pending since version"
                + " %d; complete it first: %s",
            table,
            source.id(),
            target.id(),
            source.id(),
            move.target(),
            move.baseVersion(),
            move.resumeCall(latest));
      }
      OptionalLong recordedTarget = ((SourceState.Iceberg) latest.state(target.id())).snapshotId();
      Snapshot staged = iceberg.snapshot(move.stagedSnapshotId());
      if (!recordedTarget.equals(move.targetSnapshotId())
          || staged == null
          || !IcebergStaging.isOnTopOfMain(iceberg, staged)) {
        throw new HarnessException(
            "Cannot complete the pending move of %s from '%s' to '%s' (from version %d): its rows"
                + " are deleted from '%s' and held by staged Iceberg snapshot %d of %s (WAP id"
                + " %s), which %s. Version %d records snapshot %s for '%s'; Iceberg main is at %s."
                + " Bring the rows back by hand (cherry-pick the staged snapshot onto main and"
                + " commit its id), then remove external state '%s'",
            table,
            source.id(),
            target.id(),
            move.baseVersion(),
            source.id(),
            move.stagedSnapshotId(),
            iceberg.name(),
            move.wapId(),
            staged == null ? "no longer exists" : "is no longer on top of the recorded snapshot",
            latest.version(),
            recordedTarget.isPresent() ? String.valueOf(recordedTarget.getAsLong()) : "(none)",
            target.id(),
            IcebergStaging.currentSnapshotId(iceberg),
            move.key());
      }
      Bounds bounds = new Bounds(move.olderThan().orElse(null), move.maxRows());
      TableVersion base = store.readVersion(table, move.baseVersion());
      String batchQuery = batchQuery(harnessTable, base, source, sourceConnection, bounds);
      long rows = count(sourceConnection, batchQuery);
      String describeBatch =
          describeBatch(source, target, move.baseVersion(), move.readTimestamp(), rows, bounds);
      LOG.info(
          "Completing the pending move recorded at version {} of {} (staged Iceberg snapshot {},"
              + " owner {}): {}",
          move.baseVersion(),
          table,
          move.stagedSnapshotId(),
          move.owner(),
          describeBatch);
      Batch batch =
          new Batch(
              move.baseVersion(),
              move.readTimestamp(),
              bounds,
              batchQuery,
              rows,
              move.stagedSnapshotId(),
              move.wapId(),
              move.idempotencyKey(),
              describeBatch);
      Instant latestReadTimestamp = ((SourceState.Jdbc) latest.state(source.id())).readTimestamp();
      boolean basement =
          DatabaseAddress.sameDatabase(catalog.metadataUri(), sourceConnection.jdbcUrl());
      return finish(
          latest,
          source,
          target,
          sourceConnection,
          iceberg,
          batch,
          basement,
          true,
          latestReadTimestamp,
          true,
          locks);
    }

    /** Commits a version that records the move as pending before its rows leave PostgreSQL. */
    private void recordIntent(
        TableVersion base,
        SourceDefinition source,
        SourceDefinition target,
        Batch batch,
        OptionalLong targetSnapshotId,
        Locks locks) {
      PendingMoves.PendingMove move =
          new PendingMoves.PendingMove(
              source.id(),
              target.id(),
              batch.baseVersion(),
              batch.stagedId(),
              targetSnapshotId,
              batch.wapId(),
              batch.readTimestamp(),
              Optional.ofNullable(batch.bounds().olderThan()),
              batch.bounds().maxRows(),
              batch.idempotencyKey(),
              locks.source().owner(),
              catalog.name());
      describe("%s: recording the move as pending", batch.description());
      // both states stay as they are: setting them presents and checks both fenced locks
      VersionInfo version =
          store
              .newTransaction(table)
              .operation("move-intent")
              .idempotencyKey(batch.idempotencyKey() + ":intent")
              .withLock(locks.source())
              .withLock(locks.target())
              .setSourceState(source.id(), base.state(source.id()))
              .setSourceState(target.id(), base.state(target.id()))
              .setExternalState(move.key(), move.toJson())
              .summary("pending-move", move.key())
              .summary("source", source.id())
              .summary("target", target.id())
              .summary("rows-to-move", String.valueOf(batch.rows()))
              .summary("snapshot-id", String.valueOf(batch.stagedId()))
              .commit();
      LOG.info(
          "Recorded the move of {} rows of {} from '{}' to '{}' as pending in version {}",
          batch.rows(),
          table,
          source.id(),
          target.id(),
          version.version());
    }

    /** Deletes the batch from PostgreSQL, commits the move, and publishes the snapshot. */
    private MoveResult finish(
        TableVersion base,
        SourceDefinition source,
        SourceDefinition target,
        ConnectionConfig sourceConnection,
        org.apache.iceberg.Table iceberg,
        Batch batch,
        boolean basement,
        boolean intentRecorded,
        Instant notBefore,
        boolean resumed,
        Locks locks) {
      Map<String, String> summary = new LinkedHashMap<>();
      summary.put("source", source.id());
      summary.put("target", target.id());
      summary.put("rows-moved", String.valueOf(batch.rows()));
      summary.put("source-read-timestamp", batch.readTimestamp().toString());
      if (batch.bounds().olderThan() != null) {
        summary.put("older-than", batch.bounds().olderThan().toString());
      }
      if (batch.bounds().maxRows().isPresent()) {
        summary.put("max-rows", String.valueOf(batch.bounds().maxRows().getAsLong()));
      }
      summary.put("snapshot-id", String.valueOf(batch.stagedId()));
      summary.put("basement", String.valueOf(basement));
      if (resumed) {
        summary.put("resumed-from-version", String.valueOf(batch.baseVersion()));
      }

      describe("%s: deleting moved rows from PostgreSQL and committing", batch.description());
      Commit commit =
          deleteAndCommit(
              sourceConnection,
              source,
              target,
              batch,
              notBefore,
              summary,
              basement,
              intentRecorded,
              locks);
      afterStep.accept(Step.HARNESS_COMMIT);

      long version = commit.version().version();
      describe(
          "%s: publishing Iceberg snapshot %d as version %d",
          batch.description(), batch.stagedId(), version);
      IcebergStaging.publish(iceberg, batch.stagedId(), tag(version), table);
      boolean replayed = version <= base.version();
      LOG.info(
          "Moved {} rows of {} from '{}' to '{}' as version {} ({} rows deleted from PostgreSQL,"
              + " read timestamp {} -> {}, Iceberg snapshot {}{}{}{})",
          batch.rows(),
          table,
          source.id(),
          target.id(),
          version,
          commit.deleted(),
          batch.readTimestamp(),
          commit.readTimestamp(),
          batch.stagedId(),
          basement ? ", one database transaction with the metadata" : "",
          resumed ? ", completing the pending move of version " + batch.baseVersion() : "",
          replayed ? ", replayed" : "");
      Map<String, String> resultSummary = new LinkedHashMap<>(summary);
      resultSummary.put("rows-deleted", String.valueOf(commit.deleted()));
      return new MoveResult(version, batch.rows(), replayed, resultSummary);
    }

    private String batchQuery(
        HarnessTable harnessTable,
        TableVersion base,
        SourceDefinition source,
        ConnectionConfig sourceConnection,
        Bounds bounds) {
      return PostgresMoves.batchQuery(
          sourceConnection,
          source,
          base.schema(),
          ((SourceState.Jdbc) base.state(source.id())).readTimestamp(),
          harnessTable.orderingColumn().orElse(null),
          bounds.olderThan(),
          harnessTable.primaryKey(),
          bounds.maxRows());
    }

    private String describeBatch(
        SourceDefinition source,
        SourceDefinition target,
        long baseVersion,
        Instant readTimestamp,
        long rows,
        Bounds bounds) {
      return String.format(
          "move %s '%s' -> '%s' from version %d (read timestamp %s): %d rows%s%s",
          table,
          source.id(),
          target.id(),
          baseVersion,
          readTimestamp,
          rows,
          bounds.olderThan() == null ? "" : " older than " + bounds.olderThan(),
          bounds.maxRows().isPresent() ? ", at most " + bounds.maxRows().getAsLong() : "");
    }

    /**
     * Makes Iceberg's {@code main} the snapshot the base version records. When a crashed run
     * committed its version but did not publish, publishing completes that move, and its result is
     * returned.
     */
    private Optional<MoveResult> publishRecorded(
        TableVersion base, SourceDefinition target, org.apache.iceberg.Table iceberg) {
      SourceState.Iceberg recorded = (SourceState.Iceberg) base.state(target.id());
      java.util.OptionalLong main = IcebergStaging.currentSnapshotId(iceberg);
      if (recorded.snapshotId().equals(main)) {
        recorded
            .snapshotId()
            .ifPresent(id -> IcebergStaging.ensureTagged(iceberg, id, tag(base.version())));
        return Optional.empty();
      }
      Snapshot snapshot =
          recorded.snapshotId().isEmpty()
              ? null
              : iceberg.snapshot(recorded.snapshotId().getAsLong());
      if (snapshot == null || !IcebergStaging.isOnTopOfMain(iceberg, snapshot)) {
        throw new HarnessException(
            "Cannot move rows of %s into '%s': Iceberg table %s has main at snapshot %s, but"
                + " version %d records snapshot %s%s; something changed the Iceberg table outside"
                + " the harness. Restore main to the recorded snapshot (CALL"
                + " <catalog>.system.set_current_snapshot) and retry",
            table,
            target.id(),
            iceberg.name(),
            main.isPresent() ? String.valueOf(main.getAsLong()) : "(none)",
            base.version(),
            recorded.snapshotId().isPresent()
                ? String.valueOf(recorded.snapshotId().getAsLong())
                : "(none)",
            snapshot == null && recorded.snapshotId().isPresent()
                ? ", which no longer exists"
                : "");
      }
      long snapshotId = snapshot.snapshotId();
      LOG.info(
          "Publishing Iceberg snapshot {} of {}: version {} recorded it, but a previous run stopped"
              + " before publishing",
          snapshotId,
          iceberg.name(),
          base.version());
      IcebergStaging.publish(iceberg, snapshotId, tag(base.version()), table);
      Map<String, String> summary = base.commit().summary();
      long rows = Long.parseLong(summary.getOrDefault("rows-moved", "0"));
      return Optional.of(new MoveResult(base.version(), rows, true, summary));
    }

    private String tag(long version) {
      return "harness-" + table + "-v" + version;
    }

    private org.apache.iceberg.Table icebergTable(
        ConnectionConfig connection, SourceDefinition target) {
      Identifier identifier = IcebergSources.identifier(target);
      try {
        org.apache.iceberg.Table iceberg =
            ((SparkTable) IcebergSources.catalog(spark, connection).loadTable(identifier)).table();
        iceberg.refresh();
        return iceberg;
      } catch (NoSuchTableException e) {
        throw new SourceUnavailableException(
            e,
            "Cannot move rows of %s into '%s': Iceberg table %s does not exist",
            table,
            target.id(),
            identifier);
      }
    }

    private long count(ConnectionConfig connection, String batchQuery) {
      try (Connection jdbc = PostgresMoves.connect(connection)) {
        return PostgresMoves.count(jdbc, batchQuery);
      } catch (SQLException e) {
        throw new SourceUnavailableException(
            e, "Cannot count the rows to move of %s: %s", table, e.getMessage());
      }
    }

    /** MERGEs the batch into Iceberg as a staged snapshot and returns the snapshot id. */
    private long writeStaged(
        org.apache.iceberg.Table iceberg,
        ConnectionConfig targetConnection,
        SourceDefinition target,
        ConnectionConfig sourceConnection,
        TableVersion base,
        String batchQuery,
        String wapId,
        Bounds bounds,
        List<String> primaryKey) {
      IcebergStaging.enableStagedWrites(iceberg);
      // a session of its own: spark.wap.id must not stage other writes of the caller's session
      SparkSession session = spark.newSession();
      session.conf().set("spark.wap.id", wapId);
      var reader =
          session
              .read()
              .format("jdbc")
              .options(sourceConnection.sparkJdbcOptions())
              .option("query", batchQuery)
              .option("fetchsize", "1000");
      Dataset<Row> rows = reader.load();
      List<Column> columns = new ArrayList<>();
      List<String> targetColumns = new ArrayList<>();
      for (Field field : base.schema().fields()) {
        String column = target.sourceColumn(field.name());
        columns.add(
            col("`" + field.name() + "`").cast(SparkSchemas.toSpark(field.type())).as(column));
        targetColumns.add(column);
      }
      String view = "harness_move_batch_" + UUID.randomUUID().toString().replace("-", "");
      rows.select(columns.toArray(Column[]::new)).createOrReplaceTempView(view);
      Identifier identifier = IcebergSources.identifier(target);
      String targetName =
          quote(targetConnection.sparkCatalog())
              + "."
              + java.util.Arrays.stream(identifier.namespace())
                  .map(PostgresToIcebergMover::quote)
                  .collect(Collectors.joining("."))
              + "."
              + quote(identifier.name());
      String on =
          primaryKey.stream()
              .map(
                  field -> {
                    String column = quote(target.sourceColumn(field));
                    return "t." + column + " = s." + column;
                  })
              .collect(Collectors.joining(" AND "));
      String set =
          targetColumns.stream()
              .map(column -> "t." + quote(column) + " = s." + quote(column))
              .collect(Collectors.joining(", "));
      String insertColumns =
          targetColumns.stream()
              .map(PostgresToIcebergMover::quote)
              .collect(Collectors.joining(", "));
      String insertValues =
          targetColumns.stream()
              .map(column -> "s." + quote(column))
              .collect(Collectors.joining(", "));
      String merge =
          "MERGE INTO "
              + targetName
              + " t USING "
              + view
              + " s ON "
              + on
              + " WHEN MATCHED THEN UPDATE SET "
              + set
              + " WHEN NOT MATCHED THEN INSERT ("
              + insertColumns
              + ") VALUES ("
              + insertValues
              + ")";
      Map<String, String> properties = new LinkedHashMap<>();
      properties.put(IcebergStaging.TABLE_PROPERTY, table.toString());
      properties.put(IcebergStaging.TARGET_PROPERTY, target.id());
      properties.put("harness.base-version", String.valueOf(base.version()));
      if (bounds.olderThan() != null) {
        properties.put(Bounds.OLDER_THAN, bounds.olderThan().toString());
      }
      if (bounds.maxRows().isPresent()) {
        properties.put(Bounds.MAX_ROWS, String.valueOf(bounds.maxRows().getAsLong()));
      }
      try {
        IcebergStaging.withSummary(properties, () -> session.sql(merge).collect());
      } finally {
        session.catalog().dropTempView(view);
      }
      iceberg.refresh();
      Snapshot staged =
          IcebergStaging.staged(iceberg, wapId)
              .orElseThrow(
                  () ->
                      new HarnessException(
                          "Cannot move rows of %s into '%s': the MERGE into Iceberg table %s"
                              + " committed no staged snapshot with WAP id %s",
                          table, target.id(), iceberg.name(), wapId));
      return staged.snapshotId();
    }

    /** What the delete-and-commit step produced. */
    private record Commit(VersionInfo version, long deleted, Instant readTimestamp) {}

    private Commit deleteAndCommit(
        ConnectionConfig connection,
        SourceDefinition source,
        SourceDefinition target,
        Batch batch,
        Instant notBefore,
        Map<String, String> summary,
        boolean basement,
        boolean intentRecorded,
        Locks locks) {
      try (Connection jdbc = PostgresMoves.connect(connection)) {
        jdbc.setAutoCommit(false);
        try {
          long deleted =
              PostgresMoves.deleteMoved(
                  jdbc,
                  source,
                  batch.query(),
                  store.loadTable(table).primaryKey(),
                  batch.readTimestamp());
          Instant deletedAt = PostgresSources.clock(jdbc);
          Instant atLeast = deletedAt.isAfter(notBefore) ? deletedAt : notBefore;
          if (batch.readTimestamp().isAfter(atLeast)) {
            atLeast = batch.readTimestamp();
          }
          Instant readTimestamp;
          if (basement) {
            afterStep.accept(Step.SOURCE_DELETE);
            readTimestamp =
                PostgresSources.safeReadTimestampInTransaction(jdbc, connection, atLeast);
          } else {
            jdbc.commit();
            afterStep.accept(Step.SOURCE_DELETE);
            readTimestamp = PostgresSources.safeReadTimestamp(connection, atLeast);
          }
          Transaction transaction =
              store
                  .newTransaction(table)
                  .operation("move")
                  .idempotencyKey(batch.idempotencyKey())
                  .withLock(locks.source())
                  .withLock(locks.target())
                  .setSourceState(source.id(), new SourceState.Jdbc(readTimestamp))
                  .setSourceState(target.id(), SourceState.Iceberg.of(batch.stagedId()))
                  .externalIds(
                      target.id(),
                      Map.of(
                          "snapshot-id", String.valueOf(batch.stagedId()), "wap-id", batch.wapId()))
                  .externalIds(source.id(), Map.of("rows-deleted", String.valueOf(deleted)));
          if (intentRecorded) {
            // the move is recorded: it is no longer pending
            transaction.setExternalState(PendingMoves.key(source.id()), null);
          }
          summary.forEach(transaction::summary);
          VersionInfo version;
          if (basement) {
            // the delete and the version commit in one database transaction
            version = transaction.commitUsing(jdbc);
            afterStep.accept(Step.HARNESS_COMMIT_WRITTEN);
            jdbc.commit();
          } else {
            version = transaction.commit();
          }
          return new Commit(version, deleted, readTimestamp);
        } catch (SQLException | RuntimeException | Error e) {
          try {
            jdbc.rollback();
          } catch (SQLException ignored) {
            // the connection is broken: the database rolls back
          }
          throw e;
        }
      } catch (SQLException e) {
        throw new SourceUnavailableException(
            e,
            "Cannot delete the moved rows of %s from source '%s': %s",
            table,
            source.id(),
            e.getMessage());
      }
    }

    private void describe(String format, Object... arguments) {
      spark.sparkContext().setJobDescription(String.format(format, arguments));
    }
  }

  /** The batch's bounds: recorded in the staged snapshot so that a retry moves the same batch. */
  private record Bounds(Instant olderThan, OptionalLong maxRows) {
    static final String OLDER_THAN = "harness.older-than";
    static final String MAX_ROWS = "harness.max-rows";

    static Bounds of(MoveRequest request, Instant now, HarnessTable harnessTable) {
      Instant olderThan =
          request
              .olderThan()
              .map(age -> now.minus(age).truncatedTo(ChronoUnit.MICROS))
              .orElse(null);
      return new Bounds(olderThan, request.maxRows());
    }

    static Bounds of(Snapshot staged) {
      String olderThan = staged.summary().get(OLDER_THAN);
      String maxRows = staged.summary().get(MAX_ROWS);
      return new Bounds(
          olderThan == null ? null : Instant.parse(olderThan),
          maxRows == null ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(maxRows)));
    }
  }

  private static String quote(String identifier) {
    return "`" + identifier.replace("`", "``") + "`";
  }
}
