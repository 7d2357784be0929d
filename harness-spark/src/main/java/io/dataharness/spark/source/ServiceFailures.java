package io.dataharness.spark.source;

import io.dataharness.metadata.Causes;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SqlStates;
import io.dataharness.spark.conf.ConnectionConfig;
import java.sql.SQLException;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/**
 * Tells a failure of a service a source lives on (the Iceberg catalog, the PostgreSQL database, the
 * Kafka broker) from other failures, and words it for the operation that failed: "Cannot append to
 * ns.t: the Iceberg catalog lake at ... of connection 'lake' did not answer ...; nothing was
 * appended: run the INSERT again once the service answers".
 */
public final class ServiceFailures {
  private ServiceFailures() {}

  /**
   * The failure as an error naming the operation, the service, the source and its connection, when
   * a service of one of {@code connections} (by source id) failed; otherwise {@code e} itself.
   *
   * @param action what failed, after "Cannot ": "append to ns.t", "compact source 'cold' of ns.t"
   * @param retry what the user does, after the reason: "nothing was appended: run the INSERT again
   *     once the service answers"
   */
  public static RuntimeException wrap(
      RuntimeException e,
      SparkSession spark,
      Map<String, ConnectionConfig> connections,
      String action,
      String retry) {
    return describe(e, spark, connections)
        .<RuntimeException>map(
            reason ->
                new SourceUnavailableException(
                    scrub(e, connections), "Cannot %s: %s; %s", action, reason, retry))
        .orElse(e);
  }

  /** What failed, if a service of one of the connections failed (see {@link #wrap}). */
  static Optional<String> describe(
      RuntimeException e, SparkSession spark, Map<String, ConnectionConfig> connections) {
    Optional<String> unreachable =
        Causes.first(
                e,
                Throwable.class,
                cause ->
                    cause instanceof KafkaSources.UnreachableException
                        || (cause instanceof SourceUnavailableException
                            && cause.getMessage() != null
                            && cause.getMessage().startsWith("Cannot connect to ")))
            .map(Throwable::getMessage);
    if (unreachable.isPresent()) {
      return unreachable;
    }
    Optional<SQLException> lost = SqlStates.connectionLost(e);
    for (Map.Entry<String, ConnectionConfig> entry : connections.entrySet()) {
      ConnectionConfig connection = entry.getValue();
      if (connection.kind() == SourceKind.ICEBERG) {
        Optional<Throwable> down = IcebergSources.catalogFailure(e);
        if (down.isPresent()) {
          return Optional.of(
              String.format(
                  "the %s (source '%s') did not answer (%s); check that the catalog's service runs"
                      + " and accepts connections",
                  IcebergSources.describeCatalog(spark, connection),
                  entry.getKey(),
                  connection.scrub(String.valueOf(down.get().getMessage()))));
        }
      }
      if (connection.kind() == SourceKind.JDBC && lost.isPresent()) {
        return Optional.of(
            PostgresSources.describe(connection, entry.getKey())
                + " failed: "
                + PostgresSources.lostConnection(connection, lost.get()));
      }
    }
    return Optional.empty();
  }

  private static Throwable scrub(Throwable e, Map<String, ConnectionConfig> connections) {
    Throwable scrubbed = e;
    for (ConnectionConfig connection : connections.values()) {
      scrubbed = connection.scrub(scrubbed);
    }
    return scrubbed;
  }
}
