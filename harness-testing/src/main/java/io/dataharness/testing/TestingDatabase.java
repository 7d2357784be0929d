package io.dataharness.testing;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;

/**
 * One fresh database on the {@link TestingPostgres} server, created for one test or fixture.
 *
 * @param jdbcUrl JDBC URL of this database, without credentials
 * @param user user that owns the database
 * @param password password of {@code user}
 * @param name database name, unique on the server
 */
public record TestingDatabase(String jdbcUrl, String user, String password, String name) {
  /** Opens a new connection to this database; the caller closes it. */
  public Connection connect() throws SQLException {
    return DriverManager.getConnection(jdbcUrl, user, password);
  }
}
