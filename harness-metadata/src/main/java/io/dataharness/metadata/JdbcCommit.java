package io.dataharness.metadata;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One commit on a JDBC store, in one database transaction:
 *
 * <ol>
 *   <li>lock the rows of every source the commit touches (and their lock rows), in source id order,
 *       so commits on the same source serialize and commits on other sources do not wait;
 *   <li>if the idempotency key already produced a version, return it (or fail if the change
 *       differs);
 *   <li>validate: presented locks are held with their fencing tokens, unlocked sources still have
 *       the expected state, transitions are legal, the schema change is compatible;
 *   <li>enforce intents: a source covered by an open intent (its {@code intent_id}, read with the
 *       row lock at no extra cost) changes only if the commit completes the intent or presents the
 *       intent's exact fencing tokens; intents opened need every source's lock and a free source;
 *       intents completed must be open and need every source's lock;
 *   <li>take the next version number from the table row (held only until the transaction ends, so
 *       versions stay contiguous) and write the version and the changed states. On PostgreSQL this
 *       is one statement, so the table row is held for two round trips.
 * </ol>
 *
 * A failure anywhere rolls everything back: no partial version is ever visible.
 *
 * <p>On PostgreSQL a plain state commit (existing sources' states under their locks or
 * compare-and-set, with an optional idempotency key; see {@link #fast()}) takes one round trip
 * instead: it is validated in this process against the states this process last read or wrote, and
 * the database function {@code harness_commit_states} (migration 4) checks under the same row locks
 * that those are still the stored states, the locks still held with their fencing tokens, no intent
 * open and the key unused, and writes the version, in one call that is its own transaction (with
 * other commits of the group commit). If anything differs it writes nothing for that commit, which
 * then runs as above and reports why it is refused: the errors are the same on both paths.
 */
final class JdbcCommit implements CommitBatcher.BatchedCommit {
  private static final Logger LOG = LoggerFactory.getLogger(JdbcCommit.class);

  private static final String LOCK_SOURCES_POSTGRESQL =
      "SELECT t.table_id, clock_timestamp() AS now, s.source_id, s.definition, s.current_state,"
          + " s.removed_version, s.intent_id, s.lock_owner, s.fencing_token, s.lock_acquired_at,"
          + " s.lock_expires_at FROM harness_tables t JOIN harness_sources s ON s.table_id ="
          + " t.table_id WHERE t.namespace = ? AND t.table_name = ? AND s.source_id IN (%s) ORDER BY"
          + " s.source_id FOR UPDATE OF s";

  private static final String LOCK_SOURCES_BY_ID =
      "SELECT s.table_id, CURRENT_TIMESTAMP AS now, s.source_id, s.definition, s.current_state,"
          + " s.removed_version, s.intent_id, s.lock_owner, s.fencing_token, s.lock_acquired_at,"
          + " s.lock_expires_at FROM harness_sources s WHERE s.table_id = ? AND s.source_id IN (%s)"
          + " ORDER BY s.source_id FOR UPDATE";

  /** Takes the next version and writes it with its changed states, in one round trip. */
  private static final String WRITE_VERSION_POSTGRESQL =
      "WITH changed AS (SELECT * FROM unnest(?::varchar[], ?::varchar[]) AS c(source_id, state)),"
          + " bumped AS (UPDATE harness_tables SET current_version = current_version + 1,"
          + " last_committed_at = GREATEST(last_committed_at, clock_timestamp()),"
          + " current_schema_id = COALESCE(?::int, current_schema_id) WHERE table_id = ? AND"
          + " (?::int IS NULL OR current_schema_id = ?::int) RETURNING current_version,"
          + " current_schema_id, last_committed_at),"
          + " version_row AS (INSERT INTO harness_versions (table_id, version, schema_id,"
          + " committed_at, operation, idempotency_key, request_hash, summary, changes) SELECT ?,"
          + " current_version, current_schema_id, last_committed_at, ?, ?, ?, ?, ? FROM bumped),"
          + " states AS (INSERT INTO harness_source_states (table_id, source_id, version, state)"
          + " SELECT ?, c.source_id, b.current_version, c.state FROM bumped b CROSS JOIN changed"
          + " c),"
          + " currents AS (UPDATE harness_sources s SET current_state = c.state FROM changed c"
          + " WHERE s.table_id = ? AND s.source_id = c.source_id AND EXISTS (SELECT 1 FROM"
          + " bumped))"
          + " SELECT current_version, current_schema_id, last_committed_at FROM bumped";

  private final JdbcHarnessStore store;
  private final CommitRequest request;
  private final TableIdentifier table;
  private final String requestHash;

  JdbcCommit(JdbcHarnessStore store, CommitRequest request) {
    this.store = store;
    this.request = request;
    this.table = request.table();
    // only a replay under the same key compares it: a commit without a key neither needs nor pays
    // for it
    this.requestHash =
        request.idempotencyKey() == null ? null : MetadataJson.hash(request.identity());
  }

  /** A touched source's row as locked by this commit. */
  private record SourceRow(
      SourceState state, Long removedVersion, String intentId, JdbcHarnessStore.LockRow lock) {}

  /** An intent as stored, with the version that completed it (null while open). */
  record IntentRow(Intent intent, Long completedVersion) {}

  /** What the commit found after taking its locks. */
  private record Locked(long tableId, Instant now, Map<String, SourceRow> sources) {}

  /** The version number, schema and time the commit was given. */
  private record Written(long version, int schemaId, Instant committedAt) {}

  /** Commits in a transaction of its own. */
  @Override
  public VersionInfo run() {
    try {
      return store.inTransaction("commit to " + table, this::attempt);
    } catch (WrittenThenFailed e) {
      throw e.getCause();
    } catch (MetadataStoreException e) {
      if (e.getCause() instanceof SQLException sql && Dialect.isDataException(sql)) {
        // the database refused a value: the transaction rolled back, nothing landed
        ValidationException refused =
            new ValidationException(
                "Cannot commit to %s: the %s refused a value of the commit (%s, SQLSTATE %s); fix"
                    + " the value",
                table, store.description(), sql.getMessage(), sql.getSQLState());
        refused.initCause(sql);
        throw refused;
      }
      throw e;
    }
  }

  /**
   * Writes the commit in the caller's open transaction on the store's database, without committing
   * it and without retries (the caller owns the transaction, so it rolls back and retries).
   */
  VersionInfo runOn(Connection connection) {
    if (store.dialect() != Dialect.POSTGRESQL) {
      throw new ValidationException(
          "Cannot commit to %s inside a caller's database transaction: the %s is not PostgreSQL;"
              + " only a PostgreSQL store can commit in the database it shares with a jdbc source",
          table, store.description());
    }
    String action = "commit to " + table + " in the caller's transaction";
    try {
      if (connection.getAutoCommit()) {
        throw new ValidationException(
            "Cannot commit to %s inside a caller's database transaction: the connection has"
                + " auto-commit on; call setAutoCommit(false) first and commit after this call",
            table);
      }
      String callers = JdbcHarnessStore.databaseIdentity(connection);
      if (!callers.equals(store.databaseIdentity())) {
        throw new ValidationException(
            "Cannot commit to %s inside a caller's database transaction: the connection is to"
                + " database %s, but the %s is database %s; the harness metadata must live in the"
                + " same PostgreSQL database",
            table, callers, store.description(), store.databaseIdentity());
      }
      return attempt(connection);
    } catch (WrittenThenFailed e) {
      throw e.getCause();
    } catch (SQLException e) {
      throw store.unavailable(e, action);
    }
  }

  /**
   * A failure after the commit wrote to the transaction: the transaction must be rolled back (the
   * cause is what to report).
   */
  static final class WrittenThenFailed extends RuntimeException {
    WrittenThenFailed(HarnessException cause) {
      super(cause);
    }

    @Override
    public synchronized HarnessException getCause() {
      return (HarnessException) super.getCause();
    }
  }

  /**
   * Runs the commit in {@code connection}'s open transaction. A {@link HarnessException} means the
   * commit was refused before it wrote anything; {@link WrittenThenFailed} means it wrote and then
   * failed, so the transaction must be rolled back.
   */
  @Override
  public VersionInfo attempt(Connection connection) throws SQLException {
    Locked locked = lockSources(connection);
    if (request.idempotencyKey() != null) {
      VersionInfo replayed = replayed(connection, locked.tableId());
      if (replayed != null) {
        LOG.info(
            "Commit to {} with idempotency key '{}' was already committed as version {}",
            table,
            request.idempotencyKey(),
            replayed.version());
        return replayed;
      }
    }
    List<SourceChange> changes = validate(locked.sources(), locked.now());
    Map<String, SourceLock> presented = new HashMap<>();
    request.locks().forEach(lock -> presented.put(lock.sourceId(), lock));
    Map<String, IntentRow> intents = checkIntents(connection, locked, presented);
    Integer newSchemaId = null;
    if (request.schemaChange() != null) {
      newSchemaId = insertSchema(connection, locked.tableId());
    }
    String changesJson = MetadataJson.changesJson(changes, request.externalState());
    if (request.rollbackTo() != null) {
      // the versions after the one restored were undone: their batches may be written again
      Jdbc.update(
          connection,
          "UPDATE harness_versions SET idempotency_key = NULL WHERE table_id = ? AND version > ?",
          locked.tableId(),
          request.rollbackTo());
    }
    Written written =
        store.dialect() == Dialect.POSTGRESQL
            ? writePostgresql(connection, locked.tableId(), newSchemaId, changesJson)
            : writeStepwise(connection, locked, newSchemaId, changesJson);
    if (written == null) {
      throw new WrittenThenFailed(
          request.schemaChange() == null
              ? new CommitConflictException(
                  "Cannot commit to %s: its next version could not be taken (was the table dropped"
                      + " meanwhile?); nothing was written, re-read the table and retry",
                  table)
              : new CommitConflictException(
                  "Cannot change the schema of %s: it changed since it was read (expected schema"
                      + " %d); re-read the table and retry",
                  table, request.schemaChange().expectedSchemaId()));
    }
    for (Map.Entry<String, SourceDefinition> added : request.addedSources().entrySet()) {
      insertSource(
          connection,
          locked.tableId(),
          added.getValue(),
          request.sourceUpdates().get(added.getKey()).next(),
          written.version());
    }
    for (String removed : request.removedSources()) {
      Jdbc.update(
          connection,
          "UPDATE harness_sources SET removed_version = ? WHERE table_id = ? AND source_id = ?",
          written.version(),
          locked.tableId(),
          removed);
    }
    if (request.layout() != null) {
      String fields =
          Jdbc.queryOne(
              connection,
              "SELECT s.fields FROM harness_tables t JOIN harness_schemas s ON s.table_id ="
                  + " t.table_id AND s.schema_id = t.current_schema_id WHERE t.table_id = ?",
              row -> row.getString(1),
              locked.tableId());
      request.layout().validate(table, new Schema(0, MetadataJson.parseFields(fields)));
      Jdbc.update(
          connection,
          "UPDATE harness_tables SET layout = ? WHERE table_id = ?",
          MetadataJson.layoutJson(request.layout()),
          locked.tableId());
    }
    for (SourceDefinition redefined : request.redefinedSources().values()) {
      Jdbc.update(
          connection,
          "UPDATE harness_sources SET definition = ? WHERE table_id = ? AND source_id = ?",
          MetadataJson.sourceJson(redefined),
          locked.tableId(),
          redefined.id());
    }
    writeExternalState(connection, locked.tableId(), written.version());
    writeIntents(connection, locked.tableId(), written, intents, presented);
    request
        .sourceUpdates()
        .forEach(
            (sourceId, update) ->
                store.rememberState(
                    table,
                    locked.tableId(),
                    sourceId,
                    MetadataJson.stateJson(update.next()),
                    update.next()));
    request.removedSources().forEach(sourceId -> store.forgetState(table, sourceId));
    LOG.debug("Committed version {} of {} ({})", written.version(), table, request.operation());
    return new VersionInfo(
        written.version(),
        written.schemaId(),
        new CommitInfo(
            written.committedAt(),
            request.operation(),
            request.idempotencyKey(),
            request.summary(),
            changes,
            request.externalState()));
  }

  private Locked lockSources(Connection connection) throws SQLException {
    List<String> touched = request.lockedSources();
    boolean byName = store.dialect() == Dialect.POSTGRESQL && !touched.isEmpty();
    Long tableId = null;
    Instant now = null;
    if (!byName) {
      // the embedded store serializes commits per table; a commit without sources needs the id
      tableId =
          store.tableRow(connection, table, store.dialect().serializeCommitsOnTable).tableId();
      now = Jdbc.queryOne(connection, "SELECT " + store.dialect().now, row -> Jdbc.instant(row, 1));
    }
    Map<String, SourceRow> rows = new HashMap<>();
    if (touched.isEmpty()) {
      return new Locked(tableId, now, rows);
    }
    List<Object> parameters = new ArrayList<>();
    if (byName) {
      parameters.add(table.namespace());
      parameters.add(table.name());
    } else {
      parameters.add(tableId);
    }
    parameters.addAll(touched);
    long[] foundTableId = {tableId == null ? -1 : tableId};
    Instant[] foundNow = {now};
    Jdbc.query(
        connection,
        String.format(
            byName ? LOCK_SOURCES_POSTGRESQL : LOCK_SOURCES_BY_ID,
            Jdbc.placeholders(touched.size())),
        row -> {
          foundTableId[0] = row.getLong("table_id");
          foundNow[0] = Jdbc.instant(row, "now");
          Number removed = (Number) row.getObject("removed_version");
          String json = row.getString("current_state");
          SourceState state = store.sourceState(json);
          if (removed == null) {
            store.rememberState(table, foundTableId[0], row.getString("source_id"), json, state);
          }
          return rows.put(
              row.getString("source_id"),
              new SourceRow(
                  state,
                  removed == null ? null : removed.longValue(),
                  row.getString("intent_id"),
                  JdbcHarnessStore.lockRow(row)));
        },
        parameters.toArray());
    if (foundTableId[0] < 0) {
      // none of the sources exists (all added): the table row tells whether the table does
      foundTableId[0] = store.tableRow(connection, table, false).tableId();
      foundNow[0] =
          Jdbc.queryOne(connection, "SELECT " + store.dialect().now, row -> Jdbc.instant(row, 1));
    }
    return new Locked(foundTableId[0], foundNow[0], rows);
  }

  private VersionInfo replayed(Connection connection, long tableId) throws SQLException {
    record Previous(VersionInfo info, String hash) {}
    Previous previous =
        Jdbc.queryOne(
            connection,
            "SELECT version, schema_id, committed_at, operation, idempotency_key, summary, changes,"
                + " request_hash FROM harness_versions WHERE table_id = ? AND idempotency_key = ?",
            row ->
                new Previous(
                    new VersionInfo(
                        row.getLong("version"),
                        row.getInt("schema_id"),
                        JdbcHarnessStore.commitInfo(row)),
                    row.getString("request_hash")),
            tableId,
            request.idempotencyKey());
    if (previous == null) {
      return null;
    }
    if (!previous.hash().equals(requestHash)) {
      throw new IdempotencyConflictException(
          "Cannot commit to %s with idempotency key '%s': the key already produced version %d"
              + " (operation '%s') with a different change than this one (operation '%s', sources"
              + " %s). Derive idempotency keys from exactly what a commit changes",
          table,
          request.idempotencyKey(),
          previous.info().version(),
          previous.info().commit().operation(),
          request.operation(),
          request.touchedSources());
    }
    return previous.info();
  }

  private List<SourceChange> validate(Map<String, SourceRow> rows, Instant now) {
    Map<String, SourceLock> presented = new HashMap<>();
    for (SourceLock lock : request.locks()) {
      SourceRow row = rows.get(lock.sourceId());
      if (row == null || row.removedVersion() != null) {
        throw new NoSuchSourceException(
            "Cannot commit to %s: a lock is presented for source '%s', which the table does not"
                + " have",
            table, lock.sourceId());
      }
      JdbcHarnessStore.checkHeld(lock, row.lock(), now, "commit to " + table);
      presented.put(lock.sourceId(), lock);
    }
    List<SourceChange> changes = new ArrayList<>();
    for (String sourceId : request.touchedSources()) {
      SourceRow row = rows.get(sourceId);
      CommitRequest.SourceUpdate update = request.sourceUpdates().get(sourceId);
      Map<String, String> ids = request.externalIds().getOrDefault(sourceId, Map.of());
      if (request.addedSources().containsKey(sourceId)) {
        if (row != null) {
          throw new AlreadyExistsException(
              "Cannot add source '%s' to table %s: the id is %s; choose another id",
              sourceId,
              table,
              row.removedVersion() == null ? "in use" : "used by a removed source");
        }
        changes.add(new SourceChange(sourceId, null, update.next(), ids));
        continue;
      }
      if (row == null || row.removedVersion() != null) {
        throw new NoSuchSourceException(
            "Cannot change source '%s' of table %s: the table has no such source", sourceId, table);
      }
      if (!presented.containsKey(sourceId) && row.lock().heldAt(now)) {
        throw new LockHeldException(
            new SourceLock(
                table,
                sourceId,
                row.lock().owner(),
                row.lock().fencingToken(),
                row.lock().acquiredAt(),
                row.lock().expiresAt()),
            "Cannot commit to %s: source '%s' is locked by '%s' until %s; present its lock, or"
                + " retry after it is released",
            table,
            sourceId,
            row.lock().owner(),
            row.lock().expiresAt());
      }
      if (request.removedSources().contains(sourceId)) {
        changes.add(new SourceChange(sourceId, row.state(), null, ids));
        continue;
      }
      SourceDefinition redefined = request.redefinedSources().get(sourceId);
      if (redefined != null) {
        if (!presented.containsKey(sourceId)) {
          throw new ValidationException(
              "Cannot redefine source '%s' of table %s without its lock: present the lock",
              sourceId, table);
        }
        if (redefined.kind() != row.state().kind()) {
          throw new ValidationException(
              "Cannot redefine source '%s' of table %s as %s: it is a %s source; a source keeps"
                  + " its kind",
              sourceId, table, redefined.kind().id(), row.state().kind().id());
        }
        if (update == null) {
          continue;
        }
      }
      if (update.expected() == null && !presented.containsKey(sourceId)) {
        throw new ValidationException(
            "Cannot change source '%s' of table %s without protection: present its lock or give"
                + " the state you read (compare-and-set)",
            sourceId, table);
      }
      if (update.expected() != null && !update.expected().equals(row.state())) {
        throw new CommitConflictException(
            "Cannot commit to %s: source '%s' changed since it was read (expected %s, now %s);"
                + " re-read the latest version and retry",
            table,
            sourceId,
            MetadataJson.stateJson(update.expected()),
            MetadataJson.stateJson(row.state()));
      }
      if (request.rollbackTo() == null) {
        row.state().checkTransition(sourceId, update.next());
      } else if (!presented.containsKey(sourceId) || update.next().kind() != row.state().kind()) {
        throw new ValidationException(
            "Cannot roll source '%s' of %s back to version %d: a rollback restores a state of the"
                + " same kind under the source's lock; present it",
            sourceId, table, request.rollbackTo());
      }
      changes.add(new SourceChange(sourceId, row.state(), update.next(), ids));
    }
    return changes;
  }

  /**
   * Enforces the intents, under the source row locks: returns the rows of the intents the commit
   * completes, and of those covering sources it changes. Throws before anything is written.
   */
  private Map<String, IntentRow> checkIntents(
      Connection connection, Locked locked, Map<String, SourceLock> presented) throws SQLException {
    Map<String, IntentRow> intents = new HashMap<>();
    for (String id : request.completedIntents()) {
      IntentRow row = loadIntent(connection, locked.tableId(), id);
      if (row == null || row.completedVersion() != null) {
        throw new CommitConflictException(
            "Cannot complete intent '%s' of %s: it is not open (%s); re-read the latest version"
                + " (TableVersion.openIntents()): another run may have completed it",
            id,
            table,
            row == null
                ? "the table never had it"
                : "version " + row.completedVersion() + " completed it");
      }
      List<String> missing =
          row.intent().sources().stream().filter(source -> !presented.containsKey(source)).toList();
      if (!missing.isEmpty()) {
        throw new ValidationException(
            "Cannot complete intent %s of %s: the commit must present the locks of all its"
                + " sources, and misses %s; acquire them (for example with a LeaseKeeper) and"
                + " present them",
            row.intent().describe(), table, missing);
      }
      intents.put(id, row);
    }
    for (String sourceId : request.touchedSources()) {
      SourceRow row = locked.sources().get(sourceId);
      if (row == null
          || row.intentId() == null
          || request.addedSources().containsKey(sourceId)
          || request.completedIntents().contains(row.intentId())) {
        continue;
      }
      IntentRow intent = intents.get(row.intentId());
      if (intent == null) {
        intent = loadIntent(connection, locked.tableId(), row.intentId());
        if (intent == null) {
          throw new MetadataStoreException(
              null,
              "Cannot commit to %s: source '%s' names the intent '%s', which the %s does not have;"
                  + " the store is inconsistent, report it",
              table,
              sourceId,
              row.intentId(),
              store.description());
        }
        intents.put(row.intentId(), intent);
      }
      Intent open = intent.intent();
      if (request.removedSources().contains(sourceId)) {
        throw new IntentPendingException(
            open,
            "Cannot remove source '%s' from %s: it has the open intent %s; rerun the job that"
                + " opened it to complete it, or an operator abandons it with"
                + " Transaction.completeIntent(\"%s\") under the sources' locks, before removing"
                + " the source",
            sourceId,
            table,
            open.describe(),
            open.id());
      }
      SourceLock lock = presented.get(sourceId);
      Long token = open.fencingTokens().get(sourceId);
      if (lock == null || token == null || lock.fencingToken() != token) {
        throw pending(open, sourceId, "commit to " + table);
      }
    }
    for (CommitRequest.IntentRequest opened : request.openedIntents().values()) {
      IntentRow existing = loadIntent(connection, locked.tableId(), opened.id());
      if (existing != null) {
        throw new AlreadyExistsException(
            "Cannot open intent '%s' on %s: the table already had an intent with this id (%s,"
                + " %s); intent ids are single-use: derive them from the batch and the run, or use"
                + " a UUID",
            opened.id(),
            table,
            existing.intent().describe(),
            existing.completedVersion() == null
                ? "still open"
                : "completed at version " + existing.completedVersion());
      }
      List<String> missing = new ArrayList<>();
      for (String sourceId : opened.sources()) {
        SourceRow row = locked.sources().get(sourceId);
        if (row == null || row.removedVersion() != null) {
          throw new NoSuchSourceException(
              "Cannot open intent '%s' on %s: the table has no source '%s'",
              opened.id(), table, sourceId);
        }
        if (request.removedSources().contains(sourceId)) {
          throw new ValidationException(
              "Cannot open intent '%s' on %s: the same commit removes its source '%s'",
              opened.id(), table, sourceId);
        }
        if (!presented.containsKey(sourceId)) {
          missing.add(sourceId);
        }
        if (row.intentId() != null && !request.completedIntents().contains(row.intentId())) {
          IntentRow other = intents.get(row.intentId());
          if (other == null) {
            other = loadIntent(connection, locked.tableId(), row.intentId());
          }
          if (other != null) {
            throw pending(
                other.intent(), sourceId, "open intent '" + opened.id() + "' on " + table);
          }
        }
      }
      if (!missing.isEmpty()) {
        throw new ValidationException(
            "Cannot open intent '%s' on %s: the commit must present the locks of all its sources"
                + " %s, and misses %s; acquire them (for example with a LeaseKeeper) and present"
                + " them",
            opened.id(), table, opened.sources(), missing);
      }
    }
    return intents;
  }

  private IntentPendingException pending(Intent open, String sourceId, String action) {
    return new IntentPendingException(
        open,
        "Cannot %s: source '%s' has the open intent %s; rerun the job that opened it to complete"
            + " it, or an operator abandons it with Transaction.completeIntent(\"%s\") under the"
            + " sources' locks",
        action,
        sourceId,
        open.describe(),
        open.id());
  }

  /** An intent of the table by id, open or completed, or null if the table never had it. */
  static IntentRow loadIntent(Connection connection, long tableId, String id) throws SQLException {
    return Jdbc.queryOne(
        connection,
        "SELECT intent_id, kind, owner, sources, fencing_tokens, payload, opened_version,"
            + " opened_at, completed_version FROM harness_intents WHERE table_id = ? AND intent_id"
            + " = ?",
        row -> {
          Number completed = (Number) row.getObject("completed_version");
          return new IntentRow(intent(row), completed == null ? null : completed.longValue());
        },
        tableId,
        id);
  }

  static Intent intent(java.sql.ResultSet row) throws SQLException {
    return new Intent(
        row.getString("intent_id"),
        row.getString("kind"),
        row.getString("owner"),
        MetadataJson.parseList(row.getString("sources")),
        MetadataJson.parseTokens(row.getString("fencing_tokens")),
        row.getString("payload"),
        row.getLong("opened_version"),
        Jdbc.instant(row, "opened_at"));
  }

  /** Completes, then opens, the commit's intents in the version it wrote. */
  private void writeIntents(
      Connection connection,
      long tableId,
      Written written,
      Map<String, IntentRow> intents,
      Map<String, SourceLock> presented)
      throws SQLException {
    for (String id : request.completedIntents()) {
      Jdbc.update(
          connection,
          "UPDATE harness_intents SET completed_version = ? WHERE table_id = ? AND intent_id = ?",
          written.version(),
          tableId,
          id);
      List<String> sources = intents.get(id).intent().sources();
      List<Object> parameters = new ArrayList<>(List.of(tableId, id));
      parameters.addAll(sources);
      Jdbc.update(
          connection,
          "UPDATE harness_sources SET intent_id = NULL WHERE table_id = ? AND intent_id = ? AND"
              + " source_id IN ("
              + Jdbc.placeholders(sources.size())
              + ")",
          parameters.toArray());
    }
    for (CommitRequest.IntentRequest opened : request.openedIntents().values()) {
      Map<String, Long> tokens = new java.util.TreeMap<>();
      opened.sources().forEach(source -> tokens.put(source, presented.get(source).fencingToken()));
      Jdbc.update(
          connection,
          "INSERT INTO harness_intents (table_id, intent_id, kind, owner, sources, fencing_tokens,"
              + " payload, opened_version, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
          tableId,
          opened.id(),
          opened.kind(),
          presented.get(opened.sources().get(0)).owner(),
          MetadataJson.listJson(opened.sources()),
          MetadataJson.tokensJson(tokens),
          opened.payload(),
          written.version(),
          written.committedAt());
      List<Object> parameters = new ArrayList<>(List.of(opened.id(), tableId));
      parameters.addAll(opened.sources());
      Jdbc.update(
          connection,
          "UPDATE harness_sources SET intent_id = ? WHERE table_id = ? AND source_id IN ("
              + Jdbc.placeholders(opened.sources().size())
              + ")",
          parameters.toArray());
    }
  }

  /**
   * A plain state commit (existing sources' states, under their locks or compare-and-set, with an
   * optional idempotency key, summary and external ids) validated against the states this process
   * knows, ready for {@link #writeFast}: the database checks, under the row locks, that the states
   * are still those, the locks still held and no intent open, and writes it in one call.
   */
  record Fast(
      JdbcCommit commit,
      long tableId,
      List<String> sources,
      List<String> previous,
      List<String> next,
      List<String> owners,
      List<Long> tokens,
      List<SourceChange> changes,
      String changesJson) {
    String idempotencyKey() {
      return commit.request.idempotencyKey();
    }
  }

  /**
   * This commit as a {@link Fast} one, or null if it is not a plain state commit or the states it
   * would be validated against are not known (it then takes the statement-by-statement path, which
   * also reports why a commit is refused).
   */
  @Override
  public Fast fast() {
    if (store.dialect() != Dialect.POSTGRESQL
        || request.sourceUpdates().isEmpty()
        || !request.addedSources().isEmpty()
        || !request.removedSources().isEmpty()
        || !request.redefinedSources().isEmpty()
        || request.schemaChange() != null
        || request.layout() != null
        || !request.externalState().isEmpty()
        || !request.openedIntents().isEmpty()
        || !request.completedIntents().isEmpty()
        || request.rollbackTo() != null) {
      return null;
    }
    Map<String, SourceLock> presented = new HashMap<>();
    for (SourceLock lock : request.locks()) {
      if (!request.sourceUpdates().containsKey(lock.sourceId())
          || presented.put(lock.sourceId(), lock) != null) {
        return null;
      }
    }
    int count = request.sourceUpdates().size();
    List<String> sources = new ArrayList<>(count);
    List<String> previous = new ArrayList<>(count);
    List<String> next = new ArrayList<>(count);
    List<String> owners = new ArrayList<>(count);
    List<Long> tokens = new ArrayList<>(count);
    List<SourceChange> changes = new ArrayList<>(count);
    Long tableId = null;
    for (Map.Entry<String, CommitRequest.SourceUpdate> entry : request.sourceUpdates().entrySet()) {
      String sourceId = entry.getKey();
      CommitRequest.SourceUpdate update = entry.getValue();
      JdbcHarnessStore.KnownState known = store.knownState(table, sourceId);
      SourceLock lock = presented.get(sourceId);
      if (known == null
          || (tableId != null && tableId != known.tableId())
          || (update.expected() == null && lock == null)
          || (update.expected() != null && !update.expected().equals(known.state()))) {
        return null;
      }
      tableId = known.tableId();
      try {
        known.state().checkTransition(sourceId, update.next());
      } catch (RuntimeException e) {
        return null; // the statement-by-statement path reports it against the stored state
      }
      sources.add(sourceId);
      previous.add(known.json());
      next.add(MetadataJson.stateJson(update.next()));
      owners.add(lock == null ? null : lock.owner());
      tokens.add(lock == null ? null : lock.fencingToken());
      changes.add(
          new SourceChange(
              sourceId,
              known.state(),
              update.next(),
              request.externalIds().getOrDefault(sourceId, Map.of())));
    }
    return new Fast(
        this,
        tableId,
        sources,
        previous,
        next,
        owners,
        tokens,
        changes,
        MetadataJson.changesJson(changes, request.externalState()));
  }

  private static final String WRITE_FAST =
      "SELECT commit_position, commit_version, commit_schema_id, commit_time FROM"
          + " harness_commit_states(?, ?, ?::varchar[], ?::varchar[], ?::varchar[], ?::varchar[],"
          + " ?::varchar[], ?::int[], ?::varchar[], ?::varchar[], ?::varchar[], ?::varchar[],"
          + " ?::bigint[])";

  /**
   * Writes {@code commits} (all to one table, in this order, each its own version) in one call;
   * with auto-commit on, that call is the whole database transaction. Returns each commit's
   * version, or null for a commit the database found not current (written nothing for it): run it
   * on the statement-by-statement path.
   */
  static VersionInfo[] writeFast(Connection connection, TableIdentifier table, List<Fast> commits)
      throws SQLException {
    int count = commits.size();
    Object[] operations = new Object[count];
    Object[] keys = new Object[count];
    Object[] hashes = new Object[count];
    Object[] summaries = new Object[count];
    Object[] changes = new Object[count];
    List<Object> positions = new ArrayList<>();
    List<Object> sources = new ArrayList<>();
    List<Object> previous = new ArrayList<>();
    List<Object> next = new ArrayList<>();
    List<Object> owners = new ArrayList<>();
    List<Object> tokens = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Fast fast = commits.get(i);
      CommitRequest request = fast.commit().request;
      operations[i] = request.operation();
      keys[i] = request.idempotencyKey();
      hashes[i] = fast.commit().requestHash;
      summaries[i] = MetadataJson.mapJson(request.summary());
      changes[i] = fast.changesJson();
      for (int j = 0; j < fast.sources().size(); j++) {
        positions.add(i + 1);
        sources.add(fast.sources().get(j));
        previous.add(fast.previous().get(j));
        next.add(fast.next().get(j));
        owners.add(fast.owners().get(j));
        tokens.add(fast.tokens().get(j));
      }
    }
    VersionInfo[] results = new VersionInfo[count];
    if (count == 1) {
      Fast fast = commits.get(0);
      CommitRequest request = fast.commit().request;
      String key = request.idempotencyKey();
      List<Object> values = new ArrayList<>();
      String sql;
      if (sources.size() == 1) {
        sql = key == null ? WRITE_ONE_SOURCE_FAST : WRITE_ONE_SOURCE_FAST_KEYED;
        values.addAll(
            Arrays.asList(
                next.get(0),
                fast.tableId(),
                sources.get(0),
                previous.get(0),
                owners.get(0),
                owners.get(0),
                tokens.get(0)));
        if (key != null) {
          values.add(key);
        }
        values.add(table.namespace());
        values.add(table.name());
      } else {
        sql = WRITE_ONE_FAST;
        values.addAll(
            Arrays.asList(
                connection.createArrayOf("varchar", sources.toArray()),
                connection.createArrayOf("varchar", previous.toArray()),
                connection.createArrayOf("varchar", next.toArray()),
                connection.createArrayOf("varchar", owners.toArray()),
                connection.createArrayOf("int8", tokens.toArray()),
                table.namespace(),
                table.name(),
                table.namespace(),
                table.name(),
                key,
                key));
      }
      values.addAll(
          Arrays.asList(
              request.operation(), key, fast.commit().requestHash, summaries[0], changes[0]));
      if (sources.size() == 1) { // the state row
        values.addAll(Arrays.asList(sources.get(0), next.get(0)));
      }
      try (PreparedStatement statement = connection.prepareStatement(sql)) {
        Jdbc.bind(statement, values.toArray());
        read(statement, commits, results);
      }
      return results;
    }
    try (PreparedStatement statement = connection.prepareStatement(WRITE_FAST)) {
      statement.setString(1, table.namespace());
      statement.setString(2, table.name());
      statement.setArray(3, connection.createArrayOf("varchar", operations));
      statement.setArray(4, connection.createArrayOf("varchar", keys));
      statement.setArray(5, connection.createArrayOf("varchar", hashes));
      statement.setArray(6, connection.createArrayOf("varchar", summaries));
      statement.setArray(7, connection.createArrayOf("varchar", changes));
      statement.setArray(8, connection.createArrayOf("int4", positions.toArray()));
      statement.setArray(9, connection.createArrayOf("varchar", sources.toArray()));
      statement.setArray(10, connection.createArrayOf("varchar", previous.toArray()));
      statement.setArray(11, connection.createArrayOf("varchar", next.toArray()));
      statement.setArray(12, connection.createArrayOf("varchar", owners.toArray()));
      statement.setArray(13, connection.createArrayOf("int8", tokens.toArray()));
      read(statement, commits, results);
    }
    return results;
  }

  /** Reads the rows of a fast write: position, version, schema id, commit time. */
  private static void read(PreparedStatement statement, List<Fast> commits, VersionInfo[] results)
      throws SQLException {
    try (var rows = statement.executeQuery()) {
      while (rows.next()) {
        Fast fast = commits.get(rows.getInt(1) - 1);
        CommitRequest request = fast.commit().request;
        VersionInfo info =
            new VersionInfo(
                rows.getLong(2),
                rows.getInt(3),
                new CommitInfo(
                    Jdbc.instant(rows, 4),
                    request.operation(),
                    request.idempotencyKey(),
                    request.summary(),
                    fast.changes(),
                    request.externalState()));
        results[rows.getInt(1) - 1] = info;
      }
    }
  }

  /**
   * {@link #writeFast} for one commit, as one statement: a cached plan that costs less than the
   * function's statements. The same checks under the same locks, in the same order: the sources'
   * rows (in source id order; a row changed meanwhile is re-read after the wait), then the table's.
   */
  private static final String WRITE_ONE_FAST =
      "WITH u AS (SELECT * FROM unnest(?::varchar[], ?::varchar[], ?::varchar[], ?::varchar[],"
          + " ?::bigint[]) AS u(source_id, prev, next, owner, token)),"
          // the sources by primary key (table id, source ids): a generic plan
          // would otherwise scan all of the table's sources (unnest's row estimate is 100)
          + " tid AS (SELECT table_id FROM harness_tables WHERE namespace = ? AND table_name = ?),"
          + " ids AS (SELECT array_agg(source_id)::varchar[] AS a FROM u),"
          + " locked AS (SELECT coalesce(s.current_state = u.prev AND s.removed_version IS NULL"
          + " AND s.intent_id IS NULL AND CASE WHEN u.owner IS NULL THEN s.lock_owner IS NULL OR"
          + " s.lock_expires_at IS NULL OR s.lock_expires_at <= clock_timestamp() ELSE"
          + " s.lock_owner = u.owner AND s.fencing_token = u.token AND s.lock_expires_at >"
          + " clock_timestamp() END, false) AS ok FROM harness_sources s JOIN u ON u.source_id ="
          + " s.source_id WHERE s.table_id = (SELECT table_id FROM tid) AND s.source_id ="
          + " ANY((SELECT a FROM ids)::varchar[]) ORDER BY s.source_id FOR UPDATE OF s),"
          + " go AS (SELECT count(*) = (SELECT count(*) FROM u) AND coalesce(bool_and(ok), false)"
          + " AS ok FROM locked),"
          + " bumped AS (UPDATE harness_tables t SET current_version = t.current_version + 1,"
          + " last_committed_at = GREATEST(t.last_committed_at, clock_timestamp()) WHERE"
          + " t.namespace = ? AND t.table_name = ? AND (SELECT ok FROM go) AND (?::varchar IS NULL"
          + " OR NOT EXISTS (SELECT 1 FROM harness_versions v WHERE v.table_id = t.table_id AND"
          + " v.idempotency_key = ?::varchar)) RETURNING t.table_id, t.current_version,"
          + " t.current_schema_id, t.last_committed_at),"
          + " version_row AS (INSERT INTO harness_versions (table_id, version, schema_id,"
          + " committed_at, operation, idempotency_key, request_hash, summary, changes) SELECT"
          + " table_id, current_version, current_schema_id, last_committed_at, ?, ?, ?, ?, ? FROM"
          + " bumped),"
          + " states AS (INSERT INTO harness_source_states (table_id, source_id, version, state)"
          + " SELECT b.table_id, u.source_id, b.current_version, u.next FROM bumped b CROSS JOIN"
          + " u),"
          + " currents AS (UPDATE harness_sources s SET current_state = u.next FROM u, bumped b"
          + " WHERE s.table_id = b.table_id AND s.source_id = u.source_id AND s.source_id ="
          + " ANY((SELECT a FROM ids)::varchar[]))"
          + " SELECT 1, current_version, current_schema_id, last_committed_at FROM bumped";

  /**
   * {@link #WRITE_ONE_FAST} for a commit of one source, with scalar parameters and the most
   * frequent commit (a mover's or an appender's source): no arrays to build, send and unnest, and
   * no row locked before it is written. The source's row is updated with the whole check (state,
   * intent, lease) in its WHERE clause, which PostgreSQL re-evaluates on the row's latest version
   * if a concurrent transaction changed it; only then is the table's version taken. The source's
   * row is locked before the table's, as in every commit. The source is found by the table id this
   * process last saw for the table's name (no lookup by name); the table's row must still carry
   * that name. A source row written without its version (the table renamed since, or its row gone)
   * fails the statement through {@code harness_abort}, which rolls it back, and the commit runs
   * again statement by statement, by name (see {@link CommitBatcher}). {@code %s} is where a commit
   * with an idempotency key checks it: a key check in the plan of a commit without one would cost
   * its subquery's set-up on every call, even with a null parameter.
   */
  private static final String WRITE_ONE_SOURCE_TEMPLATE =
      "WITH src AS (UPDATE harness_sources s SET current_state = ?::varchar WHERE s.table_id ="
          + " ?::bigint AND s.source_id = ?::varchar AND s.current_state = ?::varchar AND s.removed_version IS"
          + " NULL AND s.intent_id IS NULL AND CASE WHEN ?::varchar IS NULL THEN s.lock_owner IS"
          + " NULL OR s.lock_expires_at IS NULL OR s.lock_expires_at <= clock_timestamp() ELSE"
          + " s.lock_owner = ?::varchar AND s.fencing_token = ?::bigint AND s.lock_expires_at >"
          + " clock_timestamp() END%s RETURNING s.table_id),"
          + " bumped AS (UPDATE harness_tables t SET current_version = t.current_version + 1,"
          + " last_committed_at = GREATEST(t.last_committed_at, clock_timestamp()) WHERE t.table_id"
          + " = (SELECT table_id FROM src) AND t.namespace = ? AND t.table_name = ? RETURNING"
          + " t.table_id, t.current_version, t.current_schema_id, t.last_committed_at),"
          + " version_row AS (INSERT INTO harness_versions (table_id, version, schema_id,"
          + " committed_at, operation, idempotency_key, request_hash, summary, changes) SELECT"
          + " table_id, current_version, current_schema_id, last_committed_at, ?, ?, ?, ?, ? FROM"
          + " bumped),"
          + " states AS (INSERT INTO harness_source_states (table_id, source_id, version, state)"
          + " SELECT table_id, ?::varchar, current_version, ?::varchar FROM bumped)"
          + " SELECT 1, b.current_version, b.current_schema_id, b.last_committed_at FROM src LEFT"
          + " JOIN bumped b ON true WHERE CASE WHEN b.table_id IS NULL THEN harness_abort('A commit"
          + " changed a source of table id ' || (SELECT table_id FROM src) || ' but that table is"
          + " gone or renamed; nothing was written') ELSE true END";

  /** {@link #WRITE_ONE_SOURCE_TEMPLATE} for a commit without an idempotency key. */
  private static final String WRITE_ONE_SOURCE_FAST = WRITE_ONE_SOURCE_TEMPLATE.replace("%s", "");

  /** {@link #WRITE_ONE_SOURCE_TEMPLATE} for a commit with an idempotency key: it checks the key. */
  private static final String WRITE_ONE_SOURCE_FAST_KEYED =
      WRITE_ONE_SOURCE_TEMPLATE.replace(
          "%s",
          " AND NOT EXISTS (SELECT 1 FROM harness_versions v WHERE v.table_id = s.table_id AND"
              + " v.idempotency_key = ?::varchar)");

  /** Records what a {@link Fast} commit wrote, once its transaction committed. */
  void written(Fast fast, VersionInfo info) {
    for (int i = 0; i < fast.sources().size(); i++) {
      String sourceId = fast.sources().get(i);
      store.rememberState(
          table,
          fast.tableId(),
          sourceId,
          fast.next().get(i),
          request.sourceUpdates().get(sourceId).next());
    }
    LOG.debug("Committed version {} of {} ({})", info.version(), table, request.operation());
  }

  /** Checks the schema change against the current schema and stores the new schema's fields. */
  private int insertSchema(Connection connection, long tableId) throws SQLException {
    CommitRequest.SchemaChange change = request.schemaChange();
    record Current(int schemaId, String fields, String layout, int highest) {}
    Current current =
        Jdbc.queryOne(
            connection,
            "SELECT t.current_schema_id, s.fields, t.layout, (SELECT MAX(schema_id) FROM"
                + " harness_schemas WHERE table_id = t.table_id) FROM harness_tables t JOIN"
                + " harness_schemas s ON s.table_id = t.table_id AND s.schema_id ="
                + " t.current_schema_id WHERE t.table_id = ?",
            row -> new Current(row.getInt(1), row.getString(2), row.getString(3), row.getInt(4)),
            tableId);
    if (current.schemaId() != change.expectedSchemaId()) {
      throw new CommitConflictException(
          "Cannot change the schema of %s: it changed since it was read (expected schema %d, now"
              + " %d); re-read the table and retry",
          table, change.expectedSchemaId(), current.schemaId());
    }
    SchemaCompatibility.check(
        table,
        new Schema(current.schemaId(), MetadataJson.parseFields(current.fields())),
        change.fields(),
        MetadataJson.parseLayout(current.layout()));
    int newSchemaId = current.highest() + 1;
    Jdbc.update(
        connection,
        "INSERT INTO harness_schemas (table_id, schema_id, fields) VALUES (?, ?, ?)",
        tableId,
        newSchemaId,
        MetadataJson.fieldsJson(change.fields()));
    return newSchemaId;
  }

  private Written writePostgresql(
      Connection connection, long tableId, Integer newSchemaId, String changesJson)
      throws SQLException {
    List<String> sourceIds = new ArrayList<>();
    List<String> states = new ArrayList<>();
    request
        .sourceUpdates()
        .forEach(
            (sourceId, update) -> {
              sourceIds.add(sourceId);
              states.add(MetadataJson.stateJson(update.next()));
            });
    Integer expectedSchemaId =
        request.schemaChange() == null ? null : request.schemaChange().expectedSchemaId();
    try (PreparedStatement statement = connection.prepareStatement(WRITE_VERSION_POSTGRESQL)) {
      Jdbc.bind(
          statement,
          connection.createArrayOf("varchar", sourceIds.toArray()),
          connection.createArrayOf("varchar", states.toArray()),
          newSchemaId,
          tableId,
          expectedSchemaId,
          expectedSchemaId,
          tableId,
          request.operation(),
          request.idempotencyKey(),
          requestHash,
          MetadataJson.mapJson(request.summary()),
          changesJson,
          tableId,
          tableId);
      try (var rows = statement.executeQuery()) {
        return rows.next()
            ? new Written(rows.getLong(1), rows.getInt(2), Jdbc.instant(rows, 3))
            : null;
      }
    }
  }

  /** The embedded store: the same writes as separate statements (the table row is locked). */
  private Written writeStepwise(
      Connection connection, Locked locked, Integer newSchemaId, String changesJson)
      throws SQLException {
    long tableId = locked.tableId();
    Written previous =
        Jdbc.queryOne(
            connection,
            "SELECT current_version, current_schema_id, last_committed_at FROM harness_tables WHERE"
                + " table_id = ? FOR UPDATE",
            row -> new Written(row.getLong(1), row.getInt(2), Jdbc.instant(row, 3)),
            tableId);
    if (request.schemaChange() != null
        && previous.schemaId() != request.schemaChange().expectedSchemaId()) {
      return null;
    }
    Written written =
        new Written(
            previous.version() + 1,
            newSchemaId == null ? previous.schemaId() : newSchemaId,
            previous.committedAt().isAfter(locked.now()) ? previous.committedAt() : locked.now());
    Jdbc.update(
        connection,
        "UPDATE harness_tables SET current_version = ?, current_schema_id = ?, last_committed_at ="
            + " ? WHERE table_id = ?",
        written.version(),
        written.schemaId(),
        written.committedAt(),
        tableId);
    Jdbc.update(
        connection,
        "INSERT INTO harness_versions (table_id, version, schema_id, committed_at, operation,"
            + " idempotency_key, request_hash, summary, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tableId,
        written.version(),
        written.schemaId(),
        written.committedAt(),
        request.operation(),
        request.idempotencyKey(),
        requestHash,
        MetadataJson.mapJson(request.summary()),
        changesJson);
    try (PreparedStatement states =
            connection.prepareStatement(
                "INSERT INTO harness_source_states (table_id, source_id, version, state) VALUES (?,"
                    + " ?, ?, ?)");
        PreparedStatement current =
            connection.prepareStatement(
                "UPDATE harness_sources SET current_state = ? WHERE table_id = ? AND source_id ="
                    + " ?")) {
      for (Map.Entry<String, CommitRequest.SourceUpdate> entry :
          request.sourceUpdates().entrySet()) {
        String json = MetadataJson.stateJson(entry.getValue().next());
        Jdbc.bind(states, tableId, entry.getKey(), written.version(), json);
        states.addBatch();
        Jdbc.bind(current, json, tableId, entry.getKey());
        current.addBatch();
      }
      states.executeBatch();
      current.executeBatch();
    }
    return written;
  }

  /**
   * Inserts a new source's definition (with its current state and a free lease, fencing token 0);
   * its state rows are written with the version.
   */
  static void insertSource(
      Connection connection, long tableId, SourceDefinition source, SourceState state, long version)
      throws SQLException {
    Jdbc.update(
        connection,
        "INSERT INTO harness_sources (table_id, source_id, definition, added_version,"
            + " current_state) VALUES (?, ?, ?, ?, ?)",
        tableId,
        source.id(),
        MetadataJson.sourceJson(source),
        version,
        MetadataJson.stateJson(state));
  }

  private void writeExternalState(Connection connection, long tableId, long version)
      throws SQLException {
    for (Map.Entry<String, String> entry : request.externalState().entrySet()) {
      Jdbc.update(
          connection,
          "INSERT INTO harness_external_keys (table_id, state_key) SELECT ?, ? WHERE NOT EXISTS"
              + " (SELECT 1 FROM harness_external_keys WHERE table_id = ? AND state_key = ?)",
          tableId,
          entry.getKey(),
          tableId,
          entry.getKey());
      Jdbc.update(
          connection,
          "INSERT INTO harness_external_state (table_id, state_key, version, state_value) VALUES"
              + " (?, ?, ?, ?)",
          tableId,
          entry.getKey(),
          version,
          entry.getValue());
    }
  }
}
