package io.dataharness.spark.source;

import static io.dataharness.spark.source.PostgresTableName.quote;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.conf.TableProperties;
import io.dataharness.spark.errors.IncompatibleTypeException;
import io.dataharness.spark.errors.InvalidParameterException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.SupportsNamespaces;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sets up the sources of a new harness table ({@code CREATE TABLE}) so that bad input changes
 * nothing: {@link #check} validates a source without changing anything (the Kafka topic and
 * partitions exist, the PostgreSQL and Iceberg tables are reachable and their existing columns have
 * types the harness columns can read), and {@link #register} remembers what existed before each
 * source was registered, so that {@link #undo} removes what the harness created or added (tables,
 * history tables, triggers, system columns, Iceberg tables) when a later source or the metadata
 * store fails. Kafka sources change nothing to undo.
 */
public final class SourceSetup {
  private static final Logger LOG = LoggerFactory.getLogger(SourceSetup.class);

  private final TableIdentifier table;
  private final Deque<Undo> undos = new ArrayDeque<>();

  public SourceSetup(TableIdentifier table) {
    this.table = table;
  }

  /** What removes one source's setup. */
  private interface Undo {
    void run() throws Exception;

    String describe();
  }

  /**
   * Validates one source of {@code table} without changing anything.
   *
   * @throws ValidationException naming the source and what to fix
   * @throws SourceUnavailableException when the source's service cannot be reached
   */
  public static void check(
      SparkSession spark,
      TableIdentifier table,
      SourceDefinition source,
      ConnectionConfig connection,
      Schema schema) {
    switch (source.kind()) {
      case KAFKA -> checkKafka(source, connection);
      case JDBC -> checkPostgres(table, source, connection, schema);
      case ICEBERG -> checkIceberg(spark, table, source, connection, schema);
    }
  }

  /**
   * Registers one source through {@code register}, first remembering what existed, so that {@link
   * #undo} can remove what it created.
   */
  public SourceState register(
      SparkSession spark,
      SourceDefinition source,
      ConnectionConfig connection,
      Supplier<SourceState> register) {
    if (source.kind() == SourceKind.JDBC) {
      undos.push(postgresUndo(source, connection));
    } else if (source.kind() == SourceKind.ICEBERG) {
      undos.push(icebergUndo(spark, source, connection));
    }
    return register.get();
  }

  /**
   * Removes what the registered sources created, newest first; a step that fails is logged and
   * added to {@code failure} as suppressed, and the others still run.
   */
  public void undo(Throwable failure) {
    while (!undos.isEmpty()) {
      Undo undo = undos.pop();
      try {
        undo.run();
        LOG.info("Creating {} failed: undid {}", table, undo.describe());
      } catch (Exception e) {
        LOG.warn("Creating {} failed and undoing {} failed too", table, undo.describe(), e);
        failure.addSuppressed(e);
      }
    }
  }

  /**
   * A topic that does not exist is bad input here (the source's topic option names it), where a
   * mover finding its topic gone meets a fault.
   */
  private static void checkKafka(SourceDefinition source, ConnectionConfig connection) {
    try {
      KafkaSources.partitions(connection, source);
    } catch (SourceUnavailableException e) {
      if (e.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException) {
        InvalidParameterException invalid =
            new InvalidParameterException(
                TableProperties.SOURCE_PREFIX + source.id() + ".topic", "%s", e.getMessage());
        invalid.initCause(e);
        throw invalid;
      }
      throw e;
    }
  }

  // ---- PostgreSQL ----

  private static void checkPostgres(
      TableIdentifier table, SourceDefinition source, ConnectionConfig connection, Schema schema) {
    PostgresTableName name = PostgresTableName.of(source);
    PostgresSources.checkNoSystemColumnMapped(source, schema);
    for (Field field : schema.fields()) {
      try {
        PostgresSources.postgresType(field.type());
      } catch (ValidationException e) {
        throw new IncompatibleTypeException(
            field.name(),
            "Cannot create %s: column '%s' has type %s, which jdbc source '%s' cannot hold; use"
                + " a boolean, number, string, binary, date or timestamp column, or another source"
                + " kind",
            table,
            field.name(),
            field.type(),
            source.id());
      }
    }
    Map<String, String> columns;
    try (Connection jdbc = PostgresSources.connect(connection)) {
      columns = columnTypes(jdbc, name.schema(), name.table());
    } catch (SQLException e) {
      throw unreadable(e, name, source, connection);
    }
    if (columns.isEmpty()) {
      return; // registering creates it from the harness schema
    }
    if (columns.containsKey(PostgresSources.VALID_TO)) {
      throw new ValidationException(
          "Cannot register source '%s': PostgreSQL table %s has a column %s, a name the harness"
              + " keeps for its history table; rename that column",
          source.id(), name, PostgresSources.VALID_TO);
    }
    String validFrom = columns.get(PostgresSources.VALID_FROM);
    if (validFrom != null && !validFrom.equals("timestamp with time zone")) {
      throw new ValidationException(
          "Cannot register source '%s': PostgreSQL table %s has a column %s of type %s, a name the"
              + " harness keeps for row validity; rename that column",
          source.id(), name, PostgresSources.VALID_FROM, validFrom);
    }
    for (Field field : schema.fields()) {
      String column = source.sourceColumn(field.name());
      String existing = columns.get(column);
      if (existing == null) {
        continue;
      }
      Optional<DataType> sourceType = sparkType(existing);
      DataType harnessType = SparkSchemas.toSpark(field.type());
      if (sourceType.isPresent() && !compatible(sourceType.get(), harnessType)) {
        throw incompatible(table, source, "PostgreSQL table " + name, column, existing, field);
      }
    }
  }

  private static final Pattern NUMERIC = Pattern.compile("numeric\\((\\d+),(\\d+)\\)");

  /** The Spark type a PostgreSQL column type (as {@code format_type} prints it) reads as. */
  static Optional<DataType> sparkType(String postgresType) {
    String type = postgresType.toLowerCase(Locale.ROOT);
    Matcher numeric = NUMERIC.matcher(type);
    if (numeric.matches()) {
      return Optional.of(
          DataTypes.createDecimalType(
              Integer.parseInt(numeric.group(1)), Integer.parseInt(numeric.group(2))));
    }
    if (type.startsWith("character") || type.equals("text")) {
      return Optional.of(DataTypes.StringType);
    }
    if (type.startsWith("timestamp")) {
      return Optional.of(
          type.endsWith("with time zone") ? DataTypes.TimestampType : DataTypes.TimestampNTZType);
    }
    return Optional.ofNullable(
        switch (type) {
          case "smallint" -> DataTypes.ShortType;
          case "integer" -> DataTypes.IntegerType;
          case "bigint" -> DataTypes.LongType;
          case "real" -> DataTypes.FloatType;
          case "double precision" -> DataTypes.DoubleType;
          case "boolean" -> DataTypes.BooleanType;
          case "bytea" -> DataTypes.BinaryType;
          case "date" -> DataTypes.DateType;
          default -> null; // a type the check does not know: reads decide
        });
  }

  /**
   * Whether a source column of type {@code source} can hold a harness column of type {@code
   * harness}: same family (numbers, strings, booleans, binary, dates, timestamps), and a whole
   * number no wider than the harness column's.
   */
  static boolean compatible(DataType source, DataType harness) {
    String sourceFamily = family(source);
    String harnessFamily = family(harness);
    if (sourceFamily == null || harnessFamily == null) {
      return source.sameType(harness);
    }
    if (!sourceFamily.equals(harnessFamily)) {
      return false;
    }
    if (isWholeNumber(source) && isWholeNumber(harness)) {
      return source.defaultSize() <= harness.defaultSize();
    }
    return true;
  }

  private static boolean isWholeNumber(DataType type) {
    return type instanceof ByteType
        || type instanceof ShortType
        || type instanceof IntegerType
        || type instanceof LongType;
  }

  private static String family(DataType type) {
    if (isWholeNumber(type)
        || type instanceof FloatType
        || type instanceof DoubleType
        || type instanceof DecimalType) {
      return "number";
    }
    if (type instanceof StringType) {
      return "string";
    }
    if (type instanceof BooleanType) {
      return "boolean";
    }
    if (type instanceof BinaryType) {
      return "binary";
    }
    if (type instanceof DateType) {
      return "date";
    }
    if (type instanceof TimestampType || type instanceof TimestampNTZType) {
      return "timestamp";
    }
    return null;
  }

  private static IncompatibleTypeException incompatible(
      TableIdentifier table,
      SourceDefinition source,
      String where,
      String column,
      String existingType,
      Field field) {
    return new IncompatibleTypeException(
        field.name(),
        "Cannot create %s: column '%s' is %s, but %s of source '%s' has column %s of type %s,"
            + " which cannot be read as %s; declare the column with a compatible type, map it to"
            + " another column with source.%s.column.%s, or use another table",
        table,
        field.name(),
        field.type(),
        where,
        source.id(),
        column,
        existingType,
        field.type(),
        source.id(),
        field.name());
  }

  private static Map<String, String> columnTypes(Connection jdbc, String schema, String table)
      throws SQLException {
    Map<String, String> columns = new java.util.LinkedHashMap<>();
    PostgresSources.columns(jdbc, schema, table)
        .forEach((column, definition) -> columns.put(column, definition.type()));
    return columns;
  }

  private static boolean exists(Connection jdbc, String sql, String... parameters)
      throws SQLException {
    try (PreparedStatement statement = jdbc.prepareStatement(sql)) {
      for (int i = 0; i < parameters.length; i++) {
        statement.setString(i + 1, parameters[i]);
      }
      try (ResultSet result = statement.executeQuery()) {
        return result.next();
      }
    }
  }

  private static boolean relationExists(Connection jdbc, String schema, String relation)
      throws SQLException {
    return exists(
        jdbc,
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            + " WHERE n.nspname = ? AND c.relname = ?",
        schema,
        relation);
  }

  private Undo postgresUndo(SourceDefinition source, ConnectionConfig connection) {
    PostgresTableName name = PostgresTableName.of(source);
    boolean schemaExisted;
    boolean tableExisted;
    boolean historyExisted;
    boolean movesExisted;
    boolean functionExisted;
    boolean triggerExisted;
    boolean validFromExisted;
    boolean xidExisted;
    try (Connection jdbc = PostgresSources.connect(connection)) {
      schemaExisted = exists(jdbc, "SELECT 1 FROM pg_namespace WHERE nspname = ?", name.schema());
      Map<String, String> columns = columnTypes(jdbc, name.schema(), name.table());
      tableExisted = !columns.isEmpty();
      validFromExisted = columns.containsKey(PostgresSources.VALID_FROM);
      xidExisted = columns.containsKey(PostgresSources.XID);
      historyExisted = relationExists(jdbc, name.schema(), name.historyTable());
      movesExisted = relationExists(jdbc, name.schema(), PostgresSources.MOVES_TABLE);
      functionExisted = PostgresSources.functionExists(jdbc, name.schema(), name.functionName());
      triggerExisted =
          exists(
              jdbc,
              "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                  + " JOIN pg_namespace n ON n.oid = c.relnamespace"
                  + " WHERE n.nspname = ? AND c.relname = ? AND t.tgname = ?",
              name.schema(),
              name.table(),
              PostgresTableName.TRIGGER);
    } catch (SQLException e) {
      throw unreadable(e, name, source, connection);
    }
    return new Undo() {
      @Override
      public void run() throws SQLException {
        try (Connection jdbc = PostgresSources.connect(connection)) {
          jdbc.setAutoCommit(false);
          try (Statement statement = jdbc.createStatement()) {
            statement.execute("SET LOCAL lock_timeout = '10s'");
            if (!tableExisted) {
              statement.execute("DROP TABLE IF EXISTS " + name.qualified());
            } else {
              if (!triggerExisted) {
                for (String trigger : PostgresTableName.TRIGGERS) {
                  statement.execute(
                      "DROP TRIGGER IF EXISTS " + quote(trigger) + " ON " + name.qualified());
                }
              }
              if (!validFromExisted) {
                statement.execute(
                    "ALTER TABLE "
                        + name.qualified()
                        + " DROP COLUMN IF EXISTS "
                        + quote(PostgresSources.VALID_FROM));
              }
              if (!xidExisted) {
                statement.execute(
                    "ALTER TABLE "
                        + name.qualified()
                        + " DROP COLUMN IF EXISTS "
                        + quote(PostgresSources.XID));
              }
            }
            if (!historyExisted) {
              statement.execute("DROP TABLE IF EXISTS " + name.qualifiedHistory());
            }
            if (!functionExisted) {
              statement.execute("DROP FUNCTION IF EXISTS " + name.qualifiedFunction() + "()");
              statement.execute(
                  "DROP FUNCTION IF EXISTS " + name.qualifiedDeletesFunction() + "()");
              statement.execute(
                  "DROP FUNCTION IF EXISTS "
                      + name.qualifiedUnseenMovesFunction()
                      + "(pg_snapshot)");
            }
            if (!movesExisted && !otherRegisteredTables(jdbc, name)) {
              statement.execute("DROP TABLE IF EXISTS " + name.qualifiedMoves());
            }
            jdbc.commit();
            if (!schemaExisted) {
              jdbc.setAutoCommit(true);
              try {
                statement.execute("DROP SCHEMA IF EXISTS " + quote(name.schema()));
              } catch (SQLException notEmpty) {
                LOG.info("Kept PostgreSQL schema {}: {}", name.schema(), notEmpty.getMessage());
              }
            }
          } catch (SQLException e) {
            jdbc.rollback();
            throw e;
          }
        }
      }

      @Override
      public String describe() {
        return "the registration of source '"
            + source.id()
            + "' (PostgreSQL table "
            + name
            + (tableExisted ? "" : ", created by the harness")
            + ")";
      }
    };
  }

  /** Whether another table of the schema has a history table (and may use harness_moves). */
  private static boolean otherRegisteredTables(Connection jdbc, PostgresTableName name)
      throws SQLException {
    return exists(
        jdbc,
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            + " WHERE n.nspname = ? AND c.relname LIKE ? AND c.relname <> ? AND c.relkind = 'r'",
        name.schema(),
        "%" + PostgresTableName.HISTORY_SUFFIX.replace("_", "\\_"),
        name.historyTable());
  }

  // ---- Iceberg ----

  private static void checkIceberg(
      SparkSession spark,
      TableIdentifier table,
      SourceDefinition source,
      ConnectionConfig connection,
      Schema schema) {
    TableCatalog catalog = IcebergSources.catalog(spark, connection);
    Identifier identifier = IcebergSources.identifier(source);
    org.apache.spark.sql.connector.catalog.Table existing;
    try {
      catalog.invalidateTable(identifier);
      existing = catalog.loadTable(identifier);
    } catch (NoSuchTableException missing) {
      return; // registering creates it from the harness schema
    } catch (RuntimeException e) {
      throw new SourceUnavailableException(
          e,
          "Cannot read Iceberg table %s of source '%s' (Spark catalog '%s'): %s",
          identifier,
          source.id(),
          connection.sparkCatalog(),
          e.getMessage());
    }
    for (Field field : schema.fields()) {
      String column = source.sourceColumn(field.name());
      for (StructField existingField : existing.schema().fields()) {
        if (existingField.name().equals(column)
            && !compatible(existingField.dataType(), SparkSchemas.toSpark(field.type()))) {
          throw incompatible(
              table,
              source,
              "Iceberg table " + connection.sparkCatalog() + "." + identifier,
              column,
              existingField.dataType().simpleString(),
              field);
        }
      }
    }
  }

  private Undo icebergUndo(
      SparkSession spark, SourceDefinition source, ConnectionConfig connection) {
    TableCatalog catalog = IcebergSources.catalog(spark, connection);
    Identifier identifier = IcebergSources.identifier(source);
    catalog.invalidateTable(identifier);
    boolean tableExisted = catalog.tableExists(identifier);
    boolean namespaceExisted =
        !(catalog instanceof SupportsNamespaces namespaces)
            || namespaces.namespaceExists(identifier.namespace());
    return new Undo() {
      @Override
      public void run() throws Exception {
        if (!tableExisted) {
          catalog.purgeTable(identifier);
        }
        if (!namespaceExisted && catalog instanceof SupportsNamespaces namespaces) {
          try {
            namespaces.dropNamespace(identifier.namespace(), false);
          } catch (Exception notEmpty) {
            LOG.info("Kept Iceberg namespace of {}: {}", identifier, notEmpty.getMessage());
          }
        }
      }

      @Override
      public String describe() {
        return "the registration of source '"
            + source.id()
            + "' (Iceberg table "
            + identifier
            + (tableExisted ? "" : ", created by the harness")
            + ")";
      }
    };
  }

  private static SourceUnavailableException unreadable(
      SQLException e,
      PostgresTableName name,
      SourceDefinition source,
      ConnectionConfig connection) {
    return new SourceUnavailableException(
        e,
        "Cannot read PostgreSQL table %s of source '%s' (connection '%s'): %s",
        name,
        source.id(),
        connection.name(),
        e.getMessage());
  }
}
