package io.dataharness.metadata;

import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;

/** What a JDBC error's SQLSTATE says about the connection, for the store and the sources. */
public final class SqlStates {
  private SqlStates() {}

  /**
   * True when the connection itself failed (SQLSTATE class 08, or the server terminated the
   * session: 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now), not when a pool
   * timed out waiting for one.
   */
  public static boolean isConnectionLost(SQLException e) {
    if (e instanceof SQLTransientConnectionException) {
      return false;
    }
    String state = String.valueOf(e.getSQLState());
    return state.startsWith("08") || state.startsWith("57P0");
  }

  /** The first error in {@code e}'s causes that {@link #isConnectionLost}, if there is one. */
  public static java.util.Optional<SQLException> connectionLost(Throwable e) {
    return Causes.first(e, SQLException.class, SqlStates::isConnectionLost);
  }
}
