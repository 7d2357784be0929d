package io.dataharness.spark.write;

import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.TableProperties;
import io.dataharness.spark.source.ServiceFailures;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.write.LogicalWriteInfo;
import org.apache.spark.sql.connector.write.V1Write;
import org.apache.spark.sql.connector.write.Write;
import org.apache.spark.sql.connector.write.WriteBuilder;
import org.apache.spark.sql.sources.InsertableRelation;

/**
 * Appends to a harness table ({@code df.writeTo("harness.ns.t").append()}) go to the source named
 * by the table property {@code write.source} and commit one version once every task succeeded (when
 * it names several sources, each row goes to the one whose partition filter it matches, see {@link
 * RoutedAppends}):
 *
 * <p>the driver receives the whole DataFrame (Spark's V1 write path) and writes it on the write
 * protocol the way movers write a batch ({@link DriverAppends}): Kafka transactions (after an
 * intent), an Iceberg staged snapshot, or one PostgreSQL upsert transaction (after an intent), then
 * the harness commit, then publishing.
 */
public final class HarnessWrites {
  private HarnessWrites() {}

  /** The write capabilities of a table: the driver receives the whole DataFrame (V1 write). */
  public static Set<TableCapability> capabilities(TableVersion version, HarnessTable table) {
    return EnumSet.of(TableCapability.V1_BATCH_WRITE);
  }

  public static WriteBuilder builder(
      HarnessContext catalog, TableVersion fixed, LogicalWriteInfo info) {
    HarnessTable table = catalog.store().loadTable(fixed.table());
    TableVersion latest = catalog.store().readLatest(fixed.table());
    List<String> writeSources =
        TableProperties.writeSources(
            fixed.table(),
            "append to",
            table.properties().get(TableProperties.WRITE_SOURCE),
            latest.sources());
    if (writeSources.isEmpty()) {
      throw new ValidationException(
          "Cannot append to %s: it has no write source; set the table property %s to one of its"
              + " sources %s (or to several, comma-separated, that declare partition filters)",
          fixed.table(), TableProperties.WRITE_SOURCE, latest.sources().keySet());
    }
    long stableOffsetTimeout =
        info.options()
            .getLong(
                DriverAppends.STABLE_OFFSET_TIMEOUT_OPTION,
                DriverAppends.STABLE_OFFSET_TIMEOUT_DEFAULT);
    if (writeSources.size() > 1) {
      return build(
          () ->
              new V1Write() {
                @Override
                public String description() {
                  return "DataHarness append to "
                      + fixed.table()
                      + " routed by partition to sources "
                      + writeSources;
                }

                @Override
                public InsertableRelation toInsertableRelation() {
                  return (data, overwrite) -> {
                    try {
                      RoutedAppends.append(
                          catalog,
                          fixed.table(),
                          catalog.store().readLatest(fixed.table()),
                          writeSources,
                          data,
                          info.queryId(),
                          stableOffsetTimeout);
                    } catch (RuntimeException e) {
                      Map<String, ConnectionConfig> connections = new TreeMap<>();
                      for (String id : writeSources) {
                        connections.put(id, catalog.connection(fixed.table(), latest.source(id)));
                      }
                      throw appendFailed(e, data, fixed.table(), connections);
                    }
                  };
                }
              });
    }
    SourceDefinition source = latest.source(writeSources.get(0));
    return build(
        () ->
            new V1Write() {
              @Override
              public String description() {
                return "DataHarness append to "
                    + fixed.table()
                    + " "
                    + source.kind().id()
                    + " source '"
                    + source.id()
                    + "'";
              }

              @Override
              public InsertableRelation toInsertableRelation() {
                return (data, overwrite) -> {
                  try {
                    appendTo(source, data);
                  } catch (RuntimeException e) {
                    throw appendFailed(
                        e,
                        data,
                        fixed.table(),
                        Map.of(source.id(), catalog.connection(fixed.table(), source)));
                  }
                };
              }

              private void appendTo(SourceDefinition source, Dataset<Row> data) {
                if (source.kind() == SourceKind.KAFKA) {
                  DriverAppends.appendToKafka(
                      catalog,
                      fixed.table(),
                      source.id(),
                      data,
                      info.queryId(),
                      stableOffsetTimeout);
                } else if (source.kind() == SourceKind.ICEBERG) {
                  DriverAppends.appendToIceberg(
                      catalog, fixed.table(), source.id(), data, info.queryId());
                } else {
                  DriverAppends.appendToPostgres(
                      catalog, fixed.table(), source.id(), data, info.queryId());
                }
              }
            });
  }

  /**
   * An append that failed because a service of its write sources failed: the error names the table,
   * the service, the source and its connection (see {@link ServiceFailures}).
   */
  private static RuntimeException appendFailed(
      RuntimeException e,
      Dataset<Row> data,
      TableIdentifier table,
      Map<String, ConnectionConfig> connections) {
    return ServiceFailures.wrap(
        e,
        data.sparkSession(),
        connections,
        "append to " + table,
        "no version shows the rows; run the INSERT again once the service answers");
  }

  private static WriteBuilder build(java.util.function.Supplier<Write> write) {
    return new WriteBuilder() {
      @Override
      public Write build() {
        return write.get();
      }
    };
  }
}
