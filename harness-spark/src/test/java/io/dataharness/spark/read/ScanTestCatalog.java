package io.dataharness.spark.read;

import io.dataharness.spark.conf.MetadataColumns;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.MetadataColumn;
import org.apache.spark.sql.connector.catalog.SupportsMetadataColumns;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.apache.spark.sql.connector.catalog.TableChange;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * A catalog for scan tests: tables registered by name whose reads go through {@link
 * HarnessScanBuilder}, without the harness catalog or its session extension.
 */
public final class ScanTestCatalog implements TableCatalog {
  static final String NAME = "scantest";
  private static final Map<String, Table> TABLES = new ConcurrentHashMap<>();

  /** Registers {@code scantest.ns.<name>}; the builder gets the read options of each scan. */
  static String register(
      String name,
      StructType dataSchema,
      Function<CaseInsensitiveStringMap, HarnessScanBuilder> scanBuilders) {
    TABLES.put(name, new ScanTestTable(name, dataSchema, scanBuilders));
    return NAME + ".ns." + name;
  }

  @Override
  public void initialize(String name, CaseInsensitiveStringMap options) {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Identifier[] listTables(String[] namespace) {
    return TABLES.keySet().stream()
        .map(name -> Identifier.of(namespace, name))
        .toArray(Identifier[]::new);
  }

  @Override
  public Table loadTable(Identifier ident)
      throws org.apache.spark.sql.catalyst.analysis.NoSuchTableException {
    Table table = TABLES.get(ident.name());
    if (table == null) {
      throw new org.apache.spark.sql.catalyst.analysis.NoSuchTableException(ident);
    }
    return table;
  }

  @Override
  public Table alterTable(Identifier ident, TableChange... changes) {
    throw new UnsupportedOperationException("scan test catalog is read-only");
  }

  @Override
  public boolean dropTable(Identifier ident) {
    return TABLES.remove(ident.name()) != null;
  }

  @Override
  public void renameTable(Identifier oldIdent, Identifier newIdent) {
    throw new UnsupportedOperationException("scan test catalog is read-only");
  }

  private record ScanTestTable(
      String name,
      StructType dataSchema,
      Function<CaseInsensitiveStringMap, HarnessScanBuilder> scanBuilders)
      implements SupportsRead, SupportsMetadataColumns {
    @Override
    public StructType schema() {
      return dataSchema;
    }

    @Override
    public Set<TableCapability> capabilities() {
      return EnumSet.of(TableCapability.BATCH_READ);
    }

    @Override
    public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
      return scanBuilders.apply(options);
    }

    @Override
    public MetadataColumn[] metadataColumns() {
      return MetadataColumns.connectorColumns();
    }
  }
}
