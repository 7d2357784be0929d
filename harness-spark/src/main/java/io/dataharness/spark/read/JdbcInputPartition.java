package io.dataharness.spark.read;

import org.apache.spark.sql.connector.read.InputPartition;

/**
 * One jdbc source, read in one partition so that all its rows come from one snapshot.
 *
 * @param describe the source read, for messages
 * @param sourceId the value of {@code _source}
 * @param table the source's table, for messages
 * @param query the SQL returning the source's rows, one column per harness field named like it
 */
record JdbcInputPartition(
    String describe,
    String sourceId,
    String table,
    String url,
    String user,
    String password,
    String query)
    implements InputPartition {

  static JdbcInputPartition of(SourceRead read, String query) {
    return new JdbcInputPartition(
        read.describe(),
        read.source().id(),
        read.source().option("table").orElse("the jdbc source"),
        read.connection().jdbcUrl(),
        read.connection().jdbcUser(),
        read.connection().jdbcPassword(),
        query);
  }

  /** Hides the password. */
  @Override
  public String toString() {
    return "JdbcInputPartition[" + describe + ", " + table + " at " + url + "]";
  }
}
