package io.dataharness.metadata;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
 *   <li>take the next version number from the table row (held only until commit, so versions stay
 *       contiguous) and write the version, the changed states and the external state.
 * </ol>
 *
 * A failure anywhere rolls everything back: no partial version is ever visible.
 */
final class JdbcCommit {
  private static final Logger LOG = LoggerFactory.getLogger(JdbcCommit.class);

  private final JdbcHarnessStore store;
  private final CommitRequest request;
  private final TableIdentifier table;
  private final String requestHash;

  JdbcCommit(JdbcHarnessStore store, CommitRequest request) {
    this.store = store;
    this.request = request;
    this.table = request.table();
    this.requestHash = MetadataJson.hash(request.identity());
  }

  /** A touched source's row as locked by this commit. */
  private record SourceRow(
      SourceDefinition definition,
      SourceState state,
      Long removedVersion,
      JdbcHarnessStore.LockRow lock) {}

  TableVersion run() {
    long version = store.inTransaction("commit to " + table, this::attempt);
    return store.readVersion(table, version);
  }

  private long attempt(Connection connection) throws SQLException {
    JdbcHarnessStore.TableRow tableRow =
        store.tableRow(connection, table, store.dialect().serializeCommitsOnTable);
    long tableId = tableRow.tableId();
    Map<String, SourceRow> rows = lockSources(connection, tableId);
    Instant now =
        Jdbc.queryOne(connection, "SELECT " + store.dialect().now, row -> Jdbc.instant(row, 1));

    if (request.idempotencyKey() != null) {
      Long replayed = replayedVersion(connection, tableId);
      if (replayed != null) {
        LOG.info(
            "Commit to {} with idempotency key '{}' was already committed as version {}",
            table,
            request.idempotencyKey(),
            replayed);
        return replayed;
      }
    }
    List<SourceChange> changes = validate(rows, now);

    record Bumped(long version, int schemaId, Instant committedAt) {}
    Integer newSchemaId = request.schemaChange() == null ? null : nextSchemaId(connection, tableId);
    Bumped bumped =
        Jdbc.queryOne(
            connection,
            "SELECT current_version, current_schema_id, last_committed_at FROM harness_tables WHERE"
                + " table_id = ? FOR UPDATE",
            row ->
                new Bumped(
                    row.getLong(1) + 1,
                    newSchemaId == null ? row.getInt(2) : newSchemaId,
                    max(Jdbc.instant(row, 3), now)),
            tableId);
    if (request.schemaChange() != null) {
      checkSchemaChange(connection, tableId, tableRow);
      Jdbc.update(
          connection,
          "INSERT INTO harness_schemas (table_id, schema_id, fields) VALUES (?, ?, ?)",
          tableId,
          newSchemaId,
          MetadataJson.fieldsJson(request.schemaChange().fields()));
    }
    long version = bumped.version();
    Jdbc.update(
        connection,
        "UPDATE harness_tables SET current_version = ?, current_schema_id = ?, last_committed_at ="
            + " ? WHERE table_id = ?",
        version,
        bumped.schemaId(),
        bumped.committedAt(),
        tableId);
    Jdbc.update(
        connection,
        "INSERT INTO harness_versions (table_id, version, schema_id, committed_at, operation,"
            + " idempotency_key, request_hash, summary, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tableId,
        version,
        bumped.schemaId(),
        bumped.committedAt(),
        request.operation(),
        request.idempotencyKey(),
        requestHash,
        MetadataJson.mapJson(request.summary()),
        MetadataJson.changesJson(changes, request.externalState()));
    writeSourceChanges(connection, tableId, version);
    writeExternalState(connection, tableId, version);
    LOG.debug("Committed version {} of {} ({})", version, table, request.operation());
    return version;
  }

  private static Instant max(Instant a, Instant b) {
    return a.isAfter(b) ? a : b;
  }

  private Map<String, SourceRow> lockSources(Connection connection, long tableId)
      throws SQLException {
    List<String> touched = request.touchedSources();
    Map<String, SourceRow> rows = new HashMap<>();
    if (touched.isEmpty()) {
      return rows;
    }
    List<Object> parameters = new ArrayList<>();
    parameters.add(tableId);
    parameters.addAll(touched);
    Jdbc.query(
        connection,
        "SELECT s.source_id, s.definition, s.current_state, s.removed_version, l.owner,"
            + " l.fencing_token, l.acquired_at, l.expires_at FROM harness_sources s JOIN"
            + " harness_locks l ON l.table_id = s.table_id AND l.source_id = s.source_id WHERE"
            + " s.table_id = ? AND s.source_id IN ("
            + Jdbc.placeholders(touched.size())
            + ") ORDER BY s.source_id FOR UPDATE",
        row -> {
          Number removed = (Number) row.getObject("removed_version");
          return rows.put(
              row.getString("source_id"),
              new SourceRow(
                  MetadataJson.parseSource(row.getString("definition")),
                  MetadataJson.parseState(row.getString("current_state")),
                  removed == null ? null : removed.longValue(),
                  JdbcHarnessStore.lockRow(row)));
        },
        parameters.toArray());
    return rows;
  }

  private Long replayedVersion(Connection connection, long tableId) throws SQLException {
    record Previous(long version, String hash, String operation) {}
    Previous previous =
        Jdbc.queryOne(
            connection,
            "SELECT version, request_hash, operation FROM harness_versions WHERE table_id = ? AND"
                + " idempotency_key = ?",
            row -> new Previous(row.getLong(1), row.getString(2), row.getString(3)),
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
          previous.version(),
          previous.operation(),
          request.operation(),
          request.touchedSources());
    }
    return previous.version();
  }

  private List<SourceChange> validate(Map<String, SourceRow> rows, Instant now) {
    Map<String, SourceLock> presented = new HashMap<>();
    for (SourceLock lock : request.locks()) {
      SourceRow row = rows.get(lock.sourceId());
      if (row == null) {
        throw new NoSuchSourceException(
            "Cannot commit to %s: a lock is presented for source '%s', which the commit does not"
                + " change or the table does not have",
            table, lock.sourceId());
      }
      JdbcHarnessStore.checkHeld(lock, row.lock(), now, "commit to " + table);
      presented.put(lock.sourceId(), lock);
    }
    List<SourceChange> changes = new ArrayList<>();
    for (String sourceId : request.touchedSources()) {
      SourceRow row = rows.get(sourceId);
      boolean adding = request.addedSources().containsKey(sourceId);
      CommitRequest.SourceUpdate update = request.sourceUpdates().get(sourceId);
      Map<String, String> ids = request.externalIds().getOrDefault(sourceId, Map.of());
      if (adding) {
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
      row.state().checkTransition(sourceId, update.next());
      changes.add(new SourceChange(sourceId, row.state(), update.next(), ids));
    }
    return changes;
  }

  private int nextSchemaId(Connection connection, long tableId) throws SQLException {
    return Jdbc.queryOne(
            connection,
            "SELECT MAX(schema_id) FROM harness_schemas WHERE table_id = ?",
            row -> row.getInt(1),
            tableId)
        + 1;
  }

  private void checkSchemaChange(
      Connection connection, long tableId, JdbcHarnessStore.TableRow tableRow) throws SQLException {
    CommitRequest.SchemaChange change = request.schemaChange();
    int current =
        Jdbc.queryOne(
            connection,
            "SELECT current_schema_id FROM harness_tables WHERE table_id = ?",
            row -> row.getInt(1),
            tableId);
    if (current != change.expectedSchemaId()) {
      throw new CommitConflictException(
          "Cannot change the schema of %s: it changed since it was read (expected schema %d, now"
              + " %d); re-read the table and retry",
          table, change.expectedSchemaId(), current);
    }
    String fields =
        Jdbc.queryOne(
            connection,
            "SELECT fields FROM harness_schemas WHERE table_id = ? AND schema_id = ?",
            row -> row.getString(1),
            tableId,
            current);
    SchemaCompatibility.check(
        table,
        new Schema(current, MetadataJson.parseFields(fields)),
        change.fields(),
        tableRow.layout());
  }

  private void writeSourceChanges(Connection connection, long tableId, long version)
      throws SQLException {
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
        String sourceId = entry.getKey();
        SourceState next = entry.getValue().next();
        if (request.addedSources().containsKey(sourceId)) {
          insertSource(connection, tableId, request.addedSources().get(sourceId), next, version);
          continue;
        }
        String json = MetadataJson.stateJson(next);
        Jdbc.bind(states, tableId, sourceId, version, json);
        states.addBatch();
        Jdbc.bind(current, json, tableId, sourceId);
        current.addBatch();
      }
      states.executeBatch();
      current.executeBatch();
    }
    for (String removed : request.removedSources()) {
      Jdbc.update(
          connection,
          "UPDATE harness_sources SET removed_version = ? WHERE table_id = ? AND source_id = ?",
          version,
          tableId,
          removed);
    }
  }

  /** Inserts a new source: its definition, its first state and its (free) lock row. */
  static void insertSource(
      Connection connection, long tableId, SourceDefinition source, SourceState state, long version)
      throws SQLException {
    String json = MetadataJson.stateJson(state);
    Jdbc.update(
        connection,
        "INSERT INTO harness_sources (table_id, source_id, definition, added_version,"
            + " current_state) VALUES (?, ?, ?, ?, ?)",
        tableId,
        source.id(),
        MetadataJson.sourceJson(source),
        version,
        json);
    Jdbc.update(
        connection,
        "INSERT INTO harness_source_states (table_id, source_id, version, state) VALUES (?, ?, ?,"
            + " ?)",
        tableId,
        source.id(),
        version,
        json);
    Jdbc.update(
        connection,
        "INSERT INTO harness_locks (table_id, source_id, fencing_token) VALUES (?, ?, 0)",
        tableId,
        source.id());
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

  @Override
  public String toString() {
    return Objects.toString(request);
  }
}
