package io.dataharness.testing;

/** One running PostgreSQL server that {@link TestingPostgres} creates databases in. */
interface PostgresServer extends AutoCloseable {
  /** The JDBC URL of {@code database} on this server. */
  String jdbcUrl(String database);

  /** The database that exists from the start, used to create and drop test databases. */
  String administrationDatabase();

  String user();

  String password();

  /** Where the server comes from, for example "embedded PostgreSQL". */
  String origin();

  /** Host and port, for example "localhost:54321". */
  String address();

  @Override
  void close();
}
