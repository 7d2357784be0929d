package io.dataharness.testing;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A PostgreSQL server that runs already, reached through a JDBC URL; it is never stopped. */
final class ExistingPostgresServer implements PostgresServer {
  private static final Pattern URL =
      Pattern.compile(
          "^jdbc:postgresql://(?<address>[^/?]+)(?:/(?<database>[^?]*))?(?<parameters>\\?.*)?$");

  private final String origin;
  private final String address;
  private final String administrationDatabase;
  private final String parameters;
  private final String user;
  private final String password;

  ExistingPostgresServer(String origin, String jdbcUrl, String user, String password) {
    Matcher matcher = URL.matcher(jdbcUrl);
    if (!matcher.matches()) {
      throw new IllegalArgumentException(
          "Cannot use PostgreSQL URL "
              + jdbcUrl
              + ": expected jdbc:postgresql://host:port/database (check "
              + Environment.POSTGRES_URL
              + ")");
    }
    this.origin = origin;
    this.address = matcher.group("address");
    String database = matcher.group("database");
    this.administrationDatabase = database == null || database.isEmpty() ? "postgres" : database;
    this.parameters = matcher.group("parameters") == null ? "" : matcher.group("parameters");
    this.user = user;
    this.password = password;
  }

  @Override
  public String jdbcUrl(String database) {
    return "jdbc:postgresql://" + address + "/" + database + parameters;
  }

  @Override
  public String administrationDatabase() {
    return administrationDatabase;
  }

  @Override
  public String user() {
    return user;
  }

  @Override
  public String password() {
    return password;
  }

  @Override
  public String origin() {
    return origin;
  }

  @Override
  public String address() {
    return address;
  }

  @Override
  public void close() {}
}
