package io.dataharness.chaos;

import io.dataharness.testing.TestingDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An application that owns the PostgreSQL table and changes it directly over JDBC, one autocommit
 * statement at a time, as applications do: inserts new rows (ids from {@link
 * Ledger#APPLICATION_IDS}), updates rows ({@code message = 'app-<n>'}, {@code updated_at = now})
 * and deletes rows. Every write PostgreSQL acknowledged with a changed row goes to the ledger; a
 * deleted id is never written again.
 */
final class Application implements Runnable {
  private final TestingDatabase database;
  private final String table;
  private final Ledger ledger;
  private final Random random;
  private final AtomicBoolean stop;
  private long operations;

  Application(
      TestingDatabase database, String table, Ledger ledger, long seed, AtomicBoolean stop) {
    this.database = database;
    this.table = table;
    this.ledger = ledger;
    this.random = new Random(seed);
    this.stop = stop;
  }

  @Override
  public void run() {
    while (!stop.get()) {
      try (Connection connection = database.connect()) {
        while (!stop.get()) {
          operate(connection);
          ledger.lastApplicationWrite = Instant.now();
          Pause.millis(20 + random.nextInt(60));
        }
      } catch (SQLException e) {
        ledger.applicationErrors.incrementAndGet();
        Pause.millis(500);
      }
    }
  }

  private void operate(Connection connection) throws SQLException {
    long operation = ++operations;
    String message = "app-" + operation;
    double choice = random.nextDouble();
    if (choice < 0.25) {
      long id = Ledger.APPLICATION_IDS + ledger.applicationInserts.get();
      try (PreparedStatement insert =
          connection.prepareStatement(
              "INSERT INTO " + table + " (id, message, updated_at) VALUES (?, ?, ?)")) {
        insert.setLong(1, id);
        insert.setString(2, message);
        insert.setObject(3, now());
        insert.executeUpdate();
      }
      ledger.lastWrite.put(id, message);
      ledger.applicationInserts.incrementAndGet();
      return;
    }
    long id = pickRow(connection);
    if (id < 0) {
      return;
    }
    if (choice < 0.85) {
      try (PreparedStatement update =
          connection.prepareStatement(
              "UPDATE " + table + " SET message = ?, updated_at = ? WHERE id = ?")) {
        update.setString(1, message);
        update.setObject(2, now());
        update.setLong(3, id);
        if (update.executeUpdate() == 1) {
          ledger.lastWrite.put(id, message);
          ledger.updated.add(id);
          ledger.applicationUpdates.incrementAndGet();
        } else {
          ledger.applicationMisses.incrementAndGet();
        }
      }
    } else {
      try (PreparedStatement delete =
          connection.prepareStatement("DELETE FROM " + table + " WHERE id = ?")) {
        delete.setLong(1, id);
        if (delete.executeUpdate() == 1) {
          ledger.deleted.add(id);
          ledger.lastWrite.remove(id);
          ledger.applicationDeletes.incrementAndGet();
        } else {
          ledger.applicationMisses.incrementAndGet();
        }
      }
    }
  }

  /** A row now in PostgreSQL, at a seeded position in id order (uniform over its rows). */
  private long pickRow(Connection connection) throws SQLException {
    long rows;
    try (PreparedStatement count = connection.prepareStatement("SELECT count(*) FROM " + table);
        ResultSet result = count.executeQuery()) {
      result.next();
      rows = result.getLong(1);
    }
    long offset = (long) (random.nextDouble() * rows);
    if (offset >= rows) {
      return -1;
    }
    try (PreparedStatement select =
        connection.prepareStatement("SELECT id FROM " + table + " ORDER BY id OFFSET ? LIMIT 1")) {
      select.setLong(1, offset);
      try (ResultSet result = select.executeQuery()) {
        if (result.next()) {
          long id = result.getLong(1);
          return ledger.deleted.contains(id) ? -1 : id;
        }
      }
    }
    return -1;
  }

  private static OffsetDateTime now() {
    return OffsetDateTime.ofInstant(Instant.now().truncatedTo(ChronoUnit.MICROS), ZoneOffset.UTC);
  }
}
