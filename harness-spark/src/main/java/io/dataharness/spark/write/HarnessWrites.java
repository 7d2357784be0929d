package io.dataharness.spark.write;

import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.TableProperties;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.write.LogicalWriteInfo;
import org.apache.spark.sql.connector.write.V1Write;
import org.apache.spark.sql.connector.write.Write;
import org.apache.spark.sql.connector.write.WriteBuilder;
import org.apache.spark.sql.sources.InsertableRelation;

/**
 * Appends to a harness table ({@code df.writeTo("harness.ns.t").append()}) go to the source named
 * by the table property {@code write.source} and commit one version once every task succeeded:
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
    SourceDefinition source =
        writeSource(latest, table)
            .orElseThrow(
                () ->
                    new ValidationException(
                        "Cannot append to %s: it has no write source; set the table property %s to"
                            + " one of its sources %s",
                        fixed.table(), TableProperties.WRITE_SOURCE, latest.sources().keySet()));
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
                  if (source.kind() == SourceKind.KAFKA) {
                    DriverAppends.appendToKafka(
                        catalog,
                        fixed.table(),
                        source.id(),
                        data,
                        info.queryId(),
                        info.options()
                            .getLong(
                                DriverAppends.STABLE_OFFSET_TIMEOUT_OPTION,
                                DriverAppends.STABLE_OFFSET_TIMEOUT_DEFAULT));
                  } else if (source.kind() == SourceKind.ICEBERG) {
                    DriverAppends.appendToIceberg(
                        catalog, fixed.table(), source.id(), data, info.queryId());
                  } else {
                    DriverAppends.appendToPostgres(
                        catalog, fixed.table(), source.id(), data, info.queryId());
                  }
                };
              }
            });
  }

  private static WriteBuilder build(java.util.function.Supplier<Write> write) {
    return new WriteBuilder() {
      @Override
      public Write build() {
        return write.get();
      }
    };
  }

  private static Optional<SourceDefinition> writeSource(TableVersion version, HarnessTable table) {
    String id = table.properties().get(TableProperties.WRITE_SOURCE);
    if (id == null || id.isBlank()) {
      return Optional.empty();
    }
    if (!version.sources().containsKey(id.trim())) {
      throw new ValidationException(
          "Invalid table property %s = '%s' of %s: it is not one of the sources %s",
          TableProperties.WRITE_SOURCE, id, version.table(), version.sources().keySet());
    }
    return Optional.of(version.sources().get(id.trim()));
  }
}
