package io.dataharness.spark.read;

import io.dataharness.metadata.Secrets;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.connector.read.InputPartition;

/**
 * One jdbc source, read in one partition so that all its rows come from one snapshot.
 *
 * @param describe the source read, for messages
 * @param sourceId the value of {@code _source}
 * @param table the source's table, for messages
 * @param connectionName the connection's name, for messages
 * @param url the connection's JDBC URL without secret parameters
 * @param connectionProperties the driver properties: user, password, the URL's secret parameters
 * @param query the SQL returning the source's rows, one column per harness field named like it
 */
record JdbcInputPartition(
    String describe,
    String sourceId,
    String table,
    String connectionName,
    String url,
    Map<String, String> connectionProperties,
    String query)
    implements InputPartition {

  static JdbcInputPartition of(SourceRead read, String query) {
    return new JdbcInputPartition(
        read.describe(),
        read.source().id(),
        read.source().option("table").orElse("the jdbc source"),
        read.connection().name(),
        read.connection().jdbcUrlWithoutSecrets(),
        properties(read.connection().jdbcProperties()),
        query);
  }

  private static Map<String, String> properties(java.util.Properties properties) {
    Map<String, String> values = new TreeMap<>();
    properties
        .stringPropertyNames()
        .forEach(name -> values.put(name, properties.getProperty(name)));
    return Map.copyOf(values);
  }

  /** A driver's message with the connection's secrets hidden. */
  String scrub(String message) {
    return Secrets.scrub(message, Secrets.values(connectionProperties));
  }

  /** Hides the password. */
  @Override
  public String toString() {
    return "JdbcInputPartition["
        + describe
        + ", "
        + table
        + " at "
        + Secrets.maskUrl(url)
        + " "
        + Secrets.masked(connectionProperties)
        + "]";
  }
}
