package io.dataharness.spark.read;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.conf.ConnectionConfig;
import org.apache.spark.sql.types.StructType;

/**
 * One source of a harness table to read at the state recorded in one version: everything either
 * read path (the native union of the session extension, or the plain DataSource V2 scan) needs. It
 * lives on the driver; scan partitions carry only the plain values their reader needs.
 *
 * @param table the harness table
 * @param version the version being read
 * @param source the source's definition (column mapping, options, partition filter)
 * @param state the state to read; for kafka in latest mode, the end offsets were already replaced
 *     by the live end offsets at planning time
 * @param connection the resolved connection (with secrets, never logged)
 * @param schema the harness data columns of the version being read
 * @param options read options: {@link ReadOptions}
 */
public record SourceRead(
    TableIdentifier table,
    long version,
    SourceDefinition source,
    SourceState state,
    ConnectionConfig connection,
    StructType schema,
    ReadOptions options) {

  /** "source 'hot' (kafka) of logs.events at version 7", for messages. */
  public String describe() {
    return "source '"
        + source.id()
        + "' ("
        + source.kind().id()
        + ") of "
        + table
        + " at version "
        + version;
  }
}
