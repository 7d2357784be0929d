package io.dataharness.quickstart;

import io.dataharness.spark.jobs.MoveResult;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The move and sync steps of the quick start and the notebooks: the harness catalog's procedures
 * {@code CALL <catalog>.system.move(...)} and {@code CALL <catalog>.system.sync(...)}, exactly as a
 * user types them.
 */
public final class Movers {
  private Movers() {}

  /** How {@link #move} runs, for the quick start's output. */
  public static String movePath(SparkSession spark, String catalog) {
    return "CALL " + catalog + ".system.move";
  }

  /**
   * Moves at most {@code maxRows} rows of {@code table} from {@code source} to {@code target}.
   *
   * @param table {@code namespace.table} in the harness catalog {@code catalog}
   */
  public static MoveResult move(
      SparkSession spark,
      String catalog,
      String table,
      String source,
      String target,
      long maxRows) {
    Row row =
        single(
            spark
                .sql(
                    String.format(
                        "CALL %s.system.move(table => '%s', source => '%s', target => '%s',"
                            + " max_rows => %d)",
                        catalog, table, source, target, maxRows))
                .collectAsList());
    return new MoveResult(
        row.getAs("version"), row.getAs("rows_moved"), row.getAs("replayed"), Map.of());
  }

  /** Records the sources' current ends (Kafka end offsets, PostgreSQL read timestamp). */
  public static long sync(SparkSession spark, String catalog, String table) {
    Row row =
        single(
            spark
                .sql(String.format("CALL %s.system.sync(table => '%s')", catalog, table))
                .collectAsList());
    return row.getAs("version");
  }

  private static Row single(List<Row> rows) {
    if (rows.size() != 1) {
      throw new IllegalStateException("Expected one result row, got " + rows);
    }
    return rows.get(0);
  }
}
