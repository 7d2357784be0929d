package io.dataharness.spark.source;

import io.dataharness.metadata.Causes;
import io.dataharness.metadata.Field;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SchemaDiff;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.SparkSchemas;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.spark.source.SparkTable;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.connector.catalog.CatalogPlugin;
import org.apache.spark.sql.connector.catalog.Column;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.SupportsNamespaces;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.apache.spark.sql.connector.catalog.TableChange;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Iceberg sources: a table in a Spark catalog configured for Iceberg (the connection's {@code
 * spark-catalog}), read through Iceberg's own Spark reader at the snapshot a version records.
 */
public final class IcebergSources {
  private IcebergSources() {}

  /** The Spark catalog of an iceberg connection. */
  public static TableCatalog catalog(SparkSession spark, ConnectionConfig connection) {
    CatalogPlugin plugin;
    try {
      plugin =
          ((org.apache.spark.sql.classic.SparkSession) spark)
              .sessionState()
              .catalogManager()
              .catalog(connection.sparkCatalog());
    } catch (RuntimeException e) {
      throw new ValidationException(
          "Cannot use %s: Spark has no catalog '%s'; configure spark.sql.catalog.%s ="
              + " org.apache.iceberg.spark.SparkCatalog",
          connection, connection.sparkCatalog(), connection.sparkCatalog());
    }
    if (!(plugin instanceof TableCatalog tableCatalog)) {
      throw new ValidationException(
          "Cannot use %s: Spark catalog '%s' is not a table catalog", connection, plugin.name());
    }
    return tableCatalog;
  }

  /** The Iceberg table identifier of a source ({@code namespace.table}). */
  public static Identifier identifier(SourceDefinition source) {
    String table = source.option("table").orElseThrow();
    int dot = table.lastIndexOf('.');
    if (dot <= 0) {
      throw new ValidationException(
          "Invalid table property 'source.%s.table' = '%s': an iceberg source names"
              + " namespace.table",
          source.id(), table);
    }
    return Identifier.of(table.substring(0, dot).split("\\."), table.substring(dot + 1));
  }

  /**
   * Registers an iceberg source: creates the table from the harness schema if it is missing, and
   * returns its current snapshot (or empty) as the first state, reloaded from the Iceberg catalog
   * (a long-lived session's Spark catalog may cache the table from before another process wrote to
   * it).
   */
  public static SourceState.Iceberg register(
      SparkSession spark, ConnectionConfig connection, SourceDefinition source, Schema schema) {
    TableCatalog catalog = catalog(spark, connection);
    Identifier identifier = identifier(source);
    // the first state is the table's current snapshot, not the one a cached table last saw
    catalog.invalidateTable(identifier);
    try {
      return currentState(catalog.loadTable(identifier));
    } catch (NoSuchTableException missing) {
      createTable(catalog, identifier, source, schema);
      return SourceState.Iceberg.empty();
    }
  }

  private static void createTable(
      TableCatalog catalog, Identifier identifier, SourceDefinition source, Schema schema) {
    try {
      if (catalog instanceof SupportsNamespaces namespaces
          && !namespaces.namespaceExists(identifier.namespace())) {
        namespaces.createNamespace(identifier.namespace(), Map.of());
      }
      List<Column> columns = new ArrayList<>();
      for (Field field : schema.fields()) {
        columns.add(
            Column.create(
                source.sourceColumn(field.name()),
                SparkSchemas.toSpark(field.type()),
                !field.required()));
      }
      catalog.createTable(identifier, columns.toArray(Column[]::new), new Transform[0], Map.of());
    } catch (Exception e) {
      throw new HarnessException(
          e,
          "Cannot create Iceberg table %s for source '%s': %s",
          identifier,
          source.id(),
          e.getMessage());
    }
  }

  /**
   * Makes a registered Iceberg table follow a harness schema change ({@code ALTER TABLE}) through
   * Iceberg's own schema evolution (by Iceberg field id, so data files written before stay
   * readable): adds the new columns (optional; a default becomes the column's {@code
   * initial-default} and {@code write-default}, see {@link #checkDefaults}), widens types, makes
   * columns optional and sets comments. Idempotent: what the table already has is skipped, so
   * running it again after a failure completes it. Renamed and dropped columns are left as they are
   * (see {@link SchemaDiff}).
   */
  public static void evolve(
      SparkSession spark, ConnectionConfig connection, SourceDefinition source, SchemaDiff diff) {
    TableCatalog catalog = catalog(spark, connection);
    Identifier identifier = identifier(source);
    catalog.invalidateTable(identifier);
    try {
      StructType current = catalog.loadTable(identifier).schema();
      List<TableChange> changes = new ArrayList<>();
      for (Field field : diff.added()) {
        String column = source.sourceColumn(field.name());
        DataType type = SparkSchemas.toSpark(field.type());
        Optional<StructField> existing = field(current, column);
        if (existing.isEmpty() && field.defaultValue() != null) {
          addWithDefault(catalog, identifier, column, field);
        } else if (existing.isEmpty()) {
          changes.add(TableChange.addColumn(new String[] {column}, type, true, field.doc()));
        } else if (!existing.get().dataType().equals(type)) {
          throw new ValidationException(
              "Cannot add column '%s' to source '%s': Iceberg table %s already has a column %s of"
                  + " type %s, not %s; drop or rename that column, or add the harness column under"
                  + " another name",
              field.name(),
              source.id(),
              identifier,
              column,
              existing.get().dataType().simpleString(),
              type.simpleString());
        }
      }
      for (Field field : diff.widened()) {
        String column = source.sourceColumn(field.name());
        DataType type = SparkSchemas.toSpark(field.type());
        if (field(current, column).map(f -> !f.dataType().equals(type)).orElse(false)) {
          changes.add(TableChange.updateColumnType(new String[] {column}, type));
        }
      }
      for (Field field : diff.madeOptional()) {
        String column = source.sourceColumn(field.name());
        if (field(current, column).map(f -> !f.nullable()).orElse(false)) {
          changes.add(TableChange.updateColumnNullability(new String[] {column}, true));
        }
      }
      for (Field field : diff.commented()) {
        String column = source.sourceColumn(field.name());
        if (field(current, column).isPresent()) {
          changes.add(TableChange.updateColumnComment(new String[] {column}, field.doc()));
        }
      }
      if (!changes.isEmpty()) {
        catalog.alterTable(identifier, changes.toArray(TableChange[]::new));
      }
    } catch (NoSuchTableException e) {
      throw new SourceUnavailableException(
          e, "Cannot alter source '%s': Iceberg table %s does not exist", source.id(), identifier);
    }
  }

  /** The first Iceberg format version whose tables hold column defaults. */
  static final int DEFAULTS_FORMAT_VERSION = 3;

  /**
   * Checks, before any source changes, that the source's Iceberg table can hold the defaults of the
   * columns {@code diff} adds: Iceberg keeps a column's default ({@code initial-default}, read for
   * rows of data files written before the column, and {@code write-default}) only from format
   * version 3; on older tables rows already written would read NULL instead of the default.
   */
  public static void checkDefaults(
      SparkSession spark,
      ConnectionConfig connection,
      SourceDefinition source,
      SchemaDiff diff,
      String table) {
    List<Field> defaulted = diff.added().stream().filter(f -> f.defaultValue() != null).toList();
    if (defaulted.isEmpty()) {
      return;
    }
    TableCatalog catalog = catalog(spark, connection);
    Identifier identifier = identifier(source);
    catalog.invalidateTable(identifier);
    org.apache.iceberg.Table iceberg;
    try {
      iceberg = ((SparkTable) catalog.loadTable(identifier)).table();
    } catch (NoSuchTableException e) {
      throw new SourceUnavailableException(
          e, "Cannot alter source '%s': Iceberg table %s does not exist", source.id(), identifier);
    }
    int formatVersion = formatVersion(iceberg);
    if (formatVersion < DEFAULTS_FORMAT_VERSION) {
      throw new ValidationException(
          "Cannot add column '%s' with a DEFAULT to %s: its source '%s' is Iceberg table %s.%s of"
              + " format version %d, and Iceberg keeps column defaults only from format version"
              + " %d (rows already written would read NULL). Nothing was changed. Upgrade the"
              + " Iceberg table (ALTER TABLE %s.%s SET TBLPROPERTIES ('format-version' = '3'), once"
              + " every reader of it supports v3) and run the statement again, or add the column"
              + " without a default",
          defaulted.get(0).name(),
          table,
          source.id(),
          connection.sparkCatalog(),
          identifier,
          formatVersion,
          DEFAULTS_FORMAT_VERSION,
          connection.sparkCatalog(),
          identifier);
    }
  }

  private static int formatVersion(org.apache.iceberg.Table table) {
    if (table instanceof org.apache.iceberg.HasTableOperations operations) {
      return operations.operations().current().formatVersion();
    }
    return Integer.parseInt(table.properties().getOrDefault("format-version", "2"));
  }

  /** Adds {@code column} with the field's default as its initial and write default. */
  private static void addWithDefault(
      TableCatalog catalog, Identifier identifier, String column, Field field)
      throws NoSuchTableException {
    org.apache.iceberg.Table iceberg = ((SparkTable) catalog.loadTable(identifier)).table();
    org.apache.iceberg.types.Type type =
        org.apache.iceberg.spark.SparkSchemaUtil.convert(SparkSchemas.toSpark(field.type()));
    iceberg
        .updateSchema()
        .addColumn(column, type, field.doc(), icebergLiteral(field, type))
        .commit();
    catalog.invalidateTable(identifier);
  }

  private static org.apache.iceberg.expressions.Literal<?> icebergLiteral(
      Field field, org.apache.iceberg.types.Type type) {
    Object value = field.defaultJavaValue();
    org.apache.iceberg.expressions.Literal<?> literal;
    if (value instanceof Boolean bool) {
      literal = org.apache.iceberg.expressions.Literal.of(bool);
    } else if (value instanceof Integer integer) {
      literal = org.apache.iceberg.expressions.Literal.of(integer);
    } else if (value instanceof Long number) {
      literal = org.apache.iceberg.expressions.Literal.of(number);
    } else if (value instanceof Float number) {
      literal = org.apache.iceberg.expressions.Literal.of(number);
    } else if (value instanceof Double number) {
      literal = org.apache.iceberg.expressions.Literal.of(number);
    } else if (value instanceof java.math.BigDecimal decimal) {
      literal = org.apache.iceberg.expressions.Literal.of(decimal);
    } else if (value instanceof String text) {
      literal = org.apache.iceberg.expressions.Literal.of(text);
    } else if (value instanceof byte[] bytes) {
      literal = org.apache.iceberg.expressions.Literal.of(java.nio.ByteBuffer.wrap(bytes));
    } else {
      // dates as days, timestamps as microseconds: Spark's values are Iceberg's
      Object internal = io.dataharness.spark.conf.ColumnDefaults.internalValue(field.type(), value);
      literal =
          internal instanceof Integer days
              ? org.apache.iceberg.expressions.Literal.of(days)
              : org.apache.iceberg.expressions.Literal.of((Long) internal);
    }
    org.apache.iceberg.expressions.Literal<?> converted = literal.to(type);
    if (converted == null) {
      throw new IllegalStateException(
          "Cannot convert default " + field.defaultValue() + " of " + field.name() + " to " + type);
    }
    return converted;
  }

  private static Optional<StructField> field(StructType schema, String column) {
    return java.util.Arrays.stream(schema.fields())
        .filter(f -> f.name().equals(column))
        .findFirst();
  }

  /** The state of an Iceberg table now: its current snapshot, or empty. */
  public static SourceState.Iceberg currentState(Table table) {
    Snapshot snapshot = ((SparkTable) table).table().currentSnapshot();
    return snapshot == null
        ? SourceState.Iceberg.empty()
        : SourceState.Iceberg.of(snapshot.snapshotId());
  }

  /**
   * Loads the source's table at a snapshot, failing with an error naming the table, version, source
   * and snapshot when the snapshot is gone (expired), or naming the Iceberg catalog (its Spark
   * catalog, service URI and connection) when the catalog's service does not answer.
   *
   * <p>A long-lived session's Spark catalog may hold the table's metadata from before another
   * process changed it (Iceberg's {@code CachingCatalog} expires a table only after it was not
   * accessed for a while, so a busy table is never reloaded): the snapshot may be unknown to it
   * (committed since), or known although another process expired it since. Either way the table is
   * loaded again after invalidating the catalog's cached table, and the snapshot is only called
   * expired if the reloaded table does not have it either. Telling an expired snapshot from a
   * stored one costs one existence check of its manifest list.
   */
  public static Table loadAt(
      TableCatalog catalog,
      ConnectionConfig connection,
      SourceDefinition source,
      long snapshotId,
      String describe) {
    Identifier identifier = identifier(source);
    try {
      Table table = loadSnapshot(catalog, identifier, snapshotId, describe);
      if (missingManifestList(table, snapshotId) == null) {
        return table;
      }
    } catch (RuntimeException unknown) {
      // not in the loaded table's metadata, or the catalog did not answer: look again below
    }
    catalog.invalidateTable(identifier);
    RuntimeException failure;
    try {
      Table table = loadSnapshot(catalog, identifier, snapshotId, describe);
      String missing = missingManifestList(table, snapshotId);
      if (missing == null) {
        return table;
      }
      failure = new IllegalStateException("its manifest list " + missing + " does not exist");
    } catch (SourceUnavailableException gone) {
      throw gone;
    } catch (RuntimeException e) {
      failure = e;
    }
    Optional<Throwable> down = catalogFailure(failure);
    if (down.isPresent()) {
      throw new SourceUnavailableException(
          connection.scrub(failure),
          "Cannot read %s: the %s did not answer while loading table %s at snapshot %d (%s); check"
              + " that the catalog's service runs and accepts connections, and retry the read once"
              + " it does: nothing was read",
          describe,
          describeCatalog(SparkSession.active(), connection),
          identifier,
          snapshotId,
          connection.scrub(String.valueOf(down.get().getMessage())));
    }
    throw new SourceUnavailableException(
        failure,
        "Cannot read %s: Iceberg table %s no longer has snapshot %d (expired?); versions that"
            + " reference it cannot be read. Protect snapshots that retained harness versions"
            + " need from expiry, or read a later version (%s)",
        describe,
        identifier,
        snapshotId,
        failure.getMessage());
  }

  /**
   * The failure of the Iceberg catalog's service in an exception chain, if that is what it is: a
   * JDBC catalog's database that refused or lost the connection, a REST catalog that is unavailable
   * or failed.
   */
  public static Optional<Throwable> catalogFailure(Throwable e) {
    return Causes.first(
        e,
        Throwable.class,
        cause ->
            cause instanceof org.apache.iceberg.jdbc.UncheckedSQLException
                || cause instanceof org.apache.iceberg.exceptions.ServiceUnavailableException
                || cause instanceof org.apache.iceberg.exceptions.ServiceFailureException);
  }

  /**
   * "Iceberg catalog lake at jdbc:postgresql://host/db (spark.sql.catalog.lake.uri) of connection
   * 'lake'", for messages: the Spark catalog, its service URI with secrets hidden, the connection.
   */
  public static String describeCatalog(SparkSession spark, ConnectionConfig connection) {
    String key = "spark.sql.catalog." + connection.sparkCatalog() + ".uri";
    Optional<String> uri =
        spark == null ? Optional.empty() : Optional.ofNullable(spark.conf().get(key, null));
    return "Iceberg catalog "
        + connection.sparkCatalog()
        + uri.map(u -> " at " + io.dataharness.metadata.Secrets.maskUrl(u) + " (" + key + ")")
            .orElse("")
        + " of connection '"
        + connection.name()
        + "'";
  }

  /** The manifest list of the snapshot if it no longer exists (the snapshot expired), or null. */
  private static String missingManifestList(Table table, long snapshotId) {
    if (!(table instanceof SparkTable sparkTable)) {
      return null;
    }
    Snapshot snapshot = sparkTable.table().snapshot(snapshotId);
    String location = snapshot == null ? null : snapshot.manifestListLocation();
    if (location == null || sparkTable.table().io().newInputFile(location).exists()) {
      return null;
    }
    return location;
  }

  private static Table loadSnapshot(
      TableCatalog catalog, Identifier identifier, long snapshotId, String describe) {
    try {
      return catalog.loadTable(identifier, String.valueOf(snapshotId));
    } catch (NoSuchTableException e) {
      throw new SourceUnavailableException(
          e,
          "Cannot read %s: Iceberg table %s no longer exists; restore it or remove the source",
          describe,
          identifier);
    }
  }
}
