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
 * <ul>
 *   <li>kafka: a DataSource V2 batch write; tasks produce in Kafka transactions and the driver's
 *       {@code BatchWrite.commit} records the offsets ({@link KafkaAppendWrite});
 *   <li>iceberg and jdbc: the driver receives the whole DataFrame (Spark's V1 write path) and
 *       writes it the way movers write a batch: an Iceberg staged snapshot, or one PostgreSQL
 *       upsert transaction, then the harness commit, then publishing ({@link DriverAppends}).
 * </ul>
 */
public final class HarnessWrites {
  private HarnessWrites() {}

  /** The write capabilities of a table, by the kind of its write source. */
  public static Set<TableCapability> capabilities(TableVersion version, HarnessTable table) {
    Optional<SourceDefinition> source = writeSource(version, table);
    if (source.isPresent() && source.get().kind() != SourceKind.KAFKA) {
      return EnumSet.of(TableCapability.V1_BATCH_WRITE);
    }
    return EnumSet.of(TableCapability.BATCH_WRITE);
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
    if (source.kind() == SourceKind.KAFKA) {
      return build(() -> new KafkaAppendWrite(catalog, latest, source, table.primaryKey(), info));
    }
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
                  if (source.kind() == SourceKind.ICEBERG) {
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
