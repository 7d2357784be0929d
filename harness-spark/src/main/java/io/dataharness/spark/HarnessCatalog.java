package io.dataharness.spark;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.CatalogOptions;
import io.dataharness.spark.conf.ColumnDefaults;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.conf.TableProperties;
import io.dataharness.spark.ddl.AlterColumns;
import io.dataharness.spark.ddl.AlterProperties;
import io.dataharness.spark.errors.InvalidParameterException;
import io.dataharness.spark.errors.SparkErrors;
import io.dataharness.spark.read.HarnessSparkTable;
import io.dataharness.spark.read.PartitionFilter;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.KafkaSources;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.source.SourceSetup;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NamespaceAlreadyExistsException;
import org.apache.spark.sql.catalyst.analysis.NoSuchNamespaceException;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.catalyst.analysis.TableAlreadyExistsException;
import org.apache.spark.sql.connector.catalog.Column;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.NamespaceChange;
import org.apache.spark.sql.connector.catalog.ProcedureCatalog;
import org.apache.spark.sql.connector.catalog.SupportsNamespaces;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.apache.spark.sql.connector.catalog.TableCatalogCapability;
import org.apache.spark.sql.connector.catalog.TableChange;
import org.apache.spark.sql.connector.catalog.procedures.UnboundProcedure;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The DataHarness Spark catalog. Configure it with {@code spark.sql.catalog.<name> =
 * io.dataharness.spark.HarnessCatalog} and its options (under {@code spark.sql.catalog.<name>.}):
 *
 * <ul>
 *   <li>{@code uri}: the metadata store, {@code jdbc:postgresql://...} or {@code
 *       jdbc:h2:file:/path/harness} (embedded); {@code user}, {@code password};
 *   <li>{@code connection.<conn>.kind} = kafka | jdbc | iceberg, and the connection's settings (see
 *       {@link ConnectionConfig}).
 * </ul>
 *
 * Tables are harness tables; {@code <table>.versions}, {@code .sources}, {@code .commits} and
 * {@code .locks} are their metadata tables.
 */
public class HarnessCatalog
    implements TableCatalog, SupportsNamespaces, ProcedureCatalog, HarnessContext {
  private static final Logger LOG = LoggerFactory.getLogger(HarnessCatalog.class);

  private String name;
  private String metadataUri;
  private HarnessStore store;
  private Map<String, ConnectionConfig> connections;

  /**
   * Starts the catalog, refusing unknown options ({@link
   * io.dataharness.spark.conf.CatalogOptions#check}) and connection settings before it opens the
   * metadata store; a bad option is an {@code AnalysisException} naming it ({@link SparkErrors}).
   */
  @Override
  public void initialize(String name, CaseInsensitiveStringMap options) {
    this.name = name;
    try {
      start(options);
    } catch (ValidationException e) {
      throw SparkErrors.of(e, "catalog " + SparkErrors.quoted(name), null, CatalogOptions.URI);
    }
  }

  private void start(CaseInsensitiveStringMap options) {
    CatalogOptions.check(name, options.asCaseSensitiveMap());
    String uri = options.get(CatalogOptions.URI);
    if (uri == null) {
      throw new InvalidParameterException(
          CatalogOptions.URI,
          "Cannot start catalog %s: set spark.sql.catalog.%s.uri to the metadata store"
              + " (jdbc:postgresql://host:5432/db, or jdbc:h2:file:/path/harness for the embedded"
              + " store)",
          name,
          name);
    }
    this.metadataUri = uri;
    this.connections = ConnectionConfig.parseAll(options.asCaseSensitiveMap());
    try {
      this.store =
          StoreCache.open(
              uri, options.get(CatalogOptions.USER), options.get(CatalogOptions.PASSWORD));
    } catch (io.dataharness.metadata.MetadataStoreException e) {
      throw new io.dataharness.metadata.MetadataStoreException(
          e,
          "Cannot start catalog %s: %s (options spark.sql.catalog.%s.uri, .user and .password)",
          name,
          e.getMessage(),
          name);
    }
    io.dataharness.spark.metrics.HarnessMetrics.registerWithSpark();
    LOG.info(
        "DataHarness catalog {} on the {} with connections {}",
        name,
        store.description(),
        connections.keySet());
  }

  /** Column defaults: Spark fills them into INSERTs that leave the column out. */
  @Override
  public java.util.Set<TableCatalogCapability> capabilities() {
    return java.util.Set.of(TableCatalogCapability.SUPPORT_COLUMN_DEFAULT_VALUE);
  }

  @Override
  public String name() {
    return name;
  }

  /** The metadata store this catalog reads and commits to. */
  @Override
  public HarnessStore store() {
    return store;
  }

  /** The JDBC URL of the metadata store (the catalog option {@code uri}). */
  @Override
  public String metadataUri() {
    return metadataUri;
  }

  /** The connection a source refers to. */
  @Override
  public ConnectionConfig connection(TableIdentifier table, SourceDefinition source) {
    ConnectionConfig connection = connections.get(source.connection());
    if (connection == null) {
      throw new InvalidParameterException(
          TableProperties.SOURCE_PREFIX + source.id() + "." + TableProperties.CONNECTION,
          "Cannot use source '%s' of %s: catalog %s has no connection '%s'; configure"
              + " spark.sql.catalog.%s.connection.%s.kind=%s and its settings",
          source.id(),
          table,
          name,
          source.connection(),
          name,
          source.connection(),
          source.kind().id());
    }
    return connection;
  }

  // ---- procedures: CALL <catalog>.system.move(...) / sync(...) / unlock(...) ----

  @Override
  public UnboundProcedure loadProcedure(Identifier identifier) {
    return io.dataharness.spark.jobs.HarnessProcedures.load(this, identifier);
  }

  // no @Override: ProcedureCatalog has listProcedures from Spark 4.1 on (the runtime jar for Spark
  // 4.0 builds these sources too)
  public Identifier[] listProcedures(String[] namespace) {
    return io.dataharness.spark.jobs.HarnessProcedures.list(namespace);
  }

  // ---- namespaces ----

  @Override
  public String[][] listNamespaces() {
    return store.listNamespaces().stream().map(ns -> new String[] {ns}).toArray(String[][]::new);
  }

  @Override
  public String[][] listNamespaces(String[] namespace) throws NoSuchNamespaceException {
    if (namespace.length == 0) {
      return listNamespaces();
    }
    if (!namespaceExists(namespace)) {
      throw new NoSuchNamespaceException(namespace);
    }
    return new String[0][];
  }

  @Override
  public boolean namespaceExists(String[] namespace) {
    return namespace.length == 1 && store.namespaceExists(namespace[0]);
  }

  @Override
  public Map<String, String> loadNamespaceMetadata(String[] namespace)
      throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) {
      throw new NoSuchNamespaceException(namespace);
    }
    return store.namespaceProperties(namespace[0]);
  }

  @Override
  public void createNamespace(String[] namespace, Map<String, String> metadata)
      throws NamespaceAlreadyExistsException {
    String single;
    try {
      single = singleNamespace(namespace);
    } catch (ValidationException e) {
      throw SparkErrors.of(
          e,
          "CREATE NAMESPACE " + SparkErrors.quoted(name + "." + String.join(".", namespace)),
          null,
          "namespace");
    }
    if (store.namespaceExists(single)) {
      throw new NamespaceAlreadyExistsException(namespace);
    }
    store.createNamespace(single, metadata);
  }

  @Override
  public void alterNamespace(String[] namespace, NamespaceChange... changes) {
    throw new UnsupportedOperationException(
        "Cannot alter namespace " + String.join(".", namespace) + ": not supported yet");
  }

  @Override
  public boolean dropNamespace(String[] namespace, boolean cascade)
      throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) {
      throw new NoSuchNamespaceException(namespace);
    }
    if (cascade) {
      for (TableIdentifier table : store.listTables(namespace[0])) {
        store.dropTable(table);
      }
    }
    store.dropNamespace(namespace[0]);
    return true;
  }

  private String singleNamespace(String[] namespace) {
    if (namespace.length != 1) {
      throw new ValidationException(
          "Invalid namespace %s in catalog %s: harness namespaces have one level, such as logs",
          String.join(".", namespace), name);
    }
    return namespace[0];
  }

  // ---- tables ----

  @Override
  public Identifier[] listTables(String[] namespace) throws NoSuchNamespaceException {
    if (!namespaceExists(namespace)) {
      throw new NoSuchNamespaceException(namespace);
    }
    return store.listTables(namespace[0]).stream()
        .map(table -> Identifier.of(namespace, table.name()))
        .toArray(Identifier[]::new);
  }

  private Optional<TableIdentifier> tableIdentifier(Identifier identifier) {
    if (identifier.namespace().length != 1) {
      return Optional.empty();
    }
    return Optional.of(TableIdentifier.of(identifier.namespace()[0], identifier.name()));
  }

  /**
   * What an identifier names: a harness table ({@code view} null), its dedup view ({@code latest})
   * or one of its metadata tables ({@code versions}, {@code sources}, ...).
   */
  private record Resolved(TableIdentifier table, String view) {
    @Override
    public String toString() {
      return view == null ? table.toString() : table + "." + view;
    }
  }

  private static boolean isViewName(String name) {
    return name.equalsIgnoreCase(LATEST) || HarnessMetadataTables.kind(name).isPresent();
  }

  private static final String LATEST = "latest";

  /**
   * Resolves {@code ns.t} (a table), {@code ns.t.latest} / {@code ns.t.versions} (a view of table
   * ns.t), and {@code t.latest} / {@code t.versions} when this is the session's current catalog and
   * its current namespace ns holds table t ({@code USE harness.ns}). Spark gives the last two the
   * same identifier as a table {@code latest} in namespace {@code t}: such a table, if it exists,
   * takes precedence (write {@code ns.t.latest} for the view).
   */
  private Optional<Resolved> resolve(Identifier identifier) {
    String[] namespace = identifier.namespace();
    String name = identifier.name();
    Optional<TableIdentifier> direct = tableIdentifier(identifier);
    if (direct.isPresent() && store.tableExists(direct.get())) {
      if (isViewName(name)) {
        inCurrentNamespace(namespace[0])
            .ifPresent(
                shadowed ->
                    LOG.warn(
                        "{}.{} names table {} of catalog {}, not the {} view of {} in the current"
                            + " namespace; write {}.{} for the view",
                        namespace[0],
                        name,
                        direct.get(),
                        this.name,
                        name,
                        shadowed,
                        shadowed,
                        name));
      }
      return Optional.of(new Resolved(direct.get(), null));
    }
    if (!isViewName(name)) {
      return Optional.empty();
    }
    String view = name.toLowerCase(java.util.Locale.ROOT);
    if (namespace.length == 2) {
      TableIdentifier base = TableIdentifier.of(namespace[0], namespace[1]);
      return store.tableExists(base) ? Optional.of(new Resolved(base, view)) : Optional.empty();
    }
    if (namespace.length == 1) {
      return inCurrentNamespace(namespace[0]).map(base -> new Resolved(base, view));
    }
    return Optional.empty();
  }

  /** Table {@code name} of the active session's current namespace, if this is its catalog. */
  private Optional<TableIdentifier> inCurrentNamespace(String tableName) {
    scala.Option<SparkSession> active = SparkSession.getActiveSession();
    if (active.isEmpty()
        || !(active.get() instanceof org.apache.spark.sql.classic.SparkSession session)) {
      return Optional.empty();
    }
    var catalogs = session.sessionState().catalogManager();
    if (!catalogs.currentCatalog().name().equals(name)) {
      return Optional.empty();
    }
    String[] current = catalogs.currentNamespace();
    if (current.length != 1 || !store.namespaceExists(current[0])) {
      return Optional.empty();
    }
    TableIdentifier base = TableIdentifier.of(current[0], tableName);
    return store.tableExists(base) ? Optional.of(base) : Optional.empty();
  }

  @Override
  public Table loadTable(Identifier identifier) throws NoSuchTableException {
    Resolved resolved = resolve(identifier).orElseThrow(() -> new NoSuchTableException(identifier));
    try {
      return open(resolved, null);
    } catch (RuntimeException e) {
      throw userError(e, "table", identifier, "table");
    }
  }

  @Override
  public Table loadTable(Identifier identifier, String version) throws NoSuchTableException {
    Resolved resolved = resolve(identifier).orElseThrow(() -> new NoSuchTableException(identifier));
    try {
      refuseTimeTravel(resolved, "VERSION AS OF " + version);
      long number;
      try {
        number = Long.parseLong(version.trim());
      } catch (NumberFormatException e) {
        throw new ValidationException(
            "Invalid version '%s' for %s: harness versions are numbers (VERSION AS OF 12)",
            version, resolved);
      }
      return open(resolved, store.readVersion(resolved.table(), number));
    } catch (RuntimeException e) {
      throw userError(e, "table", identifier, "VERSION AS OF");
    }
  }

  @Override
  public Table loadTable(Identifier identifier, long timestampMicros) throws NoSuchTableException {
    Resolved resolved = resolve(identifier).orElseThrow(() -> new NoSuchTableException(identifier));
    Instant timestamp = Instant.EPOCH.plus(timestampMicros, java.time.temporal.ChronoUnit.MICROS);
    try {
      refuseTimeTravel(resolved, "TIMESTAMP AS OF " + timestamp);
      return open(resolved, store.readVersionAsOf(resolved.table(), timestamp));
    } catch (RuntimeException e) {
      throw userError(e, "table", identifier, "TIMESTAMP AS OF");
    }
  }

  /**
   * A harness error of a statement on a table as Spark's {@code AnalysisException} ({@link
   * SparkErrors}): {@code statement} ({@code CREATE TABLE}, or {@code table} when loading it for
   * any statement) and the table name where the error belongs, {@code parameters} what is invalid
   * when the error names nothing itself.
   */
  private RuntimeException userError(
      RuntimeException error, String statement, Identifier identifier, String... parameters) {
    String relation =
        name
            + "."
            + String.join(".", identifier.namespace())
            + (identifier.namespace().length == 0 ? "" : ".")
            + identifier.name();
    return SparkErrors.of(
        error, statement + " " + SparkErrors.quoted(relation), relation, parameters);
  }

  private static void refuseTimeTravel(Resolved resolved, String clause) {
    HarnessMetadataTables.kind(resolved.view() == null ? "" : resolved.view())
        .ifPresent(kind -> HarnessMetadataTables.checkTimeTravel(resolved.table(), kind, clause));
  }

  /** The table or view, at {@code pinned} (time travel), or at the latest version if null. */
  private Table open(Resolved resolved, io.dataharness.metadata.TableVersion pinned) {
    TableIdentifier table = resolved.table();
    if (resolved.view() == null) {
      return new HarnessSparkTable(
          this, pinned == null ? store.readLatest(table) : pinned, pinned != null);
    }
    if (resolved.view().equals(LATEST)) {
      if (store.loadTable(table).primaryKey().isEmpty()) {
        throw new InvalidParameterException(
            TableProperties.PRIMARY_KEY,
            "Cannot read %s.latest: table %s has no primary key; declare TBLPROPERTIES"
                + " ('primary-key' = '<columns>')",
            table,
            table);
      }
      return new HarnessSparkTable(
              this, pinned == null ? store.readLatest(table) : pinned, pinned != null)
          .latestImages();
    }
    return HarnessMetadataTables.load(
        this,
        table,
        HarnessMetadataTables.kind(resolved.view()).orElseThrow(),
        pinned == null ? null : pinned.version());
  }

  private TableIdentifier existing(Identifier identifier) throws NoSuchTableException {
    Optional<TableIdentifier> table = tableIdentifier(identifier);
    if (table.isEmpty() || !store.tableExists(table.get())) {
      throw new NoSuchTableException(identifier);
    }
    return table.get();
  }

  @Override
  public boolean tableExists(Identifier identifier) {
    return tableIdentifier(identifier).map(store::tableExists).orElse(false);
  }

  @Override
  public Table createTable(
      Identifier identifier,
      Column[] columns,
      Transform[] partitions,
      Map<String, String> properties)
      throws TableAlreadyExistsException, NoSuchNamespaceException {
    try {
      return create(identifier, columns, partitions, properties);
    } catch (RuntimeException e) {
      throw userError(e, "CREATE TABLE", identifier, "TBLPROPERTIES");
    }
  }

  private Table create(
      Identifier identifier,
      Column[] columns,
      Transform[] partitions,
      Map<String, String> properties)
      throws TableAlreadyExistsException, NoSuchNamespaceException {
    TableIdentifier table =
        tableIdentifier(identifier)
            .orElseThrow(
                () ->
                    new InvalidParameterException(
                        "table",
                        "Invalid table name %s: harness tables are named namespace.table",
                        identifier));
    if (partitions.length > 0) {
      throw new InvalidParameterException(
          "PARTITIONED BY",
          "Cannot create %s: PARTITIONED BY is not supported; declare which rows each source holds"
              + " with source.<id>.partition-filter",
          table);
    }
    if (!store.namespaceExists(table.namespace())) {
      throw new NoSuchNamespaceException(identifier.namespace());
    }
    if (store.tableExists(table)) {
      throw new TableAlreadyExistsException(identifier);
    }
    List<io.dataharness.metadata.Field> fields =
        new java.util.ArrayList<>(
            SparkSchemas.fromSpark(
                org.apache.spark.sql.connector.catalog.CatalogV2Util.v2ColumnsToStructType(
                    columns)));
    for (int i = 0; i < columns.length; i++) {
      io.dataharness.metadata.Field field = fields.get(i);
      fields.set(
          i,
          field.withDefault(
              ColumnDefaults.canonical(
                  table, field.name(), field.type(), columns[i].defaultValue())));
    }
    Schema schema = new Schema(1, fields);
    List<SourceDefinition> sources = TableProperties.sources(table, properties, connections);
    for (SourceDefinition source : sources) {
      PartitionFilter.check(table, source, SparkSchemas.toSpark(schema));
    }
    TableDefinition.Layout layout = TableProperties.layout(table, properties);
    Map<String, SourceDefinition> declared = new java.util.LinkedHashMap<>();
    sources.forEach(source -> declared.put(source.id(), source));
    TableProperties.writeSources(
        table, "create", layout.properties().get(TableProperties.WRITE_SOURCE), declared);
    TableDefinition.Builder definition =
        TableDefinition.builder(table, schema)
            .primaryKey(layout.primaryKey())
            .orderingColumn(layout.orderingColumn())
            .partitionColumns(layout.partitionColumns())
            .properties(layout.properties());
    // everything that can be checked before a source changes: bad input changes nothing
    for (SourceDefinition source : sources) {
      SourceSetup.check(SparkSession.active(), table, source, connection(table, source), schema);
    }
    SourceSetup setup = new SourceSetup(table);
    try {
      for (SourceDefinition source : sources) {
        definition.source(
            source,
            setup.register(
                SparkSession.active(),
                source,
                connection(table, source),
                () -> register(table, source, schema)));
      }
      store.createTable(definition.build());
    } catch (RuntimeException e) {
      // a later source (or the metadata store) failed: remove what the earlier ones installed,
      // unless the table was created after all (an ambiguous store failure)
      boolean created;
      try {
        created = store.tableExists(table);
      } catch (RuntimeException unknown) {
        e.addSuppressed(unknown);
        created = true; // cannot tell: keep the sources as they are
      }
      if (!created) {
        setup.undo(e);
      }
      throw e;
    }
    return new HarnessSparkTable(this, store.readLatest(table), false);
  }

  /** Pins a new source's current content as its first state (SPEC 4). */
  private SourceState register(TableIdentifier table, SourceDefinition source, Schema schema) {
    ConnectionConfig connection = connection(table, source);
    LOG.info("Registering source '{}' of {} through {}", source.id(), table, connection);
    switch (source.kind()) {
      case KAFKA:
        return KafkaSources.initialState(connection, source);
      case JDBC:
        return PostgresSources.register(connection, source, schema);
      default:
        return IcebergSources.register(SparkSession.active(), connection, source, schema);
    }
  }

  @Override
  public Table alterTable(Identifier identifier, TableChange... changes)
      throws NoSuchTableException {
    TableIdentifier table = existing(identifier);
    boolean properties = AlterProperties.handles(changes);
    try {
      if (properties) {
        AlterProperties.apply(
            this,
            table,
            changes,
            declared -> TableProperties.sources(table, declared, connections),
            (source, schema) -> register(table, source, schema));
      } else {
        AlterColumns.apply(this, table, changes);
      }
      return new HarnessSparkTable(this, store.readLatest(table), false);
    } catch (RuntimeException e) {
      throw userError(e, "ALTER TABLE", identifier, properties ? "TBLPROPERTIES" : "COLUMNS");
    }
  }

  @Override
  public boolean dropTable(Identifier identifier) {
    Optional<TableIdentifier> table = tableIdentifier(identifier);
    if (table.isEmpty() || !store.tableExists(table.get())) {
      return false;
    }
    try {
      store.dropTable(table.get());
    } catch (RuntimeException e) {
      throw userError(e, "DROP TABLE", identifier, "table");
    }
    return true;
  }

  /**
   * {@code ALTER TABLE ns.t RENAME TO t2} (same namespace) or {@code RENAME TO ns2.t2}: the store
   * renames the table; versions, sources, locks and the Iceberg tags (named by the table's uuid) go
   * with it. Refused while a writer holds one of its sources' locks or an open intent.
   */
  @Override
  public void renameTable(Identifier oldIdentifier, Identifier newIdentifier)
      throws NoSuchTableException {
    TableIdentifier from =
        tableIdentifier(oldIdentifier)
            .filter(store::tableExists)
            .orElseThrow(() -> new NoSuchTableException(oldIdentifier));
    try {
      rename(from, newIdentifier);
    } catch (RuntimeException e) {
      throw userError(e, "ALTER TABLE", oldIdentifier, "RENAME TO");
    }
  }

  private void rename(TableIdentifier from, Identifier newIdentifier) {
    String[] namespace = newIdentifier.namespace();
    if (namespace.length == 2 && namespace[0].equalsIgnoreCase(name)) {
      namespace = new String[] {namespace[1]}; // RENAME TO <this catalog>.ns.t2
    }
    if (namespace.length > 1 || isViewName(newIdentifier.name())) {
      throw new ValidationException(
          "Cannot rename table %s to %s: the new name must be a table name (t2) or a namespace and"
              + " a table name (ns.t2) in catalog %s, other than '%s' and the metadata table names"
              + " %s",
          from,
          newIdentifier,
          name,
          LATEST,
          java.util.Arrays.stream(HarnessMetadataTables.Kind.values())
              .map(kind -> kind.name().toLowerCase(java.util.Locale.ROOT))
              .toList());
    }
    TableIdentifier to =
        TableIdentifier.of(
            namespace.length == 0 ? from.namespace() : namespace[0], newIdentifier.name());
    store.renameTable(from, to);
  }
}
