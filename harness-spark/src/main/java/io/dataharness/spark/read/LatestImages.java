package io.dataharness.spark.read;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.when;

import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceKind;
import io.dataharness.spark.conf.MetadataColumns;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.expressions.WindowSpec;

/**
 * The dedup view {@code <table>.latest}: of all images of a primary key in the union, the one with
 * the largest ordering column value; on ties (or without an ordering column) the one from the
 * source that comes first in the table property {@code source-precedence} (comma-separated source
 * ids), by default Kafka sources, then JDBC, then Iceberg (the freshest system first).
 */
final class LatestImages {
  /** Table property: source ids in precedence order, for ties between images of a key. */
  static final String SOURCE_PRECEDENCE = "source-precedence";

  private static final String RANK = "__harness_image_rank";

  private LatestImages() {}

  static LogicalPlan plan(
      SparkSession spark, HarnessSparkTable table, LogicalPlan union, List<SourceRead> reads) {
    HarnessTable definition = table.definition();
    checkColumns(table, definition, union, reads);
    List<Column> order = new ArrayList<>();
    definition.orderingColumn().ifPresent(column -> order.add(col(column).desc_nulls_last()));
    order.add(precedence(definition, reads));
    WindowSpec window =
        Window.partitionBy(
                definition.primaryKey().stream().map(column -> col(column)).toArray(Column[]::new))
            .orderBy(order.toArray(Column[]::new));
    Dataset<Row> all =
        org.apache.spark.sql.classic.Dataset.ofRows(
            (org.apache.spark.sql.classic.SparkSession) spark, union);
    return all.withColumn(RANK, row_number().over(window))
        .filter(col(RANK).equalTo(1))
        .drop(RANK)
        .queryExecution()
        .optimizedPlan();
  }

  /**
   * The key and ordering column are the table's as they are now; a version read before one of them
   * was added lacks it.
   */
  private static void checkColumns(
      HarnessSparkTable table, HarnessTable definition, LogicalPlan union, List<SourceRead> reads) {
    List<String> columns =
        scala.jdk.javaapi.CollectionConverters.asJava(union.output()).stream()
            .map(attribute -> attribute.name().toLowerCase(java.util.Locale.ROOT))
            .toList();
    List<String> needed = new ArrayList<>(definition.primaryKey());
    definition.orderingColumn().ifPresent(needed::add);
    List<String> missing =
        needed.stream()
            .filter(column -> !columns.contains(column.toLowerCase(java.util.Locale.ROOT)))
            .toList();
    if (!missing.isEmpty()) {
      long version = reads.isEmpty() ? table.tableVersion().version() : reads.get(0).version();
      throw new io.dataharness.metadata.ValidationException(
          "Cannot read %s at version %d: its primary key and ordering column %s include %s, which"
              + " that version's schema lacks; read a later version of the view, or the table %s"
              + " itself at version %d",
          table.name(), version, needed, missing, table.identifier(), version);
    }
  }

  private static Column precedence(HarnessTable definition, List<SourceRead> reads) {
    List<String> ranked = new ArrayList<>();
    String declared = definition.properties().get(SOURCE_PRECEDENCE);
    if (declared != null) {
      Arrays.stream(declared.split(",")).map(String::trim).forEach(ranked::add);
    }
    reads.stream()
        .sorted(Comparator.comparing((SourceRead read) -> kindRank(read.source().kind())))
        .map(read -> read.source().id())
        .filter(id -> !ranked.contains(id))
        .forEach(ranked::add);
    Column rank = lit(ranked.size());
    for (int i = ranked.size() - 1; i >= 0; i--) {
      rank = when(col(MetadataColumns.SOURCE).equalTo(ranked.get(i)), lit(i)).otherwise(rank);
    }
    return rank.asc();
  }

  private static int kindRank(SourceKind kind) {
    return kind == SourceKind.KAFKA ? 0 : kind == SourceKind.JDBC ? 1 : 2;
  }
}
