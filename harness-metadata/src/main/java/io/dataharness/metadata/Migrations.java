package io.dataharness.metadata;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the store's schema migrations in order, each in its own transaction, under a lock so that
 * several processes starting at once apply each migration exactly once.
 */
final class Migrations {
  private static final Logger LOG = LoggerFactory.getLogger(Migrations.class);
  private static final List<String> SCRIPTS =
      List.of(
          "V1__harness_metadata.sql",
          "V2__intents.sql",
          "V3__expiry.sql",
          "V4__commit_function.sql",
          "V5__state_checkpoints.sql",
          "V6__keyed_idempotency_index.sql",
          "V7__leases_on_sources.sql");

  private Migrations() {}

  static int latestVersion() {
    return SCRIPTS.size();
  }

  static void apply(Connection connection, Dialect dialect) throws SQLException {
    Integer found = currentVersion(connection);
    if (found != null && found == SCRIPTS.size()) {
      // Up to date: nothing to create or lock, so a user with only SELECT, INSERT, UPDATE and
      // DELETE on the store's tables can open it (see docs/postgresql-privileges.md).
      return;
    }
    if (found != null && found > SCRIPTS.size()) {
      throw newerThanSupported(found);
    }
    try {
      migrate(connection, dialect);
    } catch (SQLException e) {
      if (found == null || !isPermissionDenied(e)) {
        throw e;
      }
      throw new MetadataStoreException(
          e,
          "Cannot migrate the metadata store from schema version %d to %d: %s; open it once as"
              + " the user that owns its tables (it creates and alters them), then again as this"
              + " one",
          found,
          SCRIPTS.size(),
          e.getMessage());
    }
  }

  /**
   * The store's schema version, or null when it has none yet (or this user cannot read it). Runs in
   * autocommit mode, so a failure leaves no aborted transaction behind.
   */
  private static Integer currentVersion(Connection connection) {
    try {
      connection.setAutoCommit(true);
      return Jdbc.queryOne(
          connection,
          "SELECT version FROM harness_schema_version WHERE id = 1",
          row -> row.getInt(1));
    } catch (SQLException | RuntimeException e) {
      return null;
    }
  }

  private static boolean isPermissionDenied(SQLException e) {
    // 42501 insufficient_privilege (PostgreSQL and H2)
    return "42501".equals(e.getSQLState());
  }

  private static MetadataStoreException newerThanSupported(int version) {
    return new MetadataStoreException(
        null,
        "Cannot open the metadata store: its schema version %d is newer than this release"
            + " supports (%d); upgrade DataHarness",
        version,
        SCRIPTS.size());
  }

  private static void migrate(Connection connection, Dialect dialect) throws SQLException {
    connection.setAutoCommit(false);
    try (Statement statement = connection.createStatement()) {
      if (dialect.migrationLock != null) {
        statement.execute(dialect.migrationLock);
      }
      statement.execute(
          "CREATE TABLE IF NOT EXISTS harness_schema_version (id INT PRIMARY KEY, version INT NOT"
              + " NULL, applied_at TIMESTAMP WITH TIME ZONE NOT NULL)");
      connection.commit();
      if (dialect.migrationLock != null) {
        statement.execute(dialect.migrationLock);
      }
      Jdbc.update(
          connection,
          "INSERT INTO harness_schema_version (id, version, applied_at) SELECT 1, 0,"
              + " CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM harness_schema_version)");
      int current =
          Jdbc.queryOne(
              connection,
              "SELECT version FROM harness_schema_version WHERE id = 1 FOR UPDATE",
              row -> row.getInt(1));
      if (current > SCRIPTS.size()) {
        throw newerThanSupported(current);
      }
      for (int version = current + 1; version <= SCRIPTS.size(); version++) {
        for (String sql : statements(SCRIPTS.get(version - 1), dialect)) {
          statement.execute(sql);
        }
        Jdbc.update(
            connection,
            "UPDATE harness_schema_version SET version = ?, applied_at = CURRENT_TIMESTAMP WHERE"
                + " id = 1",
            version);
        LOG.info("Applied metadata store migration {}", SCRIPTS.get(version - 1));
      }
      connection.commit();
    } catch (SQLException | RuntimeException e) {
      connection.rollback();
      throw e;
    } finally {
      connection.setAutoCommit(true);
    }
  }

  /**
   * The statements of a migration script. On PostgreSQL a script may be followed by a
   * PostgreSQL-only part under {@code migrations/postgresql/} (functions, whose bodies hold
   * semicolons), which runs as one execution (the driver splits it, minding dollar quotes).
   */
  private static List<String> statements(String script, Dialect dialect) {
    List<String> statements = new ArrayList<>();
    try (InputStream in = Migrations.class.getResourceAsStream("migrations/" + script)) {
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      java.util.Arrays.stream(text.replaceAll("(?m)^--.*$", "").split(";"))
          .map(String::trim)
          .filter(sql -> !sql.isEmpty())
          .forEach(statements::add);
    } catch (IOException | NullPointerException e) {
      throw new IllegalStateException("Missing migration script " + script, e);
    }
    if (dialect == Dialect.POSTGRESQL) {
      try (InputStream in =
          Migrations.class.getResourceAsStream("migrations/postgresql/" + script)) {
        if (in != null) {
          statements.add(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
      } catch (IOException e) {
        throw new IllegalStateException("Cannot read migration script postgresql/" + script, e);
      }
    }
    return statements;
  }
}
