package io.dataharness.spark.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;

/**
 * The Spark session of a job's {@code main}, started only when the job gets past its options (so
 * {@code --help} and usage errors never start Spark), and stopped before the JVM exits with the
 * job's code.
 */
final class JobSession implements Supplier<SparkSession> {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final String appName;
  private SparkSession session;

  JobSession(String appName) {
    this.appName = appName;
  }

  @Override
  public synchronized SparkSession get() {
    if (session == null) {
      session = SparkSession.builder().appName(appName).getOrCreate();
    }
    return session;
  }

  /** Stops the session if it was started, then ends the JVM with {@code exitCode}. */
  void exit(int exitCode) {
    System.out.flush();
    synchronized (this) {
      if (session != null) {
        try {
          session.stop();
        } catch (RuntimeException e) {
          System.err.println("Cannot stop the Spark session cleanly: " + e);
        }
      }
    }
    System.exit(exitCode);
  }

  static ObjectNode object() {
    return JSON.createObjectNode();
  }

  static ObjectNode parse(String json) {
    try {
      return (ObjectNode) JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  static String json(ObjectNode node) {
    try {
      return JSON.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
