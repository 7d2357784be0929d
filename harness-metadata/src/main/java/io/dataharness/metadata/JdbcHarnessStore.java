package io.dataharness.metadata;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The harness store on a JDBC database: PostgreSQL in production, H2 for the embedded store. Both
 * run the same SQL; {@link Dialect} holds what differs. Commits are implemented in {@link
 * JdbcCommit}.
 */
final class JdbcHarnessStore implements HarnessStore {
  private static final Logger LOG = LoggerFactory.getLogger(JdbcHarnessStore.class);
  private static final int MAX_ATTEMPTS = 8;

  private final Dialect dialect;
  private final HikariDataSource dataSource;
  private final String description;
  private final String jdbcUrl;
  private final String user;
  private final String password;
  // the password and the secrets of the URL, hidden from messages that quote a driver's message
  private final java.util.List<String> secrets;
  private volatile String databaseIdentity;

  JdbcHarnessStore(String jdbcUrl, String user, String password, int poolSize) {
    this.dialect = Dialect.forUrl(jdbcUrl);
    this.description =
        dialect.name().toLowerCase(java.util.Locale.ROOT) + " store at " + Secrets.maskUrl(jdbcUrl);
    this.jdbcUrl = jdbcUrl;
    this.user = user;
    this.password = password;
    java.util.List<String> secrets = new java.util.ArrayList<>(Secrets.urlSecrets(jdbcUrl));
    if (password != null) {
      secrets.add(password);
    }
    this.secrets = java.util.List.copyOf(secrets);
    refuseWrongCredentials();
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(jdbcUrl);
    config.setUsername(user);
    config.setPassword(password);
    config.setMaximumPoolSize(poolSize);
    config.setMinimumIdle(1);
    config.setPoolName("harness-metadata");
    config.setConnectionTimeout(10_000);
    config.setInitializationFailTimeout(-1);
    config.setTransactionIsolation("TRANSACTION_READ_COMMITTED");
    this.dataSource = new HikariDataSource(config);
    try (Connection connection = connect()) {
      Migrations.apply(connection, dialect);
    } catch (SQLException e) {
      dataSource.close();
      throw unavailable(e, "open");
    } catch (RuntimeException e) {
      dataSource.close();
      throw e;
    }
    LOG.info("Opened harness metadata {}", description);
  }

  /**
   * Fails at once when the store refuses the credentials: the pool would retry them until its
   * connection timeout and then report only the timeout. Any other failure (the store down) is left
   * to the pool, which waits for the store as before.
   */
  private void refuseWrongCredentials() {
    try {
      checkLogin();
    } catch (MetadataStoreException e) {
      if (e.getCause() instanceof SQLException sql && credentialsRefused(sql) != null) {
        throw e;
      }
    }
  }

  @Override
  public void checkLogin() {
    java.util.Properties properties = new java.util.Properties();
    if (user != null) {
      properties.setProperty("user", user);
    }
    if (password != null) {
      properties.setProperty("password", password);
    }
    try (Connection connection = java.sql.DriverManager.getConnection(jdbcUrl, properties)) {
      connection.isValid(10);
    } catch (SQLException e) {
      throw unavailable(e, "log in");
    }
  }

  DataSource dataSource() {
    return dataSource;
  }

  Dialect dialect() {
    return dialect;
  }

  @Override
  public String description() {
    return description;
  }

  @Override
  public void close() {
    dataSource.close();
  }

  /**
   * Which PostgreSQL database a connection is on: database name, server port and server start time
   * (host names differ between clients, these do not).
   */
  static String databaseIdentity(Connection connection) throws SQLException {
    return Jdbc.queryOne(
        connection,
        "SELECT current_database() || ' (port ' || COALESCE(inet_server_port()::text, 'socket')"
            + " || ', server started ' || pg_postmaster_start_time()::text || ')'",
        row -> row.getString(1));
  }

  /** {@link #databaseIdentity(Connection)} of this store (PostgreSQL only). */
  String databaseIdentity() {
    String identity = databaseIdentity;
    if (identity == null) {
      identity = read("identify the database", JdbcHarnessStore::databaseIdentity);
      databaseIdentity = identity;
    }
    return identity;
  }

  /** How often {@link #read} tries work whose connection was lost. */
  static final int READ_ATTEMPTS = 3;

  Connection connect() throws SQLException {
    return dataSource.getConnection();
  }

  /** A unit of work on one connection. */
  @FunctionalInterface
  interface Work<T> {
    T run(Connection connection) throws SQLException;
  }

  /** Runs work in one transaction, retrying it after deadlocks and serialization failures. */
  <T> T inTransaction(String action, Work<T> work) {
    for (int attempt = 1; ; attempt++) {
      try (Connection connection = connect()) {
        connection.setAutoCommit(false);
        try {
          T result = work.run(connection);
          connection.commit();
          return result;
        } catch (SQLException | RuntimeException e) {
          rollbackQuietly(connection);
          throw e;
        }
      } catch (SQLException e) {
        if (Dialect.isRetryable(e) && attempt < MAX_ATTEMPTS) {
          LOG.debug("Retrying {} after {} (attempt {})", action, e.getSQLState(), attempt);
          continue;
        }
        throw unavailable(e, action);
      }
    }
  }

  /**
   * Runs read-only work, retrying it (up to {@value #READ_ATTEMPTS} times) when its connection was
   * lost: the server restarted, or an administrator or a failover terminated the pool's
   * connections. The pool's other idle connections are likely gone too, so they are evicted first.
   */
  <T> T read(String action, Work<T> work) {
    for (int attempt = 1; ; attempt++) {
      try (Connection connection = connect()) {
        return work.run(connection);
      } catch (SQLException e) {
        if (!SqlStates.isConnectionLost(e) || attempt == READ_ATTEMPTS) {
          throw unavailable(e, action);
        }
        LOG.warn(
            "Retrying {} in the {} (attempt {} of {}): the connection was lost ({}, SQLSTATE {})",
            action,
            description,
            attempt + 1,
            READ_ATTEMPTS,
            Secrets.scrub(e.getMessage(), secrets),
            e.getSQLState());
        dataSource.getHikariPoolMXBean().softEvictConnections();
        pause(attempt * 100L);
      }
    }
  }

  private static void pause(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new MetadataStoreException(e, "Interrupted while waiting to retry a metadata read");
    }
  }

  private static void rollbackQuietly(Connection connection) {
    try {
      connection.rollback();
    } catch (SQLException ignored) {
      // the connection is broken; the database rolls the transaction back
    }
  }

  MetadataStoreException unavailable(SQLException e, String action) {
    SQLException refused = credentialsRefused(e);
    if (refused != null) {
      // the pool reports only a timeout; the driver's refusal is in its cause
      return new MetadataStoreException(
          Secrets.scrub(e, secrets),
          "Cannot %s in the %s: the store refused the credentials of user %s (%s, SQLSTATE %s);"
              + " check the catalog's user and password",
          action,
          description,
          user,
          Secrets.scrub(refused.getMessage(), secrets),
          refused.getSQLState());
    }
    String hint =
        e instanceof SQLTransientConnectionException
                || String.valueOf(e.getSQLState()).startsWith("08")
            ? "check that the metadata store is running and reachable, and the catalog's uri,"
                + " user and password"
            : "SQLSTATE " + e.getSQLState();
    return new MetadataStoreException(
        Secrets.scrub(e, secrets),
        "Cannot %s in the %s: %s (%s)",
        action,
        description,
        Secrets.scrub(e.getMessage(), secrets),
        hint);
  }

  /** The error in e's causes that refused the login (SQLSTATE class 28), or null. */
  private static SQLException credentialsRefused(Throwable e) {
    return Causes.first(
            e,
            SQLException.class,
            sql -> sql.getSQLState() != null && sql.getSQLState().startsWith("28"))
        .orElse(null);
  }

  // ---- namespaces ----

  @Override
  public void createNamespace(String namespace, Map<String, String> properties) {
    Names.check("namespace", namespace);
    inTransaction(
        "create namespace " + namespace,
        connection -> {
          if (namespaceRow(connection, namespace)) {
            throw new AlreadyExistsException(
                "Cannot create namespace %s: it already exists", namespace);
          }
          return Jdbc.update(
              connection,
              "INSERT INTO harness_namespaces (namespace, properties, created_at) VALUES (?, ?,"
                  + " CURRENT_TIMESTAMP)",
              namespace,
              MetadataJson.mapJson(properties == null ? Map.of() : properties));
        });
  }

  private static boolean namespaceRow(Connection connection, String namespace) throws SQLException {
    return Jdbc.queryOne(
            connection,
            "SELECT 1 FROM harness_namespaces WHERE namespace = ?",
            row -> true,
            namespace)
        != null;
  }

  @Override
  public boolean namespaceExists(String namespace) {
    return read("find namespace " + namespace, connection -> namespaceRow(connection, namespace));
  }

  @Override
  public List<String> listNamespaces() {
    return read(
        "list namespaces",
        connection ->
            Jdbc.query(
                connection,
                "SELECT namespace FROM harness_namespaces ORDER BY namespace",
                row -> row.getString(1)));
  }

  @Override
  public Map<String, String> namespaceProperties(String namespace) {
    String json =
        read(
            "load namespace " + namespace,
            connection ->
                Jdbc.queryOne(
                    connection,
                    "SELECT properties FROM harness_namespaces WHERE namespace = ?",
                    row -> row.getString(1),
                    namespace));
    if (json == null) {
      throw noSuchNamespace(namespace);
    }
    return MetadataJson.parseMap(json);
  }

  private static NoSuchNamespaceException noSuchNamespace(String namespace) {
    return new NoSuchNamespaceException(
        "Cannot find namespace %s: create it first (CREATE NAMESPACE %s)", namespace, namespace);
  }

  @Override
  public void dropNamespace(String namespace) {
    inTransaction(
        "drop namespace " + namespace,
        connection -> {
          List<String> tables =
              Jdbc.query(
                  connection,
                  "SELECT table_name FROM harness_tables WHERE namespace = ? ORDER BY table_name",
                  row -> row.getString(1),
                  namespace);
          if (!tables.isEmpty()) {
            throw new ValidationException(
                "Cannot drop namespace %s: it still has tables %s; drop them first",
                namespace, tables);
          }
          if (Jdbc.update(
                  connection, "DELETE FROM harness_namespaces WHERE namespace = ?", namespace)
              == 0) {
            throw noSuchNamespace(namespace);
          }
          return null;
        });
  }

  // ---- tables ----

  /** The row of a table, as read by every operation on it. */
  record TableRow(
      long tableId,
      TableIdentifier identifier,
      String uuid,
      TableDefinition.Layout layout,
      long currentVersion,
      int currentSchemaId,
      Instant createdAt,
      long oldestVersion,
      String expiry) {
    HarnessTable toTable() {
      return new HarnessTable(identifier, uuid, layout, currentVersion, createdAt, oldestVersion);
    }
  }

  TableRow tableRow(Connection connection, TableIdentifier table, boolean forUpdate)
      throws SQLException {
    TableRow row =
        Jdbc.queryOne(
            connection,
            "SELECT table_id, table_uuid, layout, current_version, current_schema_id, created_at,"
                + " oldest_version, expiry FROM harness_tables WHERE namespace = ? AND table_name"
                + " = ?"
                + (forUpdate ? " FOR UPDATE" : ""),
            result ->
                new TableRow(
                    result.getLong("table_id"),
                    table,
                    result.getString("table_uuid"),
                    MetadataJson.parseLayout(result.getString("layout")),
                    result.getLong("current_version"),
                    result.getInt("current_schema_id"),
                    Jdbc.instant(result, "created_at"),
                    result.getLong("oldest_version"),
                    result.getString("expiry")),
            table.namespace(),
            table.name());
    if (row == null) {
      throw new NoSuchTableException(
          "Cannot find table %s in the %s: check the name, or create it", table, description);
    }
    return row;
  }

  @Override
  public HarnessTable createTable(TableDefinition definition) {
    TableIdentifier table = definition.identifier();
    return inTransaction(
        "create table " + table,
        connection -> {
          if (!namespaceRow(connection, table.namespace())) {
            throw noSuchNamespace(table.namespace());
          }
          if (Jdbc.queryOne(
                  connection,
                  "SELECT 1 FROM harness_tables WHERE namespace = ? AND table_name = ?",
                  row -> true,
                  table.namespace(),
                  table.name())
              != null) {
            throw new AlreadyExistsException("Cannot create table %s: it already exists", table);
          }
          Instant now =
              Jdbc.queryOne(connection, "SELECT " + dialect.now, row -> Jdbc.instant(row, 1));
          String uuid = UUID.randomUUID().toString();
          Jdbc.update(
              connection,
              "INSERT INTO harness_tables (namespace, table_name, table_uuid, layout,"
                  + " current_version, current_schema_id, last_committed_at, created_at) VALUES (?,"
                  + " ?, ?, ?, 1, 1, ?, ?)",
              table.namespace(),
              table.name(),
              uuid,
              MetadataJson.layoutJson(definition.layout()),
              now,
              now);
          long tableId = tableRow(connection, table, false).tableId();
          Jdbc.update(
              connection,
              "INSERT INTO harness_schemas (table_id, schema_id, fields) VALUES (?, 1, ?)",
              tableId,
              MetadataJson.fieldsJson(definition.schema().fields()));
          List<SourceChange> changes = new ArrayList<>();
          for (SourceDefinition source : definition.sources().values()) {
            SourceState state = definition.initialStates().get(source.id());
            JdbcCommit.insertSource(connection, tableId, source, state, 1);
            Jdbc.update(
                connection,
                "INSERT INTO harness_source_states (table_id, source_id, version, state) VALUES"
                    + " (?, ?, 1, ?)",
                tableId,
                source.id(),
                MetadataJson.stateJson(state));
            changes.add(new SourceChange(source.id(), null, state, Map.of()));
          }
          Jdbc.update(
              connection,
              "INSERT INTO harness_versions (table_id, version, schema_id, committed_at, operation,"
                  + " summary, changes) VALUES (?, 1, 1, ?, 'create', ?, ?)",
              tableId,
              now,
              MetadataJson.mapJson(Map.of("sources", String.valueOf(changes.size()))),
              MetadataJson.changesJson(changes, Map.of()));
          LOG.info("Created table {} with sources {}", table, definition.sources().keySet());
          return new HarnessTable(table, uuid, definition.layout(), 1, now, 1);
        });
  }

  @Override
  public HarnessTable loadTable(TableIdentifier table) {
    return read("load table " + table, connection -> tableRow(connection, table, false).toTable());
  }

  @Override
  public boolean tableExists(TableIdentifier table) {
    return read(
        "find table " + table,
        connection ->
            Jdbc.queryOne(
                    connection,
                    "SELECT 1 FROM harness_tables WHERE namespace = ? AND table_name = ?",
                    row -> true,
                    table.namespace(),
                    table.name())
                != null);
  }

  @Override
  public List<TableIdentifier> listTables(String namespace) {
    return read(
        "list tables in " + namespace,
        connection -> {
          if (!namespaceRow(connection, namespace)) {
            throw noSuchNamespace(namespace);
          }
          return Jdbc.query(
              connection,
              "SELECT table_name FROM harness_tables WHERE namespace = ? ORDER BY table_name",
              row -> new TableIdentifier(namespace, row.getString(1)),
              namespace);
        });
  }

  @Override
  public void dropTable(TableIdentifier table) {
    inTransaction(
        "drop table " + table,
        connection -> {
          long tableId = tableRow(connection, table, true).tableId();
          for (String name :
              List.of(
                  "harness_intents",
                  "harness_external_state",
                  "harness_external_keys",
                  "harness_source_states",
                  "harness_state_checkpoints",
                  "harness_sources",
                  "harness_versions",
                  "harness_schemas",
                  "harness_tables")) {
            Jdbc.update(connection, "DELETE FROM " + name + " WHERE table_id = ?", tableId);
          }
          LOG.info("Dropped table {} (its sources' data is untouched)", table);
          return null;
        });
  }

  @Override
  public void renameTable(TableIdentifier from, TableIdentifier to) {
    inTransaction(
        "rename table " + from + " to " + to,
        connection -> {
          TableRow row = tableRow(connection, from, true);
          if (!namespaceRow(connection, to.namespace())) {
            throw new NoSuchNamespaceException(
                "Cannot rename table %s to %s: namespace %s does not exist; create it first",
                from, to, to.namespace());
          }
          if (Jdbc.queryOne(
                  connection,
                  "SELECT 1 FROM harness_tables WHERE namespace = ? AND table_name = ?",
                  result -> true,
                  to.namespace(),
                  to.name())
              != null) {
            throw new AlreadyExistsException(
                "Cannot rename table %s to %s: a table of that name exists", from, to);
          }
          // running writers address the table by name: renaming under them would fail their
          // commits after their side effects, so wait until none holds a lock or an intent
          List<String> held =
              Jdbc.query(
                  connection,
                  "SELECT source_id, lock_owner, lock_expires_at FROM harness_sources WHERE table_id"
                      + " = ? AND lock_owner IS NOT NULL AND lock_expires_at > "
                      + dialect.now
                      + " ORDER BY source_id FOR UPDATE",
                  result ->
                      String.format(
                          "'%s' (held by '%s' until %s)",
                          result.getString(1), result.getString(2), Jdbc.instant(result, 3)),
                  row.tableId());
          List<String> intents =
              Jdbc.query(
                  connection,
                  "SELECT intent_id, kind, owner FROM harness_intents WHERE table_id = ? AND"
                      + " completed_version IS NULL ORDER BY intent_id",
                  result ->
                      String.format(
                          "%s (%s by '%s')",
                          result.getString(1), result.getString(2), result.getString(3)),
                  row.tableId());
          if (!held.isEmpty() || !intents.isEmpty()) {
            throw new CommitConflictException(
                "Cannot rename table %s to %s: writers are at work on it (locked sources: %s;"
                    + " open intents: %s); retry once they finish, or stop them first",
                from,
                to,
                held.isEmpty() ? "none" : String.join(", ", held),
                intents.isEmpty() ? "none" : String.join(", ", intents));
          }
          Jdbc.update(
              connection,
              "UPDATE harness_tables SET namespace = ?, table_name = ? WHERE table_id = ?",
              to.namespace(),
              to.name(),
              row.tableId());
          LOG.info("Renamed table {} to {} (uuid {})", from, to, row.uuid());
          return null;
        });
  }

  // ---- expiry ----

  private static NoSuchVersionException expired(TableRow table, String what) {
    return new NoSuchVersionException(
        "Cannot read table %s %s: it was expired (%s); the oldest version kept is %d. Read a kept"
            + " version, or keep more versions when expiring (older_than, retain_last)",
        table.identifier(), what, table.expiry(), table.oldestVersion());
  }

  @Override
  public long expiryBoundary(TableIdentifier table, Instant olderThan, int retainLast) {
    if (retainLast < 1) {
      throw new ValidationException(
          "Invalid retain_last %d for the expiry of %s: use 1 or more (the latest version is always"
              + " kept)",
          retainLast, table);
    }
    return read(
        "find the expiry boundary of " + table,
        connection -> {
          TableRow row = tableRow(connection, table, false);
          Long firstRecent =
              Jdbc.queryOne(
                  connection,
                  "SELECT MIN(version) FROM harness_versions WHERE table_id = ? AND committed_at"
                      + " >= ?",
                  result -> result.getObject(1) == null ? null : result.getLong(1),
                  row.tableId(),
                  olderThan);
          long keepFrom = firstRecent == null ? row.currentVersion() : firstRecent;
          keepFrom = Math.min(keepFrom, row.currentVersion() - retainLast + 1);
          return Math.max(keepFrom, row.oldestVersion());
        });
  }

  @Override
  public ExpiredVersions expireVersions(TableIdentifier table, long keepFrom, String retention) {
    return inTransaction(
        "expire versions of " + table + " before " + keepFrom,
        connection -> {
          TableRow row = tableRow(connection, table, true);
          long oldest = Math.min(keepFrom, row.currentVersion());
          if (oldest <= row.oldestVersion()) {
            return new ExpiredVersions(table, row.oldestVersion(), 0, 0, 0, 0, 0);
          }
          long id = row.tableId();
          // sources retired before the oldest kept version: no kept version reads them
          List<String> retired =
              Jdbc.query(
                  connection,
                  "SELECT source_id FROM harness_sources WHERE table_id = ? AND removed_version IS"
                      + " NOT NULL AND removed_version <= ?",
                  result -> result.getString(1),
                  id,
                  oldest);
          long states = 0;
          for (String source : retired) {
            states +=
                Jdbc.update(
                    connection,
                    "DELETE FROM harness_source_states WHERE table_id = ? AND source_id = ?",
                    id,
                    source);
            Jdbc.update(
                connection,
                "DELETE FROM harness_sources WHERE table_id = ? AND source_id = ?",
                id,
                source);
          }
          // per source (and external key), every state record older than the one the oldest kept
          // version reads
          states +=
              Jdbc.update(
                  connection,
                  "DELETE FROM harness_source_states WHERE table_id = ? AND version < (SELECT"
                      + " MAX(k.version) FROM harness_source_states k WHERE k.table_id ="
                      + " harness_source_states.table_id AND k.source_id ="
                      + " harness_source_states.source_id AND k.version <= ?)",
                  id,
                  oldest);
          states +=
              Jdbc.update(
                  connection,
                  "DELETE FROM harness_external_state WHERE table_id = ? AND version < (SELECT"
                      + " MAX(k.version) FROM harness_external_state k WHERE k.table_id ="
                      + " harness_external_state.table_id AND k.state_key ="
                      + " harness_external_state.state_key AND k.version <= ?)",
                  id,
                  oldest);
          int intents =
              Jdbc.update(
                  connection,
                  "DELETE FROM harness_intents WHERE table_id = ? AND completed_version IS NOT NULL"
                      + " AND completed_version <= ?",
                  id,
                  oldest);
          Jdbc.update(
              connection,
              "DELETE FROM harness_state_checkpoints WHERE table_id = ? AND version < ?",
              id,
              oldest);
          long versions =
              Jdbc.update(
                  connection,
                  "DELETE FROM harness_versions WHERE table_id = ? AND version < ?",
                  id,
                  oldest);
          int schemas =
              Jdbc.update(
                  connection,
                  "DELETE FROM harness_schemas WHERE table_id = ? AND schema_id <> ? AND NOT EXISTS"
                      + " (SELECT 1 FROM harness_versions v WHERE v.table_id ="
                      + " harness_schemas.table_id AND v.schema_id = harness_schemas.schema_id)",
                  id,
                  row.currentSchemaId());
          Instant now =
              Jdbc.queryOne(connection, "SELECT " + dialect.now, result -> Jdbc.instant(result, 1));
          String expiry =
              "versions before " + oldest + " were removed at " + now + " by " + retention;
          Jdbc.update(
              connection,
              "UPDATE harness_tables SET oldest_version = ?, expiry = ? WHERE table_id = ?",
              oldest,
              expiry,
              id);
          // the checkpoints before it are gone with the versions after them: the first kept
          // version gets one, so the versions up to the next read from checkpoints too
          writeCheckpoint(connection, row, oldest);
          LOG.info(
              "Expired {} versions of {} ({}): {} state records, {} retired sources, {} schemas, {}"
                  + " intents removed",
              versions,
              table,
              expiry,
              states,
              retired.size(),
              schemas,
              intents);
          return new ExpiredVersions(
              table, oldest, versions, states, retired.size(), schemas, intents);
        });
  }

  // ---- versions ----

  /** Group commit per table (see {@link CommitBatcher}). */
  private final Map<TableIdentifier, CommitBatcher> batchers = new ConcurrentHashMap<>();

  /**
   * A source's current state as this process last saw it: the id of the table it belongs to, the
   * stored JSON and its parse.
   */
  record KnownState(long tableId, String json, SourceState state) {}

  /**
   * The states this process last read or wrote, per table and source: a hint that lets a plain
   * state commit validate before it reaches the database and then check and write in one call (the
   * database writes it only if the stored state is still exactly this JSON; if not, the commit
   * takes the statement-by-statement path). A wrong hint costs a round trip, never correctness.
   */
  private final Map<TableIdentifier, Map<String, KnownState>> knownStates =
      new ConcurrentHashMap<>();

  KnownState knownState(TableIdentifier table, String sourceId) {
    Map<String, KnownState> states = knownStates.get(table);
    return states == null ? null : states.get(sourceId);
  }

  void rememberState(
      TableIdentifier table, long tableId, String sourceId, String json, SourceState state) {
    if (dialect != Dialect.POSTGRESQL) {
      return; // only the PostgreSQL commit uses them
    }
    Map<String, KnownState> states =
        knownStates.computeIfAbsent(table, key -> new ConcurrentHashMap<>());
    if (states.size() > 100_000) {
      states.clear();
    }
    states.put(sourceId, new KnownState(tableId, json, state));
  }

  /** Forgets what this process knows of a table's states (its id may have changed). */
  void forgetStates(TableIdentifier table) {
    knownStates.remove(table);
  }

  void forgetState(TableIdentifier table, String sourceId) {
    Map<String, KnownState> states = knownStates.get(table);
    if (states != null) {
      states.remove(sourceId);
    }
  }

  /** The group commit of a table in this process. */
  CommitBatcher batcher(TableIdentifier table) {
    return batchers.computeIfAbsent(table, key -> new CommitBatcher(this, key));
  }

  @Override
  public Transaction newTransaction(TableIdentifier table) {
    return new Transaction(
        table,
        request -> checkpointAfter(table, batcher(table).commit(new JdbcCommit(this, request))),
        (request, connection) -> {
          VersionInfo info = new JdbcCommit(this, request).runOn(connection);
          if (isCheckpoint(info.version())) {
            try {
              writeCheckpoint(connection, tableRow(connection, table, false), info.version());
            } catch (SQLException e) {
              // the caller's transaction may be aborted: it rolls back and retries the commit
              throw unavailable(e, "write the state checkpoint of " + table);
            }
          }
          return info;
        });
  }

  // ---- state checkpoints (migration 5) ----

  /** Every this many versions, a version's committer writes a checkpoint of its states. */
  static final int CHECKPOINT_EVERY = 1000;

  private volatile int checkpointEvery = CHECKPOINT_EVERY;

  /** Changes the checkpoint interval (for tests that need checkpoints of a few versions). */
  void checkpointEvery(int versions) {
    checkpointEvery = versions;
  }

  /** How many version reads took a checkpoint and the changes after it (for tests). */
  private final AtomicLong checkpointedReads = new AtomicLong();

  long checkpointedReads() {
    return checkpointedReads.get();
  }

  /** The versions of a table that have a state checkpoint (for tests). */
  List<Long> checkpoints(TableIdentifier table) {
    return read(
        "list the state checkpoints of " + table,
        connection ->
            Jdbc.query(
                connection,
                "SELECT version FROM harness_state_checkpoints WHERE table_id = ? ORDER BY"
                    + " version",
                row -> row.getLong(1),
                tableRow(connection, table, false).tableId()));
  }

  private boolean isCheckpoint(long version) {
    return version % checkpointEvery == 0;
  }

  /**
   * Writes the checkpoint of a version just committed, if it is one, in a transaction of its own:
   * the version is committed, so a failure here only leaves its readers on the slower path.
   */
  private VersionInfo checkpointAfter(TableIdentifier table, VersionInfo info) {
    if (isCheckpoint(info.version())) {
      try {
        inTransaction(
            "write the state checkpoint of version " + info.version() + " of " + table,
            connection -> {
              writeCheckpoint(connection, tableRow(connection, table, false), info.version());
              return null;
            });
      } catch (RuntimeException e) {
        LOG.warn(
            "Committed version {} of {} but could not write its state checkpoint; reads of the"
                + " versions after it take longer until the next checkpoint",
            info.version(),
            table,
            e);
      }
    }
    return info;
  }

  /** Writes the states of a committed version as its checkpoint, unless it has one already. */
  private void writeCheckpoint(Connection connection, TableRow row, long version)
      throws SQLException {
    Map<String, SourceState> states = new TreeMap<>();
    readSources(connection, row, version, new TreeMap<>(), states);
    Jdbc.update(
        connection,
        "INSERT INTO harness_state_checkpoints (table_id, version, states) SELECT ?, ?, ? WHERE NOT"
            + " EXISTS (SELECT 1 FROM harness_state_checkpoints WHERE table_id = ? AND version ="
            + " ?)",
        row.tableId(),
        version,
        MetadataJson.checkpointJson(states),
        row.tableId(),
        version);
  }

  /**
   * Reads the sources of an old version and their states from the checkpoint at or before it (at
   * most two intervals back) and the changes of the versions after that checkpoint, instead of
   * looking each source's state up. Returns false, having added nothing, when there is no such
   * checkpoint or the versions after it are not all there (expired meanwhile).
   */
  private boolean readCheckpointed(
      Connection connection,
      TableRow table,
      long version,
      Map<String, SourceDefinition> sources,
      Map<String, SourceState> states)
      throws SQLException {
    int every = checkpointEvery;
    if (version < every) {
      return false;
    }
    record Checkpoint(long version, String states) {}
    Checkpoint checkpoint =
        Jdbc.queryOne(
            connection,
            "SELECT version, states FROM harness_state_checkpoints WHERE table_id = ? AND version"
                + " <= ? AND version > ? ORDER BY version DESC LIMIT 1",
            row -> new Checkpoint(row.getLong(1), row.getString(2)),
            table.tableId(),
            version,
            version - 2L * every);
    if (checkpoint == null) {
      return false;
    }
    // newest first: the first change of a source is its state at the version
    Map<String, SourceState> changed = new HashMap<>();
    List<Boolean> read =
        Jdbc.query(
            connection,
            "SELECT changes FROM harness_versions WHERE table_id = ? AND version > ? AND version"
                + " <= ? ORDER BY version DESC",
            row -> {
              MetadataJson.addStatesAfter(row.getString(1), changed);
              return Boolean.TRUE;
            },
            table.tableId(),
            checkpoint.version(),
            version);
    if (read.size() != version - checkpoint.version()) {
      return false;
    }
    Map<String, SourceState> saved;
    try {
      saved = MetadataJson.parseCheckpoint(checkpoint.states());
    } catch (MetadataStoreException e) {
      // a checkpoint only saves time: a read never fails because of one
      LOG.warn(
          "Cannot read the state checkpoint of version {} of {}; reading version {} source by"
              + " source",
          checkpoint.version(),
          table.identifier(),
          version,
          e);
      return false;
    }
    Map<String, SourceDefinition> definitions = new TreeMap<>();
    Map<String, SourceState> found = new TreeMap<>();
    for (List<String> source :
        Jdbc.query(
            connection,
            "SELECT source_id, definition FROM harness_sources WHERE table_id = ? AND"
                + " added_version <= ? AND (removed_version IS NULL OR removed_version > ?)",
            row -> List.of(row.getString(1), row.getString(2)),
            table.tableId(),
            version,
            version)) {
      String id = source.get(0);
      SourceState state = changed.containsKey(id) ? changed.get(id) : saved.get(id);
      if (state == null) {
        LOG.warn(
            "The state checkpoint of version {} of {} and the changes after it have no state for"
                + " source '{}' at version {}; reading the version source by source",
            checkpoint.version(),
            table.identifier(),
            id,
            version);
        return false;
      }
      definitions.put(id, sourceDefinition(source.get(1)));
      found.put(id, state);
    }
    sources.putAll(definitions);
    states.putAll(found);
    checkpointedReads.incrementAndGet();
    return true;
  }

  @Override
  public TableVersion readLatest(TableIdentifier table) {
    return read(
        "read the latest version of " + table,
        connection -> {
          TableRow row = tableRow(connection, table, false);
          // one statement, so the version number and the current states are consistent
          long[] version = {row.currentVersion()};
          Map<String, SourceDefinition> sources = new TreeMap<>();
          Map<String, SourceState> states = new TreeMap<>();
          Jdbc.query(
              connection,
              "SELECT t.current_version, s.source_id, s.definition, s.current_state FROM"
                  + " harness_tables t LEFT JOIN harness_sources s ON s.table_id = t.table_id AND"
                  + " s.removed_version IS NULL WHERE t.table_id = ?",
              result -> {
                version[0] = result.getLong(1);
                String sourceId = result.getString(2);
                if (sourceId != null) {
                  sources.put(sourceId, sourceDefinition(result.getString(3)));
                  String json = result.getString(4);
                  SourceState state = sourceState(json);
                  states.put(sourceId, state);
                  rememberState(table, row.tableId(), sourceId, json, state);
                }
                return null;
              },
              row.tableId());
          return readVersion(connection, row, version[0], sources, states);
        });
  }

  /** Parsed source definitions by their JSON: definitions rarely change and tables have many. */
  private final Map<String, SourceDefinition> definitions = new ConcurrentHashMap<>();

  private SourceDefinition sourceDefinition(String json) {
    if (definitions.size() > 100_000) {
      definitions.clear();
    }
    return definitions.computeIfAbsent(json, MetadataJson::parseSource);
  }

  /**
   * Parsed source states by their JSON: from one read of a table to the next most sources keep
   * their state, and parsing a thousand states costs more than reading them (states are immutable).
   * Only current states are kept: an old version's states are rarely read again, and keeping them
   * made every young collection copy the cache's newest entries (pauses of 20-40 ms in a process
   * loading random old versions of a 1,000-source table).
   */
  private final Map<String, SourceState> parsedStates = new ConcurrentHashMap<>();

  SourceState sourceState(String json) {
    return sourceState(json, true);
  }

  private SourceState sourceState(String json, boolean keep) {
    if (json == null) {
      return MetadataJson.parseState(null);
    }
    SourceState state = parsedStates.get(json);
    if (state == null) {
      state = MetadataJson.parseState(json);
      if (!keep) {
        return state;
      }
      if (parsedStates.size() > 100_000) {
        parsedStates.clear();
      }
      parsedStates.put(json, state);
    }
    return state;
  }

  @Override
  public TableVersion readVersion(TableIdentifier table, long version) {
    return read(
        "read version " + version + " of " + table,
        connection -> readVersion(connection, tableRow(connection, table, false), version));
  }

  @Override
  public TableVersion readVersionAsOf(TableIdentifier table, Instant timestamp) {
    return read(
        "read " + table + " as of " + timestamp,
        connection -> {
          TableRow row = tableRow(connection, table, false);
          Long version =
              Jdbc.queryOne(
                  connection,
                  "SELECT version FROM harness_versions WHERE table_id = ? AND committed_at <= ?"
                      + " ORDER BY committed_at DESC, version DESC LIMIT 1",
                  result -> result.getLong(1),
                  row.tableId(),
                  timestamp);
          if (version == null) {
            if (row.oldestVersion() > 1) {
              throw expired(row, "as of " + timestamp);
            }
            throw new NoSuchVersionException(
                "Cannot read table %s as of %s: its first version was committed at %s, later than"
                    + " that",
                table, timestamp, row.createdAt());
          }
          return readVersion(connection, row, version);
        });
  }

  TableVersion readVersion(Connection connection, TableRow table, long version)
      throws SQLException {
    return readVersion(connection, table, version, null, null);
  }

  /** Reads a version; {@code sources} and {@code states}, when given, were already read. */
  private TableVersion readVersion(
      Connection connection,
      TableRow table,
      long version,
      Map<String, SourceDefinition> knownSources,
      Map<String, SourceState> knownStates)
      throws SQLException {
    record VersionRow(int schemaId, String fields, CommitInfo commit, boolean hasIntents) {}
    VersionRow versionRow =
        Jdbc.queryOne(
            connection,
            "SELECT v.schema_id, s.fields, v.committed_at, v.operation, v.idempotency_key,"
                + " v.summary, v.changes, EXISTS (SELECT 1 FROM harness_intents i WHERE i.table_id"
                + " = v.table_id AND i.opened_version <= v.version AND (i.completed_version IS NULL"
                + " OR i.completed_version > v.version)) AS has_intents FROM harness_versions v"
                + " JOIN harness_schemas s ON s.table_id = v.table_id AND s.schema_id = v.schema_id"
                + " WHERE v.table_id = ? AND v.version = ?",
            row ->
                new VersionRow(
                    row.getInt(1),
                    row.getString(2),
                    commitInfo(row),
                    row.getBoolean("has_intents")),
            table.tableId(),
            version);
    if (versionRow == null) {
      if (version >= 1 && version < table.oldestVersion()) {
        throw expired(table, "version " + version);
      }
      throw new NoSuchVersionException(
          "Cannot read version %d of table %s: its versions are %d to %d",
          version, table.identifier(), table.oldestVersion(), table.currentVersion());
    }
    Map<String, SourceDefinition> sources = knownSources == null ? new TreeMap<>() : knownSources;
    Map<String, SourceState> states = knownStates == null ? new TreeMap<>() : knownStates;
    if (knownSources == null) {
      readSources(connection, table, version, sources, states);
    }
    Map<String, String> external = new TreeMap<>();
    Jdbc.query(
        connection,
        "SELECT k.state_key, (SELECT e.state_value FROM harness_external_state e WHERE e.table_id"
            + " = k.table_id AND e.state_key = k.state_key AND e.version <= ? ORDER BY e.version"
            + " DESC LIMIT 1) AS state_value FROM harness_external_keys k WHERE k.table_id = ?",
        row -> {
          String value = row.getString(2);
          return value == null ? null : external.put(row.getString(1), value);
        },
        version,
        table.tableId());
    List<Intent> intents =
        versionRow.hasIntents()
            ? Jdbc.query(
                connection,
                "SELECT intent_id, kind, owner, sources, fencing_tokens, payload, opened_version,"
                    + " opened_at FROM harness_intents WHERE table_id = ? AND opened_version <= ?"
                    + " AND (completed_version IS NULL OR completed_version > ?) ORDER BY"
                    + " intent_id",
                JdbcCommit::intent,
                table.tableId(),
                version,
                version)
            : List.of();
    Schema schema =
        new Schema(versionRow.schemaId(), MetadataJson.parseFields(versionRow.fields()));
    return new TableVersion(
        table.identifier(),
        version,
        schema,
        sources,
        states,
        external,
        versionRow.commit(),
        intents);
  }

  /**
   * Adds the sources a committed version has and their states at it: from a checkpoint and the
   * changes after it where there is one, else each source's state looked up as of the version.
   */
  private void readSources(
      Connection connection,
      TableRow table,
      long version,
      Map<String, SourceDefinition> sources,
      Map<String, SourceState> states)
      throws SQLException {
    if (readCheckpointed(connection, table, version, sources, states)) {
      return;
    }
    Jdbc.query(
        connection,
        "SELECT s.source_id, s.definition, (SELECT st.state FROM harness_source_states st WHERE"
            + " st.table_id = s.table_id AND st.source_id = s.source_id AND st.version <= ? ORDER"
            + " BY st.version DESC LIMIT 1) AS state FROM harness_sources s WHERE s.table_id = ?"
            + " AND s.added_version <= ? AND (s.removed_version IS NULL OR s.removed_version > ?)",
        row -> {
          sources.put(row.getString(1), sourceDefinition(row.getString(2)));
          return states.put(row.getString(1), sourceState(row.getString(3), false));
        },
        version,
        table.tableId(),
        version,
        version);
  }

  static CommitInfo commitInfo(java.sql.ResultSet row) throws SQLException {
    String changes = row.getString("changes");
    return new CommitInfo(
        Jdbc.instant(row, "committed_at"),
        row.getString("operation"),
        row.getString("idempotency_key"),
        MetadataJson.parseMap(row.getString("summary")),
        MetadataJson.parseSourceChanges(changes),
        MetadataJson.parseExternalChanges(changes));
  }

  @Override
  public List<VersionInfo> history(TableIdentifier table, long fromVersion, int limit) {
    return read(
        "read the history of " + table,
        connection ->
            Jdbc.query(
                connection,
                "SELECT version, schema_id, committed_at, operation, idempotency_key, summary,"
                    + " changes FROM harness_versions WHERE table_id = ? AND version >= ? ORDER BY"
                    + " version LIMIT ?",
                row ->
                    new VersionInfo(
                        row.getLong("version"), row.getInt("schema_id"), commitInfo(row)),
                tableRow(connection, table, false).tableId(),
                fromVersion,
                limit));
  }

  @Override
  public Schema schema(TableIdentifier table, int schemaId) {
    return read(
        "read schema " + schemaId + " of " + table,
        connection -> {
          String fields =
              Jdbc.queryOne(
                  connection,
                  "SELECT fields FROM harness_schemas WHERE table_id = ? AND schema_id = ?",
                  row -> row.getString(1),
                  tableRow(connection, table, false).tableId(),
                  schemaId);
          if (fields == null) {
            throw new ValidationException(
                "Cannot find schema %d of table %s: it does not exist", schemaId, table);
          }
          return new Schema(schemaId, MetadataJson.parseFields(fields));
        });
  }

  // ---- locks ----

  /** A source's lease as stored on its row. */
  record LockRow(String owner, long fencingToken, Instant acquiredAt, Instant expiresAt) {
    boolean heldAt(Instant now) {
      return owner != null && expiresAt != null && expiresAt.isAfter(now);
    }
  }

  static LockRow lockRow(java.sql.ResultSet row) throws SQLException {
    return new LockRow(
        row.getString("lock_owner"),
        row.getLong("fencing_token"),
        Jdbc.instant(row, "lock_acquired_at"),
        Jdbc.instant(row, "lock_expires_at"));
  }

  private record LockedRow(LockRow lock, Instant now) {}

  private LockedRow lockForUpdate(
      Connection connection, long tableId, TableIdentifier table, String sourceId)
      throws SQLException {
    LockedRow row =
        Jdbc.queryOne(
            connection,
            "SELECT lock_owner, fencing_token, lock_acquired_at, lock_expires_at, "
                + dialect.now
                + " AS now FROM harness_sources WHERE table_id = ? AND source_id = ? FOR UPDATE",
            result -> new LockedRow(lockRow(result), Jdbc.instant(result, "now")),
            tableId,
            sourceId);
    if (row == null) {
      throw new NoSuchSourceException(
          "Cannot lock source '%s' of table %s: the table has no such source", sourceId, table);
    }
    return row;
  }

  @Override
  public SourceLock acquireLock(
      TableIdentifier table, String sourceId, String owner, Duration lease) {
    Names.check("lock owner", owner.replace('.', '_').replace(':', '_').replace('@', '_'));
    checkLease(lease);
    return inTransaction(
        "lock source " + sourceId + " of " + table,
        connection -> {
          long tableId = tableRow(connection, table, false).tableId();
          LockedRow row = lockForUpdate(connection, tableId, table, sourceId);
          if (row.lock().heldAt(row.now())) {
            // even by the same owner name: two live processes must never act under one lock
            SourceLock holder = toLock(table, sourceId, row.lock());
            throw new LockHeldException(
                holder,
                "Cannot lock source '%s' of table %s for '%s': it is held by '%s'%s (fencing token"
                    + " %d) until %s; retry after its lease ends, or if its holder is dead an"
                    + " operator breaks the lock (HarnessStore.breakLock)",
                sourceId,
                table,
                owner,
                row.lock().owner(),
                row.lock().owner().equals(owner)
                    ? " (the same owner name: another run, or a lock never released)"
                    : "",
                row.lock().fencingToken(),
                row.lock().expiresAt());
          }
          long token = row.lock().fencingToken() + 1;
          Instant expires = row.now().plus(lease);
          Jdbc.update(
              connection,
              "UPDATE harness_sources SET lock_owner = ?, fencing_token = ?, lock_acquired_at = ?,"
                  + " lock_expires_at = ? WHERE table_id = ? AND source_id = ?",
              owner,
              token,
              row.now(),
              expires,
              tableId,
              sourceId);
          LOG.info(
              "Locked source '{}' of {} for '{}' (fencing token {})",
              sourceId,
              table,
              owner,
              token);
          return new SourceLock(table, sourceId, owner, token, row.now(), expires);
        });
  }

  private static void checkLease(Duration lease) {
    if (lease == null || lease.isNegative() || lease.isZero()) {
      throw new ValidationException("Invalid lock lease %s: use a positive duration", lease);
    }
  }

  private static SourceLock toLock(TableIdentifier table, String sourceId, LockRow row) {
    return new SourceLock(
        table, sourceId, row.owner(), row.fencingToken(), row.acquiredAt(), row.expiresAt());
  }

  @Override
  public SourceLock renewLock(SourceLock lock, Duration lease) {
    checkLease(lease);
    return inTransaction(
        "renew " + lock,
        connection -> {
          long tableId = tableRow(connection, lock.table(), false).tableId();
          LockedRow row = lockForUpdate(connection, tableId, lock.table(), lock.sourceId());
          checkHeld(lock, row.lock(), row.now(), "renew");
          Instant expires = row.now().plus(lease);
          Jdbc.update(
              connection,
              "UPDATE harness_sources SET lock_expires_at = ? WHERE table_id = ? AND source_id = ?",
              expires,
              tableId,
              lock.sourceId());
          return new SourceLock(
              lock.table(),
              lock.sourceId(),
              lock.owner(),
              lock.fencingToken(),
              lock.acquiredAt(),
              expires);
        });
  }

  /** Throws {@link StaleLockException} unless {@code lock} is the one held now. */
  static void checkHeld(SourceLock lock, LockRow row, Instant now, String action) {
    if (row.fencingToken() != lock.fencingToken() || !lock.owner().equals(row.owner())) {
      throw new StaleLockException(
          "Cannot %s with the lock on source '%s' of table %s (owner '%s', fencing token %d):"
              + " the lock was taken over since (now owner '%s', fencing token %d); acquire it"
              + " again, re-read the latest version and redo the work",
          action,
          lock.sourceId(),
          lock.table(),
          lock.owner(),
          lock.fencingToken(),
          row.owner(),
          row.fencingToken());
    }
    if (!row.heldAt(now)) {
      throw new StaleLockException(
          "Cannot %s with the lock on source '%s' of table %s (owner '%s', fencing token %d): its"
              + " lease expired at %s; renew locks before they expire, or acquire it again and"
              + " redo the work",
          action,
          lock.sourceId(),
          lock.table(),
          lock.owner(),
          lock.fencingToken(),
          row.expiresAt());
    }
  }

  @Override
  public Optional<SourceLock> breakLock(TableIdentifier table, String sourceId) {
    return inTransaction(
        "break the lock on source " + sourceId + " of " + table,
        connection -> {
          long tableId = tableRow(connection, table, false).tableId();
          LockedRow row = lockForUpdate(connection, tableId, table, sourceId);
          // the token moves on even for a free lock: whoever held it last is fenced for sure
          Jdbc.update(
              connection,
              "UPDATE harness_sources SET lock_owner = NULL, lock_acquired_at = NULL,"
                  + " lock_expires_at = NULL, fencing_token = ? WHERE table_id = ? AND source_id = ?",
              row.lock().fencingToken() + 1,
              tableId,
              sourceId);
          if (!row.lock().heldAt(row.now())) {
            LOG.info(
                "Broke the lock on source '{}' of {}: it was not held (fencing token now {})",
                sourceId,
                table,
                row.lock().fencingToken() + 1);
            return Optional.<SourceLock>empty();
          }
          SourceLock held = toLock(table, sourceId, row.lock());
          LOG.warn(
              "Broke the {} (fencing token now {}): its holder can no longer commit, renew or"
                  + " release it, and must not go on writing to the source",
              held,
              row.lock().fencingToken() + 1);
          return Optional.of(held);
        });
  }

  @Override
  public void releaseLock(SourceLock lock) {
    inTransaction(
        "release " + lock,
        connection ->
            Jdbc.update(
                connection,
                "UPDATE harness_sources SET lock_owner = NULL, lock_expires_at = NULL WHERE"
                    + " source_id = ? AND fencing_token = ? AND lock_owner = ? AND table_id ="
                    + " (SELECT table_id FROM harness_tables WHERE namespace = ? AND table_name ="
                    + " ?)",
                lock.sourceId(),
                lock.fencingToken(),
                lock.owner(),
                lock.table().namespace(),
                lock.table().name()));
  }

  @Override
  public List<SourceLock> listLocks(TableIdentifier table) {
    return read(
        "list locks of " + table,
        connection -> {
          long tableId = tableRow(connection, table, false).tableId();
          Map<String, LockRow> rows = new HashMap<>();
          Instant now =
              Jdbc.queryOne(connection, "SELECT " + dialect.now, row -> Jdbc.instant(row, 1));
          Jdbc.query(
              connection,
              "SELECT source_id, lock_owner, fencing_token, lock_acquired_at, lock_expires_at FROM"
                  + " harness_sources WHERE table_id = ? AND lock_owner IS NOT NULL ORDER BY"
                  + " source_id",
              row -> rows.put(row.getString("source_id"), lockRow(row)),
              tableId);
          return rows.entrySet().stream()
              .filter(entry -> entry.getValue().heldAt(now))
              .map(entry -> toLock(table, entry.getKey(), entry.getValue()))
              .sorted(java.util.Comparator.comparing(SourceLock::sourceId))
              .toList();
        });
  }
}
