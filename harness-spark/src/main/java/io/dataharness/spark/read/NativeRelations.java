package io.dataharness.spark.read;

import static org.apache.spark.sql.functions.array_contains;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.from_json;
import static org.apache.spark.sql.functions.json_object_keys;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.raise_error;
import static org.apache.spark.sql.functions.spark_partition_id;
import static org.apache.spark.sql.functions.when;

import io.dataharness.metadata.Causes;
import io.dataharness.metadata.SourceState;
import io.dataharness.spark.conf.ColumnDefaults;
import io.dataharness.spark.conf.MetadataColumns;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.PostgresSources;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.AsOfVersion;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import scala.Option;

/**
 * Each source as a DataFrame over its own native Spark reader (Spark's Kafka reader at explicit
 * offsets with {@code from_json}, see {@link KafkaRecords}, Spark's JDBC reader over the as-of
 * query, Iceberg's reader at the snapshot), projected to the standard shape: the harness data
 * columns, then {@link MetadataColumns#SCHEMA}. Every source keeps its own optimizations (pushdown,
 * pruning, vectorization) inside the union.
 */
final class NativeRelations {
  private NativeRelations() {}

  /**
   * The source's plan, ready to be inserted into a plan under optimization: Kafka and JDBC branches
   * are already optimized (they hold expressions that only analysis and the first optimizer batch
   * replace); the Iceberg branch is Iceberg's own relation under a projection, so the optimizer
   * still pushes filters and column pruning into Iceberg's scan.
   */
  static LogicalPlan plan(SparkSession spark, SourceRead read) {
    Dataset<Row> frame = dataFrame(spark, read);
    return read.source().kind() == io.dataharness.metadata.SourceKind.ICEBERG
        ? frame.queryExecution().analyzed()
        : frame.queryExecution().optimizedPlan();
  }

  /** The source as a DataFrame of the standard shape. */
  static Dataset<Row> dataFrame(SparkSession spark, SourceRead read) {
    switch (read.source().kind()) {
      case KAFKA:
        return kafka(spark, read, (SourceState.Kafka) read.state());
      case JDBC:
        return jdbc(spark, read, (SourceState.Jdbc) read.state());
      default:
        return iceberg(spark, read, (SourceState.Iceberg) read.state());
    }
  }

  /** The standard shape with no rows. */
  static Dataset<Row> empty(SparkSession spark, StructType dataSchema) {
    return spark.createDataFrame(List.of(), standardSchema(dataSchema));
  }

  static StructType standardSchema(StructType dataSchema) {
    StructType schema = dataSchema;
    for (StructField field : MetadataColumns.SCHEMA.fields()) {
      schema = schema.add(field);
    }
    return schema;
  }

  private static Dataset<Row> kafka(SparkSession spark, SourceRead read, SourceState.Kafka state) {
    String topic = read.source().option("topic").orElseThrow();
    List<KafkaInputPartition> ranges = new ArrayList<>();
    state
        .partitions()
        .forEach(
            (partition, range) -> {
              if (range.count() > 0) {
                ranges.add(
                    KafkaInputPartition.raw(read, topic, partition, range.start(), range.end()));
              }
            });
    if (ranges.isEmpty()) {
      return empty(spark, read.schema());
    }
    StructType valueSchema = new StructType();
    for (StructField field : read.schema().fields()) {
      valueSchema =
          valueSchema.add(read.source().sourceColumn(field.name()), field.dataType(), true);
    }
    valueSchema = valueSchema.add(MetadataColumns.CORRUPT_RECORD, DataTypes.StringType, true);
    Column message =
        from_json(
            col("value").cast("string"),
            valueSchema,
            Map.of(
                "mode", "PERMISSIVE", "columnNameOfCorruptRecord", MetadataColumns.CORRUPT_RECORD));
    Dataset<Row> parsed =
        spark
            .baseRelationToDataFrame(new KafkaRecords(spark, ranges))
            .select(
                decodedOnce(message).as("message"),
                // the message's top-level fields, only when a column has a default (a second
                // parse of the JSON)
                Arrays.stream(read.schema().fields()).anyMatch(ColumnDefaults::hasDefault)
                    ? json_object_keys(col("value").cast("string")).as("keys")
                    : lit(null).cast("array<string>").as("keys"),
                col("partition"),
                col("offset"),
                col("timestamp"),
                col("key").cast("string").as("key"));
    Column corrupt = col("message." + MetadataColumns.CORRUPT_RECORD);
    if (read.options().failFast()) {
      Column error =
          raise_error(
              concat(
                  lit(
                      "Cannot read "
                          + read.describe()
                          + ": the message at topic "
                          + topic
                          + " partition "),
                  col("partition").cast("string"),
                  lit(" offset "),
                  col("offset").cast("string"),
                  lit(
                      " is not valid JSON for the table's schema (mode FAILFAST). Fix or skip the"
                          + " message, or read with the option kafka.malformed=PERMISSIVE to get"
                          + " nulls and the raw value in _corrupt_record")));
      // checked before any of the query's filters: they must not drop a malformed message (whose
      // fields read null) before it fails the query. Filters are not combined with or moved below
      // a filter that is not deterministic, so this one holds with a non-deterministic "true".
      parsed = parsed.filter(when(corrupt.isNotNull(), error).otherwise(nondeterministicTrue()));
    }
    List<Column> columns = new ArrayList<>();
    for (StructField field : read.schema().fields()) {
      String jsonField = read.source().sourceColumn(field.name());
      Column value = col("message.`" + jsonField + "`").cast(field.dataType());
      if (ColumnDefaults.hasDefault(field)) {
        // as KafkaPartitionReader: a message without the field reads the default, a JSON null
        // stays null, and a tombstone or a malformed message reads nulls
        Column keys = col("keys");
        value =
            when(array_contains(keys, jsonField), value)
                .when(keys.isNotNull().and(corrupt.isNull()), ColumnDefaults.literal(field));
      }
      columns.add(value.as(field.name()));
    }
    columns.add(lit(read.source().id()).as(MetadataColumns.SOURCE));
    columns.add(col("partition").as(MetadataColumns.KAFKA_PARTITION));
    columns.add(col("offset").as(MetadataColumns.KAFKA_OFFSET));
    columns.add(col("timestamp").as(MetadataColumns.KAFKA_TIMESTAMP));
    columns.add(col("key").as(MetadataColumns.KAFKA_KEY));
    columns.add(corrupt.as(MetadataColumns.CORRUPT_RECORD));
    return parsed.select(columns.toArray(Column[]::new));
  }

  /**
   * The message decoded once per Kafka record. A deterministic {@code from_json} would be copied by
   * the optimizer into every filter pushed below its projection (the malformed-record check of
   * FAILFAST, the query's own filters), each copy parsing the JSON again: the check and the values
   * were two parses of every message, a filtered query one more. Guarded by a condition that always
   * holds but is not deterministic, the projection is a barrier the optimizer does not push filters
   * through or inline, so the check and the filters read the one decoded struct. (So a filter on
   * the Kafka metadata columns alone, such as {@code _kafka_offset > n}, is also applied after
   * decoding: Spark's Kafka reader takes no filters, and the range read is the version's either
   * way.)
   */
  private static Column decodedOnce(Column decoded) {
    return when(nondeterministicTrue(), decoded);
  }

  /** Always true, and not deterministic: an optimizer barrier that costs one comparison a row. */
  private static Column nondeterministicTrue() {
    return spark_partition_id().geq(lit(0));
  }

  private static Dataset<Row> jdbc(SparkSession spark, SourceRead read, SourceState.Jdbc state) {
    var reader =
        spark
            .read()
            .format("jdbc")
            .options(read.connection().sparkJdbcOptions())
            .option(
                "query",
                PostgresSources.asOfQuery(
                    read.connection(),
                    read.source(),
                    HarnessScanBuilder.harnessSchema(read.schema()),
                    state))
            .option("fetchsize", "1000")
            // PostgreSQL timestamp (without time zone) as timestamp_ntz: read as a timestamp and
            // cast, its value would shift by the session time zone
            .option("preferTimestampNTZ", "true");
    Dataset<Row> rows;
    try {
      rows = reader.load(); // Spark connects here, to learn the query's columns
    } catch (Exception e) {
      java.sql.SQLException cause = sqlCause(e);
      if (cause == null) {
        throw e;
      }
      // Spark rethrows the driver's exception as is: name the source and the connection instead
      throw new io.dataharness.spark.source.SourceUnavailableException(
          read.connection().scrub(cause),
          "Cannot read %s: PostgreSQL at %s (connection '%s') failed: %s (SQLSTATE %s). Check"
              + " connection.%s.url, connection.%s.user and connection.%s.password",
          read.describe(),
          read.connection().maskedJdbcUrl(),
          read.connection().name(),
          read.connection().scrub(cause.getMessage()),
          cause.getSQLState(),
          read.connection().name(),
          read.connection().name(),
          read.connection().name());
    }
    List<Column> columns = new ArrayList<>();
    for (StructField field : read.schema().fields()) {
      columns.add(col("`" + field.name() + "`").cast(field.dataType()).as(field.name()));
    }
    return rows.select(withMetadata(read, columns));
  }

  private static java.sql.SQLException sqlCause(Throwable e) {
    return Causes.first(e, java.sql.SQLException.class).orElse(null);
  }

  private static Dataset<Row> iceberg(
      SparkSession spark, SourceRead read, SourceState.Iceberg state) {
    if (state.snapshotId().isEmpty()) {
      return empty(spark, read.schema());
    }
    String snapshot = String.valueOf(state.snapshotId().getAsLong());
    TableCatalog catalog = IcebergSources.catalog(spark, read.connection());
    Table table =
        IcebergSources.loadAt(
            catalog,
            read.connection(),
            read.source(),
            state.snapshotId().getAsLong(),
            read.describe());
    DataSourceV2Relation relation =
        relation(table, catalog, IcebergSources.identifier(read.source()), snapshot);
    Dataset<Row> rows =
        org.apache.spark.sql.classic.Dataset.ofRows(
            (org.apache.spark.sql.classic.SparkSession) spark, relation);
    List<String> available = List.of(rows.columns());
    List<Column> columns = new ArrayList<>();
    for (StructField field : read.schema().fields()) {
      String sourceColumn = read.source().sourceColumn(field.name());
      // a snapshot whose schema has no such column: its rows read the column's default
      Column value =
          available.stream().anyMatch(sourceColumn::equalsIgnoreCase)
              ? col("`" + sourceColumn + "`").cast(field.dataType())
              : ColumnDefaults.hasDefault(field)
                  ? ColumnDefaults.literal(field)
                  : lit(null).cast(field.dataType());
      columns.add(value.as(field.name()));
    }
    return rows.select(withMetadata(read, columns));
  }

  /** Adds {@code _source} and null Kafka columns to a non-Kafka source's data columns. */
  private static Column[] withMetadata(SourceRead read, List<Column> dataColumns) {
    List<Column> columns = new ArrayList<>(dataColumns);
    columns.add(lit(read.source().id()).as(MetadataColumns.SOURCE));
    for (StructField field : MetadataColumns.SCHEMA.fields()) {
      if (!field.name().equals(MetadataColumns.SOURCE)) {
        columns.add(lit(null).cast(field.dataType()).as(field.name()));
      }
    }
    return columns.toArray(Column[]::new);
  }

  /**
   * {@code DataSourceV2Relation.create} of a table loaded at {@code snapshot}. On Spark 4.1 the
   * relation carries the time-travel spec, which keeps Spark from reloading the table at its
   * current snapshot; Spark 4.0 has no such parameter (and does not reload). Looked up once, so
   * that the same classes run on both.
   */
  private static DataSourceV2Relation relation(
      Table table, TableCatalog catalog, Identifier identifier, String snapshot) {
    try {
      if (CREATE_AS_OF != null) {
        return (DataSourceV2Relation)
            CREATE_AS_OF.invoke(
                null,
                table,
                Option.apply(catalog),
                Option.apply(identifier),
                CaseInsensitiveStringMap.empty(),
                Option.apply(new AsOfVersion(snapshot)));
      }
      return (DataSourceV2Relation)
          CREATE.invoke(
              null,
              table,
              Option.apply(catalog),
              Option.apply(identifier),
              CaseInsensitiveStringMap.empty());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(
          "Cannot build the Spark relation of Iceberg table " + identifier + ": " + e, e);
    }
  }

  private static final Method CREATE_AS_OF =
      method(Table.class, Option.class, Option.class, CaseInsensitiveStringMap.class, Option.class);
  private static final Method CREATE =
      method(Table.class, Option.class, Option.class, CaseInsensitiveStringMap.class);

  private static Method method(Class<?>... parameters) {
    try {
      return DataSourceV2Relation.class.getMethod("create", parameters);
    } catch (NoSuchMethodException e) {
      return null;
    }
  }
}
