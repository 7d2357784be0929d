package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.function.Executable;

/** SQL on the tests' PostgreSQL source database, run as applications run it, and refusals. */
final class TestSql {
  private TestSql() {}

  /** Runs each statement on the source database, in auto-commit. */
  static void postgres(String... statements) throws Exception {
    try (Connection connection = TestingSpark.shared().sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      for (String sql : statements) {
        statement.execute(sql);
      }
    }
  }

  /** The single number a query on the source database returns. */
  static long postgresCount(String sql) throws Exception {
    try (Connection connection = TestingSpark.shared().sourceDatabase().connect();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery(sql)) {
      rows.next();
      return rows.getLong(1);
    }
  }

  /** The first column of every row a query on the source database returns, in order. */
  static java.util.List<String> postgresStrings(String sql) throws Exception {
    java.util.List<String> values = new java.util.ArrayList<>();
    try (Connection connection = TestingSpark.shared().sourceDatabase().connect();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery(sql)) {
      while (rows.next()) {
        values.add(rows.getString(1));
      }
    }
    return values;
  }

  /**
   * {@code <column> <expression>} of each user column of a source table (system columns left out),
   * in table order, for an {@code information_schema.columns} expression such as {@code data_type
   * || ' ' || is_nullable}.
   */
  static java.util.List<String> postgresColumns(String table, String expression) throws Exception {
    return postgresStrings(
        "SELECT column_name || ' ' || "
            + expression
            + " FROM information_schema.columns WHERE table_name = '"
            + table
            + "' AND column_name NOT LIKE 'harness%' ORDER BY ordinal_position");
  }

  /** Asserts that {@code action} fails with {@code expected} in its message or a cause's. */
  static void refused(Executable action, String expected) {
    Throwable error = assertThrows(Throwable.class, action);
    StringBuilder messages = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      messages.append(cause.getMessage()).append(" | ");
    }
    assertTrue(messages.toString().contains(expected), messages.toString());
  }
}
