package io.dataharness.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Test;

class TestingPostgresTest {
  private final TestingPostgres postgres = TestingPostgres.shared();

  @Test
  void sharedReturnsOneServerPerJvm() {
    assertSame(postgres, TestingPostgres.shared());
    assertTrue(postgres.description().contains("PostgreSQL"), postgres.description());
  }

  @Test
  void eachCallCreatesAnIndependentFreshDatabase() throws SQLException {
    TestingDatabase first = postgres.createDatabase("independence");
    TestingDatabase second = postgres.createDatabase("independence");
    assertNotEquals(first.name(), second.name());
    assertTrue(first.name().startsWith("independence_"), first.name());

    try (Connection connection = first.connect();
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE TABLE only_in_first (id int)");
      statement.execute("INSERT INTO only_in_first VALUES (1), (2)");
      assertEquals(1, countTables(statement, "only_in_first"));
      assertEquals(first.name(), singleString(statement, "SELECT current_database()"));
    }
    try (Connection connection = second.connect();
        Statement statement = connection.createStatement()) {
      assertEquals(0, countTables(statement, "only_in_first"));
      assertEquals(second.name(), singleString(statement, "SELECT current_database()"));
    }
  }

  @Test
  void rejectsPrefixThatIsNotAPlainIdentifier() {
    var error =
        assertThrows(IllegalArgumentException.class, () -> postgres.createDatabase("x; DROP"));
    assertFalse(error.getMessage().isEmpty());
  }

  @Test
  void passwordRoleNeedsItsCurrentPasswordAndOthersAreUnaffected() throws SQLException {
    TestingRole role = postgres.createPasswordRole("secretive", "first-Passw0rd");
    TestingDatabase database = postgres.createDatabase("owned", role);
    assertEquals(role.name(), database.user());
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      statement.execute("CREATE TABLE mine (id int)");
      assertEquals(role.name(), singleString(statement, "SELECT current_user"));
    }
    SQLException refused =
        assertThrows(
            SQLException.class,
            () -> java.sql.DriverManager.getConnection(database.jdbcUrl(), role.name(), "wrong"));
    assertEquals("28P01", refused.getSQLState(), refused.getMessage());

    TestingRole rotated = postgres.changePassword(role, "second-Passw0rd");
    assertThrows(
        SQLException.class,
        () ->
            java.sql.DriverManager.getConnection(database.jdbcUrl(), role.name(), role.password()));
    try (Connection connection =
        java.sql.DriverManager.getConnection(
            database.jdbcUrl(), rotated.name(), rotated.password())) {
      assertTrue(connection.isValid(5));
    }
    // the administration user still connects as before
    TestingDatabase other = postgres.createDatabase("unaffected");
    try (Connection connection = other.connect()) {
      assertTrue(connection.isValid(5));
    }
    assertFalse(role.toString().contains(role.password()));
  }

  private static int countTables(Statement statement, String table) throws SQLException {
    return Integer.parseInt(
        singleString(
            statement,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = '" + table + "'"));
  }

  private static String singleString(Statement statement, String query) throws SQLException {
    try (ResultSet result = statement.executeQuery(query)) {
      assertTrue(result.next());
      return result.getString(1);
    }
  }
}
