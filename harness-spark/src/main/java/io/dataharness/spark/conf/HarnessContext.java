package io.dataharness.spark.conf;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.TableIdentifier;

/**
 * What jobs, procedures, reads, writes and audits need from a harness catalog: its name, its
 * metadata store and the connections its sources refer to. {@code
 * io.dataharness.spark.HarnessCatalog} implements it; the packages below the catalog depend on this
 * interface, never on the catalog class.
 */
public interface HarnessContext {
  /** The catalog's name (as configured under {@code spark.sql.catalog.<name>}). */
  String name();

  /** The metadata store the catalog reads and commits to. */
  HarnessStore store();

  /** The JDBC URL of the metadata store (the catalog option {@code uri}). */
  String metadataUri();

  /** The connection a source refers to. */
  ConnectionConfig connection(TableIdentifier table, SourceDefinition source);
}
