package io.dataharness.chaos;

import io.dataharness.testing.TestingDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.sql.SparkSession;

/**
 * The periodic chores of a chaos run in the test JVM: {@code CALL <catalog>.system.sync(...)} every
 * few seconds, and now and then terminating every connection to the metadata store database ({@code
 * pg_terminate_backend}), the test JVM's pool and the job processes' alike.
 */
final class Background implements Runnable {
  private final SparkSession spark;
  private final String syncCall;
  private final TestingDatabase store;
  private final boolean dropConnections;
  private final Random random;
  private final AtomicBoolean stop;

  final AtomicLong syncs = new AtomicLong();
  final AtomicLong syncFailures = new AtomicLong();
  final Map<String, Long> syncFailureMessages = new ConcurrentHashMap<>();
  final AtomicLong connectionDrops = new AtomicLong();
  final AtomicLong connectionsTerminated = new AtomicLong();

  Background(
      SparkSession spark,
      String catalog,
      String table,
      TestingDatabase store,
      boolean dropConnections,
      long seed,
      AtomicBoolean stop) {
    this.spark = spark;
    this.syncCall = "CALL " + catalog + ".system.sync(table => '" + table + "')";
    this.store = store;
    this.dropConnections = dropConnections;
    this.random = new Random(seed);
    this.stop = stop;
  }

  @Override
  public void run() {
    long nextDrop = System.nanoTime() + seconds(20 + random.nextInt(30));
    while (!stop.get()) {
      sync();
      if (dropConnections && System.nanoTime() > nextDrop) {
        dropConnections();
        nextDrop = System.nanoTime() + seconds(25 + random.nextInt(35));
      }
      Pause.millis(2_000 + random.nextInt(4_000));
    }
  }

  void sync() {
    try {
      spark.sql(syncCall).collectAsList();
      syncs.incrementAndGet();
    } catch (RuntimeException e) {
      syncFailures.incrementAndGet();
      syncFailureMessages.merge(ChaosReport.shorten(ChaosReport.describe(e)), 1L, Long::sum);
    }
  }

  private void dropConnections() {
    try (Connection connection = store.connect();
        PreparedStatement terminate =
            connection.prepareStatement(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                    + " WHERE datname = ? AND pid <> pg_backend_pid()")) {
      terminate.setString(1, store.name());
      try (ResultSet result = terminate.executeQuery()) {
        result.next();
        connectionsTerminated.addAndGet(result.getLong(1));
      }
      connectionDrops.incrementAndGet();
    } catch (SQLException e) {
      syncFailureMessages.merge(
          "connection drop failed: " + ChaosReport.shorten(e.getMessage()), 1L, Long::sum);
    }
  }

  private static long seconds(long seconds) {
    return seconds * 1_000_000_000L;
  }
}
