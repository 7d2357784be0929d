package io.dataharness.spark.jobs;

import static org.apache.spark.sql.functions.col;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.source.PostgresMoves;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.source.SourceUnavailableException;
import io.dataharness.spark.write.IcebergStaging;
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
import java.util.UUID;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves old rows of a system-versioned PostgreSQL source into an Iceberg source of the same harness
 * table (SPEC 9.2, second half). "Delete first": what the PostgreSQL delete removes is exactly what
 * moves, with its newest committed image, so rows the application updates or deletes meanwhile are
 * neither duplicated nor brought back.
 *
 * <ol>
 *   <li><b>plan</b>: lock both sources (fenced leases), publish what a crashed run committed but
 *       did not publish, and define the batch by its bounds (ordering column older than {@code
 *       older_than}, at most {@code max_rows}) and a new intent id;
 *   <li><b>intent</b>: commit a {@code move-intent} version that changes no state but records the
 *       move as pending (external state {@code pending-move.<source>}, see {@link PendingMoves});
 *   <li><b>delete</b>: one PostgreSQL transaction deletes the batch from the current table and
 *       records the intent id with its transaction id in {@code harness_moves}; the versioning
 *       trigger keeps the deleted images in the history table, stamped with that transaction id;
 *   <li><b>stage</b>: the deleted images (history rows of that transaction) are merged into a
 *       staging branch of the Iceberg table, by primary key, with the ordering column deciding
 *       which image of a key remains (one image per key; ties and a missing ordering column go to
 *       the moved image);
 *   <li><b>next states</b>: one harness commit records a read timestamp after the delete, the
 *       staged snapshot, and clears the pending move;
 *   <li><b>publish</b>: fast-forward {@code main} to the staged snapshot and tag it.
 * </ol>
 *
 * <p><b>Recovery</b>: a run that finds a pending move of its source completes it: if {@code
 * harness_moves} has no row for its intent id, the delete never committed and the move redoes it;
 * otherwise it stages the history rows of the recorded transaction (reusing a staged snapshot of
 * the same move) and commits.
 *
 * <p>When the harness metadata lives in the source's PostgreSQL database (the "basement"), the
 * delete and the intent version are one database transaction.
 */
public final class PostgresToIcebergMover {
  private static final Logger LOG = LoggerFactory.getLogger(PostgresToIcebergMover.class);

  /** Column of the MERGE source telling a matching row from an inserting one. */
  private static final String ROLE = "__harness_role";

  /** The points after which a test may inject a crash, in the order a move passes them. */
  enum Step {
    /**
     * The batch is deleted from PostgreSQL: committed, or in basement mode still inside the
     * transaction that will also write the intent version.
     */
    SOURCE_DELETE,
    /** Basement mode: the intent version is written in the open transaction, not committed. */
    HARNESS_COMMIT_WRITTEN,
    /** The version recording the move as pending is committed (basement: with the delete). */
    INTENT_COMMIT,
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
    return new Run(spark, catalog, request).run();
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

  /** One execution of a move. */
  private static final class Run {
    private final SparkSession spark;
    private final HarnessContext catalog;
    private final MoveRequest request;
    private final HarnessStore store;
    private final TableIdentifier table;
    private HarnessTable harnessTable;
    private SourceDefinition source;
    private SourceDefinition target;
    private ConnectionConfig sourceConnection;
    private ConnectionConfig targetConnection;
    private boolean basement;
    private LeaseKeeper locks;
    private String owner;

    Run(SparkSession spark, HarnessContext catalog, MoveRequest request) {
      this.spark = spark;
      this.catalog = catalog;
      this.request = request;
      this.store = catalog.store();
      this.table = request.table();
    }

    MoveResult run() {
      harnessTable = store.loadTable(table);
      TableVersion definitions = store.readLatest(table);
      source = definitions.source(request.source());
      target = definitions.source(request.target());
      // a pending move carries its own bounds: completing it needs none
      checkRequest(PendingMoves.find(definitions, source.id()).isEmpty());
      owner =
          request.owner() == null || request.owner().isBlank()
              ? "move-" + UUID.randomUUID()
              : request.owner();
      sourceConnection = catalog.connection(table, source);
      targetConnection = catalog.connection(table, target);
      basement = DatabaseAddress.sameDatabase(catalog.metadataUri(), sourceConnection.jdbcUrl());
      try (LeaseKeeper held =
          LeaseKeeper.acquire(
              store,
              table,
              owner,
              LeaseKeeper.DEFAULT_LEASE,
              LeaseKeeper.DEFAULT_RENEW_EVERY,
              List.of(source.id(), target.id()))) {
        locks = held;
        return underLocks();
      } finally {
        spark.sparkContext().setJobDescription(null);
      }
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

    private MoveResult underLocks() {
      TableVersion base = store.readLatest(table);
      PostgresSources.ensureMoveSupport(sourceConnection, source, base.schema());
      IcebergStaging staging = IcebergStaging.open(spark, targetConnection, target);
      Optional<PendingMoves.PendingMove> pending = PendingMoves.find(base, source.id());
      if (pending.isPresent()) {
        return recover(pending.get(), staging);
      }
      // a move from another source into the target would publish on top of this one's snapshot
      PendingMoves.refuseIfPending(base, target.id(), "move rows into");
      SourceState.Iceberg recordedTarget = (SourceState.Iceberg) base.state(target.id());
      if (staging.ensurePublished(recordedTarget, table, base.version()) && isThisMove(base)) {
        // a run committed this move's version and stopped before publishing: that completes it
        Map<String, String> summary = base.commit().summary();
        return new MoveResult(
            base.version(), Long.parseLong(summary.getOrDefault("rows-moved", "0")), true, summary);
      }
      staging.removeAbandonedStages(recordedTarget, null);

      PendingMoves.PendingMove move = plan(base);
      long candidates = countBatch(Bounds.of(move));
      String description = describe(move);
      if (candidates == 0) {
        LOG.info("Nothing to {}", description);
        return new MoveResult(base.version(), 0, false, Map.of("rows-moved", "0"));
      }
      LOG.info("Starting to {} ({} rows qualify now)", description, candidates);
      PostgresMoves.Deleted deleted =
          basement ? deleteWithIntent(base, move) : intentThenDelete(base, move);
      return completeMove(move, deleted, staging, false);
    }

    /** Whether {@code version} is the commit of a move from this source to this target. */
    private boolean isThisMove(TableVersion version) {
      Map<String, String> summary = version.commit().summary();
      return "move".equals(version.commit().operation())
          && source.id().equals(summary.get("source"))
          && target.id().equals(summary.get("target"));
    }

    // ---- plan ----

    /** A new batch: its bounds and intent id, as of version {@code base}. */
    private PendingMoves.PendingMove plan(TableVersion base) {
      Bounds bounds = Bounds.of(request, Instant.now());
      String intentId = UUID.randomUUID().toString();
      return new PendingMoves.PendingMove(
          source.id(),
          target.id(),
          base.version(),
          intentId,
          ((SourceState.Iceberg) base.state(target.id())).snapshotId(),
          ((SourceState.Jdbc) base.state(source.id())).readTimestamp(),
          Optional.ofNullable(bounds.olderThan()),
          bounds.maxRows(),
          "pg-move:" + intentId,
          owner,
          catalog.name());
    }

    private long countBatch(Bounds bounds) {
      try (Connection jdbc = PostgresMoves.connect(sourceConnection)) {
        return PostgresMoves.countBatch(
            jdbc,
            source,
            harnessTable.orderingColumn().orElse(null),
            bounds.olderThan(),
            harnessTable.primaryKey(),
            bounds.maxRows());
      } catch (SQLException e) {
        throw new SourceUnavailableException(
            e,
            "Cannot count the rows to move of %s from '%s': %s",
            table,
            source.id(),
            e.getMessage());
      }
    }

    // ---- intent and delete ----

    /** The intent version: changes no state, records the move as pending. */
    private Transaction intentTransaction(TableVersion base, PendingMoves.PendingMove move) {
      // both states stay as they are: setting them presents and checks both fenced locks
      return locks
          .present(store.newTransaction(table))
          .operation("move-intent")
          .idempotencyKey(move.idempotencyKey() + ":intent")
          .setSourceState(source.id(), base.state(source.id()))
          .setSourceState(target.id(), base.state(target.id()))
          .openIntent(
              move.intentId(), PendingMoves.KIND, List.of(source.id(), target.id()), move.toJson())
          .summary("source", source.id())
          .summary("target", target.id())
          .summary("intent-id", move.intentId());
    }

    /** Commits the intent version, then deletes the batch in PostgreSQL. */
    private PostgresMoves.Deleted intentThenDelete(
        TableVersion base, PendingMoves.PendingMove move) {
      describe("%s: recording the move as pending", describe(move));
      VersionInfo version = intentTransaction(base, move).commit();
      LOG.info("Recorded the {} as pending in version {}", describe(move), version.version());
      afterStep.accept(Step.INTENT_COMMIT);
      return delete(move, null);
    }

    /** Basement: the delete and the intent version in one database transaction. */
    private PostgresMoves.Deleted deleteWithIntent(
        TableVersion base, PendingMoves.PendingMove move) {
      PostgresMoves.Deleted deleted =
          delete(move, jdbc -> intentTransaction(base, move).commitUsing(jdbc));
      afterStep.accept(Step.INTENT_COMMIT);
      return deleted;
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
          LOG.info(
              "Deleted {} rows of {} from source '{}' for move {} (transaction {})",
              deleted.rows(),
              table,
              source.id(),
              move.intentId(),
              deleted.xid());
          return deleted;
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
            "Cannot delete the rows to move of %s from source '%s': %s",
            table,
            source.id(),
            e.getMessage());
      }
    }

    // ---- recover ----

    /**
     * Completes the move a crashed run recorded as pending: redoes its delete if it never
     * committed, then stages exactly the rows its delete removed and commits.
     */
    private MoveResult recover(PendingMoves.PendingMove move, IcebergStaging staging) {
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
            move.resumeCall(store.readLatest(table)));
      }
      Optional<PostgresMoves.Deleted> recorded;
      try (Connection jdbc = PostgresMoves.connect(sourceConnection)) {
        recorded = PostgresMoves.deleted(jdbc, source, move.intentId());
      } catch (SQLException e) {
        throw new SourceUnavailableException(
            e,
            "Cannot find the delete of pending move %s of %s in source '%s': %s",
            move.intentId(),
            table,
            source.id(),
            e.getMessage());
      }
      LOG.info(
          "Completing the {} recorded as pending at version {} by {}: its delete {}",
          describe(move),
          move.baseVersion(),
          move.owner(),
          recorded.isPresent() ? "committed" : "never committed; deleting now");
      PostgresMoves.Deleted deleted = recorded.orElseGet(() -> delete(move, null));
      return completeMove(move, deleted, staging, true);
    }

    // ---- stage, next states, publish ----

    private MoveResult completeMove(
        PendingMoves.PendingMove move,
        PostgresMoves.Deleted deleted,
        IcebergStaging staging,
        boolean resumed) {
      TableVersion latest = store.readLatest(table);
      SourceState.Iceberg recordedTarget = (SourceState.Iceberg) latest.state(target.id());
      Optional<IcebergStaging.Staged> staged =
          deleted.rows() == 0 ? Optional.empty() : stage(move, deleted, latest, staging);
      afterStep.accept(Step.STAGED_WRITE);

      // a snapshot taken after the delete committed: it shows none of the moved rows
      SourceState.Jdbc nextSource =
          PostgresSources.currentState(
              sourceConnection, source, (SourceState.Jdbc) latest.state(source.id()));
      SourceState.Iceberg nextTarget =
          staged.map(s -> SourceState.Iceberg.of(s.snapshotId())).orElse(recordedTarget);

      Map<String, String> summary = new LinkedHashMap<>();
      summary.put("source", source.id());
      summary.put("target", target.id());
      summary.put("rows-moved", String.valueOf(deleted.rows()));
      summary.put("rows-deleted", String.valueOf(deleted.rows()));
      summary.put("intent-id", move.intentId());
      summary.put("source-transaction", deleted.xid());
      move.olderThan().ifPresent(bound -> summary.put("older-than", bound.toString()));
      if (move.maxRows().isPresent()) {
        summary.put("max-rows", String.valueOf(move.maxRows().getAsLong()));
      }
      staged.ifPresent(s -> summary.put("snapshot-id", String.valueOf(s.snapshotId())));
      summary.put("basement", String.valueOf(basement));
      if (resumed) {
        summary.put("resumed-from-version", String.valueOf(move.baseVersion()));
      }
      describe("%s: committing", describe(move));
      Transaction transaction =
          locks
              .present(store.newTransaction(table))
              .operation("move")
              .idempotencyKey(move.idempotencyKey())
              .setSourceState(source.id(), nextSource)
              .setSourceState(target.id(), nextTarget)
              .completeIntent(move.intentId())
              .externalIds(source.id(), Map.of("rows-deleted", String.valueOf(deleted.rows())));
      staged.ifPresent(
          s ->
              transaction.externalIds(
                  target.id(), Map.of("snapshot-id", String.valueOf(s.snapshotId()))));
      summary.forEach(transaction::summary);
      VersionInfo version = transaction.commit();
      afterStep.accept(Step.HARNESS_COMMIT);

      if (staged.isPresent()) {
        describe(
            "%s: publishing Iceberg snapshot %d as version %d",
            describe(move), staged.get().snapshotId(), version.version());
        staging.publish(
            staged.get().snapshotId(), IcebergStaging.tagName(table, version.version()));
      }
      boolean replayed = version.version() <= latest.version();
      LOG.info(
          "Moved {} rows of {} from '{}' to '{}' as version {} (read timestamp {}, Iceberg"
              + " snapshot {}{}{}{})",
          deleted.rows(),
          table,
          source.id(),
          target.id(),
          version.version(),
          nextSource.readTimestamp(),
          staged.map(s -> String.valueOf(s.snapshotId())).orElse("unchanged"),
          basement ? ", delete and intent in one database transaction" : "",
          resumed ? ", completing the pending move of version " + move.baseVersion() : "",
          replayed ? ", replayed" : "");
      return new MoveResult(version.version(), deleted.rows(), replayed, summary);
    }

    /**
     * Stages the deleted images on a branch on top of the recorded target: one MERGE that, per key
     * of the batch, deletes the Iceberg images the moved image is not older than and inserts the
     * moved image unless an Iceberg image of the key is newer.
     */
    private Optional<IcebergStaging.Staged> stage(
        PendingMoves.PendingMove move,
        PostgresMoves.Deleted deleted,
        TableVersion latest,
        IcebergStaging staging) {
      describe("%s: staging %d rows in Iceberg", describe(move), deleted.rows());
      String query =
          PostgresMoves.deletedRowsQuery(
              source,
              latest.schema(),
              new HashSet<>(PostgresSources.sourceColumns(sourceConnection, source)),
              deleted);
      Dataset<Row> rows =
          spark
              .read()
              .format("jdbc")
              .options(sourceConnection.sparkJdbcOptions())
              .option("query", query)
              .option("fetchsize", "1000")
              .load();
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
      SourceState.Iceberg base = (SourceState.Iceberg) latest.state(target.id());
      try {
        Optional<IcebergStaging.Staged> staged =
            staging.stageWrite(
                base,
                move.idempotencyKey(),
                branch -> spark.sql(mergeSql(branch, view, targetColumns)).collect());
        staged.ifPresent(
            s ->
                LOG.info(
                    "{} Iceberg snapshot {} for the {}",
                    s.reused() ? "Reusing staged" : "Staged",
                    s.snapshotId(),
                    describe(move)));
        return staged;
      } finally {
        spark.catalog().dropTempView(view);
      }
    }

    private String mergeSql(String branch, String view, List<String> targetColumns) {
      List<String> keys = harnessTable.primaryKey().stream().map(target::sourceColumn).toList();
      String ordering = harnessTable.orderingColumn().map(target::sourceColumn).orElse(null);
      String insertColumns =
          targetColumns.stream()
              .map(PostgresToIcebergMover::quote)
              .collect(Collectors.joining(", "));
      return "MERGE INTO "
          + branch
          + " t USING (SELECT "
          + insertColumns
          + ", 'match' AS "
          + ROLE
          + " FROM "
          + view
          + " UNION ALL SELECT "
          + targetColumns.stream().map(c -> "s." + quote(c)).collect(Collectors.joining(", "))
          + ", 'insert' AS "
          + ROLE
          + " FROM "
          + view
          + " s LEFT ANTI JOIN "
          + branch
          + " d ON "
          + keyMatch("d", "s", keys)
          + " AND "
          + dominates("d", "s", ordering)
          + ") s ON "
          + keyMatch("t", "s", keys)
          + " AND s."
          + ROLE
          + " = 'match' WHEN MATCHED AND NOT "
          + dominates("t", "s", ordering)
          + " THEN DELETE WHEN NOT MATCHED AND s."
          + ROLE
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

    private String describe(PendingMoves.PendingMove move) {
      return String.format(
          "move %s '%s' -> '%s' (intent %s)%s",
          table, source.id(), target.id(), move.intentId(), Bounds.of(move).describe());
    }

    private void describe(String format, Object... arguments) {
      spark.sparkContext().setJobDescription(String.format(format, arguments));
    }
  }

  private static String quote(String identifier) {
    return "`" + identifier.replace("`", "``") + "`";
  }
}
