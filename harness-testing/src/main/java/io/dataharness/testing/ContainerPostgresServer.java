package io.dataharness.testing;

import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * PostgreSQL in a Docker container through Testcontainers. Only loaded when {@code
 * HARNESS_TEST_POSTGRES=testcontainers}, so Testcontainers stays an optional dependency.
 */
final class ContainerPostgresServer implements PostgresServer {
  private static final String IMAGE = "postgres:16-alpine";

  private final PostgreSQLContainer container;
  private final ExistingPostgresServer server;

  private ContainerPostgresServer(PostgreSQLContainer container) {
    this.container = container;
    this.server =
        new ExistingPostgresServer(
            "PostgreSQL container " + IMAGE,
            container.getJdbcUrl(),
            container.getUsername(),
            container.getPassword());
  }

  static ContainerPostgresServer start() {
    if (!DockerClientFactory.instance().isDockerAvailable()) {
      throw new IllegalStateException(
          "Cannot start PostgreSQL with Testcontainers: no Docker engine answers. Start Docker, or"
              + " unset "
              + Environment.POSTGRES_MODE
              + " to use embedded PostgreSQL, or set "
              + Environment.POSTGRES_URL
              + " to an existing server");
    }
    PostgreSQLContainer container = new PostgreSQLContainer(IMAGE);
    container.start();
    return new ContainerPostgresServer(container);
  }

  @Override
  public String jdbcUrl(String database) {
    return server.jdbcUrl(database);
  }

  @Override
  public String administrationDatabase() {
    return server.administrationDatabase();
  }

  @Override
  public String user() {
    return server.user();
  }

  @Override
  public String password() {
    return server.password();
  }

  @Override
  public String origin() {
    return server.origin();
  }

  @Override
  public String address() {
    return server.address();
  }

  @Override
  public void close() {
    container.stop();
  }
}
