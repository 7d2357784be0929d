package io.dataharness.metadata;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * One atomic change of a harness table: new source states, added or removed sources, a new schema
 * and external state, committed together as the next version or not at all.
 *
 * <p>Concurrency: every source the transaction changes must be protected, either by presenting its
 * lock ({@link #withLock}) or by naming the state the writer read ({@link #setSourceState(String,
 * SourceState, SourceState)}), which the commit compares with the current one. Commits that change
 * different sources never fail each other: each becomes the next version whatever version it
 * started from. Commits on the same source are serialized, and a stale one fails with {@link
 * CommitConflictException}; no update is lost.
 *
 * <p>Locks and intents: a writer whose side effects outlive its commit (rows deleted from or
 * upserted into PostgreSQL, a staged Iceberg snapshot) must follow one protocol:
 *
 * <ol>
 *   <li>acquire the locks of every source it touches (with a {@link LeaseKeeper}, which renews
 *       them), in source id order;
 *   <li>before the first side effect that a later version could expose, commit {@link #openIntent}
 *       with those locks, describing the batch in the payload;
 *   <li>stage the side effects;
 *   <li>commit the new source states together with {@link #completeIntent}, under the same locks;
 *   <li>release the locks.
 * </ol>
 *
 * While an intent is open, the store refuses any commit that changes or removes one of its sources
 * with {@link IntentPendingException}, unless the commit completes the intent or presents locks
 * with the intent's exact fencing tokens (the writer that opened it, still holding its locks). A
 * rerun of an interrupted job finds the intent in {@link TableVersion#openIntents()} and must
 * complete or roll back exactly that batch before starting a new one.
 *
 * <p>Idempotency: with {@link #idempotencyKey}, committing again (a retried job) returns the
 * version the first commit produced and changes nothing; the same key with a different change fails
 * with {@link IdempotencyConflictException}. Intents opened and completed are part of the change,
 * so replaying a commit that opened or completed an intent returns its first version.
 *
 * <p>Every string a transaction carries is checked when it is set: a NUL character (U+0000) is
 * refused with a {@link ValidationException} naming the field, because PostgreSQL cannot store it.
 */
public final class Transaction {
  private final TableIdentifier table;
  private final Function<CommitRequest, VersionInfo> committer;
  private final BiFunction<CommitRequest, Connection, VersionInfo> connectionCommitter;
  private String operation = "commit";
  private String idempotencyKey;
  private final Map<String, CommitRequest.SourceUpdate> updates = new LinkedHashMap<>();
  private final Map<String, SourceDefinition> added = new LinkedHashMap<>();
  private final Set<String> removed = new HashSet<>();
  private final Map<String, SourceDefinition> redefined = new HashMap<>();
  private CommitRequest.SchemaChange schemaChange;
  private TableDefinition.Layout layout;
  private final Map<String, String> externalState = new LinkedHashMap<>();
  private final Map<String, String> summary = new LinkedHashMap<>();
  private final Map<String, Map<String, String>> externalIds = new LinkedHashMap<>();
  private final List<SourceLock> locks = new ArrayList<>();
  private final Map<String, CommitRequest.IntentRequest> openedIntents = new LinkedHashMap<>();
  private final Set<String> completedIntents = new TreeSet<>();
  private boolean committed;

  private static final Pattern INTENT_ID = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.:\\-]{0,255}");

  Transaction(TableIdentifier table, Function<CommitRequest, VersionInfo> committer) {
    this(table, committer, null);
  }

  Transaction(
      TableIdentifier table,
      Function<CommitRequest, VersionInfo> committer,
      BiFunction<CommitRequest, Connection, VersionInfo> connectionCommitter) {
    this.table = table;
    this.committer = committer;
    this.connectionCommitter = connectionCommitter;
  }

  /** What the commit does, recorded in the version ({@code append}, {@code move}, {@code sync}). */
  public Transaction operation(String operation) {
    this.operation = Names.check("operation", operation);
    return this;
  }

  /** Makes the commit idempotent: see the class documentation. */
  public Transaction idempotencyKey(String key) {
    if (key == null || key.isBlank() || key.length() > 512) {
      throw new ValidationException(
          "Invalid idempotency key for table %s: use 1 to 512 characters (IdempotencyKeys.of"
              + " derives a short fixed-size key from any number of parts)",
          table);
    }
    this.idempotencyKey = checkText("idempotency key", key);
    return this;
  }

  /** Presents a lock this writer holds; the commit fails if the lock is no longer held. */
  public Transaction withLock(SourceLock lock) {
    if (!lock.table().equals(table)) {
      throw new ValidationException(
          "Cannot use %s in a commit to table %s: it belongs to another table", lock, table);
    }
    locks.add(lock);
    return this;
  }

  /** Sets a source's state if it still is {@code expected} (compare-and-set). */
  public Transaction setSourceState(String sourceId, SourceState expected, SourceState next) {
    if (expected == null) {
      throw new ValidationException(
          "Cannot change source '%s' of %s: give the state you read, or present the source's lock"
              + " and use setSourceState(sourceId, next)",
          sourceId, table);
    }
    return putUpdate(sourceId, expected, next);
  }

  /** Sets a source's state under its lock (presented with {@link #withLock}). */
  public Transaction setSourceState(String sourceId, SourceState next) {
    return putUpdate(sourceId, null, next);
  }

  private Transaction putUpdate(String sourceId, SourceState expected, SourceState next) {
    if (next == null) {
      throw new ValidationException(
          "Cannot change source '%s' of %s: the new state is missing", sourceId, table);
    }
    if (updates.putIfAbsent(sourceId, new CommitRequest.SourceUpdate(expected, next)) != null) {
      throw new ValidationException(
          "Cannot change source '%s' of %s twice in one transaction", sourceId, table);
    }
    return this;
  }

  /** Adds a source, starting at {@code initialState}. */
  public Transaction addSource(SourceDefinition source, SourceState initialState) {
    if (initialState == null || initialState.kind() != source.kind()) {
      throw new ValidationException(
          "Cannot add source '%s' to %s: it needs an initial %s state",
          source.id(), table, source.kind().id());
    }
    if (added.putIfAbsent(source.id(), source) != null) {
      throw new AlreadyExistsException(
          "Cannot add source '%s' to %s twice in one transaction", source.id(), table);
    }
    updates.put(source.id(), new CommitRequest.SourceUpdate(null, initialState));
    return this;
  }

  /** Removes a source from the table from the next version on (its data is not touched). */
  public Transaction removeSource(String sourceId) {
    removed.add(sourceId);
    return this;
  }

  /**
   * Replaces the definition of an existing source (same id and kind), for example its column
   * mapping after a column rename. Definitions are not versioned: every version, old ones included,
   * reads the source through the new definition, so a change must keep what older schemas read
   * (keep the mappings of old column names). The commit must present the source's lock.
   */
  public Transaction redefineSource(SourceDefinition source) {
    if (redefined.putIfAbsent(source.id(), source) != null) {
      throw new ValidationException(
          "Cannot redefine source '%s' of %s twice in one transaction", source.id(), table);
    }
    return this;
  }

  /**
   * Replaces the table's layout (primary key, ordering column, partition columns, properties),
   * validated against the current schema. Like source definitions, the layout is not versioned:
   * every version reads with the current one.
   */
  public Transaction setLayout(TableDefinition.Layout layout) {
    this.layout = java.util.Objects.requireNonNull(layout, "layout");
    return this;
  }

  /** Replaces the schema, if the current schema id is still {@code expectedSchemaId}. */
  public Transaction setSchema(int expectedSchemaId, List<Field> fields) {
    new Schema(expectedSchemaId, fields); // validates the fields up front
    this.schemaChange = new CommitRequest.SchemaChange(expectedSchemaId, fields);
    return this;
  }

  /** Sets (or with null, removes) an external state key such as a consumer's offsets. */
  public Transaction setExternalState(String key, String value) {
    if (key == null || key.isBlank() || key.length() > 512) {
      throw new ValidationException(
          "Invalid external state key for table %s: use 1 to 512 characters", table);
    }
    checkText("external state key", key);
    checkText("external state value of '" + key + "'", value);
    externalState.put(key, value);
    return this;
  }

  /** Adds a summary entry (row counts, job ids), recorded with the version. */
  public Transaction summary(String key, String value) {
    checkText("summary key", key);
    checkText("summary value of '" + key + "'", value);
    summary.put(key, value);
    return this;
  }

  /** Records ids the write produced in a source's own system (an Iceberg snapshot id, offsets). */
  public Transaction externalIds(String sourceId, Map<String, String> ids) {
    ids.forEach(
        (key, value) -> {
          checkText("external id key of source '" + sourceId + "'", key);
          checkText("external id '" + key + "' of source '" + sourceId + "'", value);
        });
    externalIds.computeIfAbsent(sourceId, key -> new LinkedHashMap<>()).putAll(ids);
    return this;
  }

  /**
   * Opens a write-ahead intent in the version this commit produces: the writer is about to cause
   * side effects in {@code sources} that a later version could expose. See {@link Intent}.
   *
   * <p>The commit must present ({@link #withLock}) the held locks of every source; their owner and
   * fencing tokens are recorded in the intent. It is refused with {@link IntentPendingException} if
   * a source is already covered by another open intent (unless this commit completes that one), and
   * with {@link AlreadyExistsException} if the table ever had an intent with this id: ids are
   * single-use, so derive them from the batch and the run (for example with {@link
   * IdempotencyKeys#of}) or from a UUID.
   *
   * @param id 1 to 256 letters, digits, '_', '-', '.' or ':'
   * @param kind what the side effect is ({@code move}, {@code upsert}, {@code append})
   * @param sources the sources the side effects touch (at least one)
   * @param payload writer-defined JSON text: what to redo or undo (may be null)
   */
  public Transaction openIntent(
      String id, String kind, Collection<String> sources, String payload) {
    checkIntentId(id);
    Names.check("intent kind", kind);
    if (sources == null || sources.isEmpty()) {
      throw new ValidationException(
          "Cannot open intent '%s' on %s: it covers no source; name the sources its side effects"
              + " touch",
          id, table);
    }
    for (String source : sources) {
      if (source == null) {
        throw new ValidationException(
            "Cannot open intent '%s' on %s: a source id is missing in %s", id, table, sources);
      }
    }
    checkText("payload of intent '" + id + "'", payload);
    CommitRequest.IntentRequest intent =
        new CommitRequest.IntentRequest(id, kind, new ArrayList<>(sources), payload);
    for (CommitRequest.IntentRequest other : openedIntents.values()) {
      if (other.id().equals(id)) {
        throw new ValidationException(
            "Cannot open intent '%s' on %s twice in one transaction", id, table);
      }
      for (String source : intent.sources()) {
        if (other.sources().contains(source)) {
          throw new ValidationException(
              "Cannot open intents '%s' and '%s' on %s in one transaction: both cover source"
                  + " '%s'; a source is covered by at most one open intent",
              other.id(), id, table, source);
        }
      }
    }
    openedIntents.put(id, intent);
    return this;
  }

  /**
   * Closes an open intent in the version this commit produces: its side effects are now recorded
   * (or were rolled back, or an operator abandons it). The commit must present the held locks of
   * every source of the intent. Completing an intent that is not open is refused with a {@link
   * CommitConflictException} (unless the whole commit is an idempotent replay).
   */
  public Transaction completeIntent(String id) {
    checkIntentId(id);
    completedIntents.add(id);
    return this;
  }

  private void checkIntentId(String id) {
    if (id == null || !INTENT_ID.matcher(id).matches()) {
      throw new ValidationException(
          "Invalid intent id '%s' for table %s: use 1 to 256 letters, digits, '_', '-', '.' or"
              + " ':'",
          id, table);
    }
  }

  /** Refuses NUL characters, which PostgreSQL cannot store, naming the field. */
  private String checkText(String field, String value) {
    if (value != null && value.indexOf('\0') >= 0) {
      throw new ValidationException(
          "Invalid %s for table %s: it contains a NUL character (\\u0000), which the metadata"
              + " store cannot keep; remove or escape it",
          field, table);
    }
    return value;
  }

  /**
   * Commits the transaction as the table's next version and returns that version's number and
   * commit record (read the whole version with {@link HarnessStore#readVersion}). Its cost grows
   * with the sources it changes, not with the sources the table has. A transaction commits at most
   * once.
   */
  public VersionInfo commit() {
    return commitWith(committer::apply);
  }

  /**
   * Writes the commit inside the caller's open database transaction, without committing it: the
   * version lands when, and only if, the caller commits {@code connection}. This lets a writer
   * change rows of a table in the store's own database and record the new version in one database
   * transaction (the "basement" setup, where the harness metadata lives beside a jdbc source).
   *
   * <p>The connection must be to the store's database (the same server and database; the harness
   * tables must be visible to its user) with auto-commit off. Everything else works as in {@link
   * #commit()}: locks are checked, an idempotency key that already produced a version returns that
   * version. The store does not retry here; after any exception the caller must roll back. The
   * returned version is only real once the caller's commit succeeds.
   *
   * @throws ValidationException if the store cannot commit on a caller's connection (the embedded
   *     store), or the connection is not to the store's database or has auto-commit on
   */
  public VersionInfo commitUsing(Connection connection) {
    if (connection == null) {
      throw new ValidationException("Cannot commit to %s: the connection is missing", table);
    }
    if (connectionCommitter == null) {
      throw new ValidationException(
          "Cannot commit to %s inside a caller's database transaction: this store does not"
              + " support it; use commit()",
          table);
    }
    return commitWith(request -> connectionCommitter.apply(request, connection));
  }

  private Long rollbackTo;

  /**
   * Marks the commit as a rollback to {@code version}: the sources whose states it sets (restoring
   * what that version recorded) may move back, which other commits may not, and only under their
   * presented locks; and it forgets the idempotency keys of the versions after {@code version}, in
   * the same database transaction, since their writes were undone: a writer that writes one of
   * those batches again commits it anew instead of being told it was a replay.
   */
  public Transaction rollbackTo(long version) {
    this.rollbackTo = version;
    return this;
  }

  private VersionInfo commitWith(Function<CommitRequest, VersionInfo> how) {
    if (committed) {
      throw new IllegalStateException("Transaction on " + table + " was already committed");
    }
    CommitRequest request =
        new CommitRequest(
            table,
            operation,
            idempotencyKey,
            updates,
            added,
            removed,
            redefined,
            schemaChange,
            layout,
            externalState,
            summary,
            externalIds,
            locks,
            openedIntents,
            completedIntents,
            rollbackTo);
    if (request.isEmpty()) {
      throw new ValidationException("Cannot commit to %s: the transaction changes nothing", table);
    }
    VersionInfo version = how.apply(request);
    committed = true;
    return version;
  }
}
