package io.dataharness.spark.read;

import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.source.PostgresSources;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.SupportsPushDownRequiredColumns;
import org.apache.spark.sql.connector.read.SupportsPushDownV2Filters;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the plain DataSource V2 scan of one harness table version: the read path used when the
 * session extension that plans each source as its native Spark relation is absent.
 *
 * <p>Every source is read row by row inside this one scan: Kafka partitions with a consumer,
 * PostgreSQL with plain JDBC at the version's read timestamp, Iceberg through Iceberg's own row
 * reader at the version's snapshot. Filters are not applied here (Spark applies them after the
 * scan); they only let {@link SourcePruning} skip sources that cannot match.
 */
public final class HarnessScanBuilder
    implements ScanBuilder, SupportsPushDownRequiredColumns, SupportsPushDownV2Filters {
  private static final Logger LOG = LoggerFactory.getLogger(HarnessScanBuilder.class);

  /** The SQL that returns a jdbc source's rows, one column per harness field named like it. */
  @FunctionalInterface
  interface JdbcQueries {
    String query(SourceRead read);
  }

  private final TableIdentifier table;
  private final long version;
  private final StructType dataSchema;
  private final List<SourceRead> reads;
  private final JdbcQueries jdbcQueries;
  private StructType requiredSchema;
  private Predicate[] predicates = new Predicate[0];

  /**
   * @param table the harness table
   * @param version the version being read
   * @param dataSchema the harness data columns of that version (the table's schema)
   * @param reads every source of the version at its recorded state
   */
  public HarnessScanBuilder(
      TableIdentifier table, long version, StructType dataSchema, List<SourceRead> reads) {
    this(table, version, dataSchema, reads, HarnessScanBuilder::postgresAsOfQuery);
  }

  HarnessScanBuilder(
      TableIdentifier table,
      long version,
      StructType dataSchema,
      List<SourceRead> reads,
      JdbcQueries jdbcQueries) {
    this.table = Objects.requireNonNull(table, "table");
    this.version = version;
    this.dataSchema = Objects.requireNonNull(dataSchema, "dataSchema");
    this.reads = List.copyOf(reads);
    this.jdbcQueries = Objects.requireNonNull(jdbcQueries, "jdbcQueries");
    this.requiredSchema = dataSchema;
  }

  @Override
  public void pruneColumns(StructType requiredSchema) {
    this.requiredSchema = requiredSchema;
  }

  /** Returns every predicate: Spark evaluates them all again on the rows read. */
  @Override
  public Predicate[] pushPredicates(Predicate[] predicates) {
    this.predicates = predicates.clone();
    return predicates;
  }

  /** None: predicates only decide which sources are read, no source filters its rows by them. */
  @Override
  public Predicate[] pushedPredicates() {
    return new Predicate[0];
  }

  @Override
  public Scan build() {
    List<SourceRead> kept = new ArrayList<>();
    List<SourceRead> skipped = new ArrayList<>();
    for (SourceRead read : reads) {
      if (SourcePruning.mayMatch(read, predicates)) {
        kept.add(ReadPlanner.resolve(read));
      } else {
        skipped.add(read);
      }
    }
    if (!skipped.isEmpty()) {
      LOG.info(
          "DataHarness scan of {} version {} reads {} (pruned by partition filter: {})",
          table,
          version,
          kept.stream().map(read -> read.source().id()).toList(),
          skipped.stream().map(read -> read.source().id()).toList());
    }
    return new HarnessScan(
        table,
        version,
        dataSchema,
        requiredSchema,
        kept,
        skipped,
        jdbcQueries,
        SQLConf.get().sessionLocalTimeZone(),
        predicates);
  }

  private static String postgresAsOfQuery(SourceRead read) {
    SourceState.Jdbc state = (SourceState.Jdbc) read.state();
    return PostgresSources.asOfQuery(
        read.connection(), read.source(), harnessSchema(read.schema()), state);
  }

  /** The harness schema of Spark columns, keeping the harness field ids they carry. */
  static Schema harnessSchema(StructType columns) {
    return new Schema(0, SparkSchemas.fromSparkWithIds(columns));
  }
}
