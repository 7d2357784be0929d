package io.dataharness.integration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Typed partition pruning against the real services: a table of two PostgreSQL sources holding one
 * month each (a DATE partition filter) and an Iceberg source holding the large amounts (a DECIMAL
 * partition filter). Every query returns exactly the rows of the whole table filtered by Spark
 * (brute force), through both read paths, and opens only the sources its filter can match.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HarnessPruningTest {
  private final TestingSpark testingSpark = TestingSpark.shared();
  private final SparkSession spark = testingSpark.session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "pruning_" + suffix;
  private final String table = "harness." + namespace + ".sales";
  // the name each source's relation carries in a plan
  private final Map<String, String> relations =
      Map.of("jan", "sales_jan_" + suffix, "feb", "sales_feb_" + suffix, "big", "big_" + suffix);

  @BeforeAll
  void createTable() throws Exception {
    try (Connection connection = testingSpark.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      for (String month : List.of("jan", "feb")) {
        statement.execute(
            "CREATE TABLE public."
                + relations.get(month)
                + " (id BIGINT PRIMARY KEY, day DATE, amount NUMERIC(10, 2), region TEXT)");
      }
      statement.execute(
          "INSERT INTO public."
              + relations.get("jan")
              + " VALUES (1, '2024-01-05', 10.50, 'eu'), (2, '2024-01-31', 99.99, 'us'),"
              + " (3, '2024-01-01', 0.00, 'eu')");
      statement.execute(
          "INSERT INTO public."
              + relations.get("feb")
              + " VALUES (4, '2024-02-01', 5.00, 'eu'), (5, '2024-02-29', 50.00, 'us'),"
              + " (6, '2024-02-10', 100.00, 'us')");
    }
    String big = "iceberg.lake_" + suffix + "." + relations.get("big");
    spark.sql(
        "CREATE TABLE "
            + big
            + " (id BIGINT NOT NULL, day DATE, amount DECIMAL(10, 2), region STRING) USING"
            + " iceberg");
    spark.sql(
        "INSERT INTO "
            + big
            + " VALUES (7, DATE '2024-01-15', 100.00, 'eu'), (8, DATE '2024-02-10', 250.75,"
            + " 'us'), (9, DATE '2023-12-31', 1000.00, 'eu')");
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT NOT NULL, day DATE, amount DECIMAL(10, 2), region STRING)"
            + " TBLPROPERTIES ("
            + source("jan", "jdbc", "pg", "public." + relations.get("jan"))
            + ", 'source.jan.partition-filter' = \"day BETWEEN '2024-01-01' AND '2024-01-31'"
            + " AND amount < 100\", "
            + source("feb", "jdbc", "pg", "public." + relations.get("feb"))
            + ", 'source.feb.partition-filter' = \"day >= DATE '2024-02-01' AND day <"
            + " '2024-03-01'\", "
            + source("big", "iceberg", "lake", "lake_" + suffix + "." + relations.get("big"))
            + ", 'source.big.partition-filter' = 'amount >= 100.00')");
  }

  private static String source(String id, String kind, String connection, String name) {
    return String.format(
        "'source.%1$s.kind' = '%2$s', 'source.%1$s.connection' = '%3$s',"
            + " 'source.%1$s.table' = '%4$s'",
        id, kind, connection, name);
  }

  private static List<String> rows(Dataset<Row> frame) {
    return frame.collectAsList().stream().map(Row::toString).sorted().collect(Collectors.toList());
  }

  private <T> T withNativeUnion(boolean enabled, Supplier<T> body) {
    String key = "spark.dataharness.read.native-union";
    spark.conf().set(key, String.valueOf(enabled));
    try {
      return body.get();
    } finally {
      spark.conf().unset(key);
    }
  }

  /**
   * Runs {@code SELECT * ... WHERE filter} through both read paths: the rows must be those of the
   * whole table filtered by Spark, and exactly the sources in {@code opened} are read.
   */
  private void assertPrunes(String filter, Set<String> opened, int expectedRows) {
    String query = "SELECT id, day, amount, region FROM " + table + " WHERE " + filter;
    // brute force: every row of the table (no filter, nothing pruned), filtered by Spark
    List<Row> all =
        withNativeUnion(true, () -> spark.sql("SELECT id, day, amount, region FROM " + table))
            .collectAsList();
    assertEquals(9, all.size());
    List<String> expected =
        rows(spark.createDataFrame(all, spark.table(table).schema()).where(filter));
    assertEquals(expectedRows, expected.size(), filter);

    assertEquals(expected, withNativeUnion(true, () -> rows(spark.sql(query))), filter);
    assertEquals(expected, withNativeUnion(false, () -> rows(spark.sql(query))), filter);

    String nativePlan =
        withNativeUnion(true, () -> spark.sql(query).queryExecution().optimizedPlan().toString());
    String plainPlan =
        withNativeUnion(false, () -> spark.sql(query).queryExecution().executedPlan().toString());
    for (String id : relations.keySet()) {
      boolean skipped = plainPlan.matches("(?s).*skipped by filters: [a-z, ]*\\b" + id + "\\b.*");
      if (opened.contains(id)) {
        assertTrue(
            nativePlan.contains(relations.get(id)), filter + " must read " + id + nativePlan);
        assertFalse(skipped, filter + " must read " + id + ": " + plainPlan);
      } else {
        assertFalse(
            nativePlan.contains(relations.get(id)), filter + " must not read " + id + nativePlan);
        assertTrue(skipped, filter + " must skip " + id + ": " + plainPlan);
      }
    }
  }

  @Test
  void dateFiltersOpenOnlyTheMonthsTheyName() {
    assertPrunes("day = '2024-02-10'", Set.of("feb", "big"), 2);
    assertPrunes("day >= DATE '2024-02-01'", Set.of("feb", "big"), 4);
    assertPrunes("day < '2024-01-01'", Set.of("big"), 1);
    assertPrunes("day BETWEEN '2024-01-10' AND '2024-01-31'", Set.of("jan", "big"), 2);
    assertPrunes("day IN (DATE '2024-01-05', DATE '2024-02-29')", Set.of("jan", "feb", "big"), 2);
    // a timestamp compares with the date at midnight
    assertPrunes("day >= TIMESTAMP '2024-02-01 00:00:00'", Set.of("feb", "big"), 4);
  }

  @Test
  void decimalFiltersCompareValuesNotText() {
    // 100 and 100.00 are the same amount: the large amounts (and February, which has no bound)
    assertPrunes("amount >= 100", Set.of("feb", "big"), 4);
    assertPrunes("amount = 100.0", Set.of("feb", "big"), 2);
    assertPrunes("amount < 100.00", Set.of("jan", "feb"), 5);
    assertPrunes("amount BETWEEN 0 AND 99.99", Set.of("jan", "feb"), 5);
    // a double literal compares the column as a double: nothing is pruned, nothing is lost
    assertPrunes("amount = 99.99D", Set.of("jan", "feb", "big"), 1);
  }

  @Test
  void dateAndDecimalTogetherAndOr() {
    assertPrunes("day < '2024-02-01' AND amount > 99.99", Set.of("big"), 2);
    assertPrunes("amount = 99.99 AND day < '2024-02-01'", Set.of("jan"), 1);
    assertPrunes("day = '2024-01-31' OR day = '2024-02-29'", Set.of("jan", "feb", "big"), 2);
    // an OR over two columns constrains neither: every source is read
    assertPrunes("day < '2024-01-01' OR amount > 500", Set.of("jan", "feb", "big"), 1);
    // Spark's optimizer turns this NOT into day < '2024-01-01', which prunes
    assertPrunes("NOT (day >= '2024-01-01')", Set.of("big"), 1);
    // a function of a column is not understood: every source is read
    assertPrunes("month(day) = 12", Set.of("jan", "feb", "big"), 1);
  }

  @Test
  void theDedupViewPrunesOnlyByFiltersOnTheKey() throws Exception {
    // key 1 moved from January to February: its latest image is the February one
    String january = "moved_jan_" + suffix;
    String february = "moved_feb_" + suffix;
    try (Connection connection = testingSpark.sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      for (String name : List.of(january, february)) {
        statement.execute(
            "CREATE TABLE public." + name + " (id BIGINT PRIMARY KEY, day DATE, version INT)");
      }
      statement.execute(
          "INSERT INTO public." + january + " VALUES (1, '2024-01-05', 1), (2, '2024-01-06', 1)");
      statement.execute("INSERT INTO public." + february + " VALUES (1, '2024-02-03', 2)");
    }
    String moved = "harness." + namespace + ".moved";
    spark.sql(
        "CREATE TABLE "
            + moved
            + " (id BIGINT NOT NULL, day DATE, version INT) TBLPROPERTIES ("
            + source("jan", "jdbc", "pg", "public." + january)
            + ", 'source.jan.partition-filter' = \"day < '2024-02-01'\", "
            + source("feb", "jdbc", "pg", "public." + february)
            + ", 'source.feb.partition-filter' = \"day >= '2024-02-01'\","
            + " 'primary-key' = 'id', 'ordering-column' = 'version')");
    // pruning February by the day would bring back key 1's older January image
    String byDay = "SELECT id, day FROM " + moved + ".latest WHERE day = '2024-01-05'";
    assertEquals(List.of(), rows(spark.sql(byDay)));
    String plan = spark.sql(byDay).queryExecution().optimizedPlan().toString();
    assertTrue(plan.contains(january) && plan.contains(february), plan);
    // only a filter on the key (alike for every image of a key) could prune; the rows are right
    String byKey = "SELECT id, day FROM " + moved + ".latest WHERE id = 1 AND day >= '2024-01-01'";
    assertEquals(List.of("[1,2024-02-03]"), rows(spark.sql(byKey)));
    assertEquals(
        List.of("[1,2024-01-05]", "[1,2024-02-03]"),
        rows(spark.sql("SELECT id, day FROM " + moved + " WHERE id = 1")));
  }

  @Test
  void anInvalidPartitionFilterIsRefusedAtCreateTable() {
    Exception badDate =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "CREATE TABLE harness."
                        + namespace
                        + ".bad (id BIGINT, day DATE) TBLPROPERTIES ("
                        + source("a", "jdbc", "pg", "public." + relations.get("jan"))
                        + ", 'source.a.partition-filter' = \"day = '2024-13-01'\")"));
    // a user error: Spark's AnalysisException naming the property, with the harness message
    assertTrue(badDate instanceof org.apache.spark.sql.AnalysisException, badDate.toString());
    assertTrue(
        badDate.getMessage().startsWith("[INVALID_PARAMETER_VALUE.PATTERN]"), badDate.getMessage());
    assertTrue(
        badDate
            .getMessage()
            .contains(
                "`source.a.partition-filter` in CREATE TABLE `harness`.`"
                    + namespace
                    + "`.`bad` is invalid: Cannot create table "
                    + namespace
                    + ".bad: source 'a' partition-filter 'day = '2024-13-01'' is invalid: "),
        badDate.getMessage());
    Exception unknownColumn =
        assertThrows(
            Exception.class,
            () ->
                spark.sql(
                    "CREATE TABLE harness."
                        + namespace
                        + ".bad (id BIGINT, day DATE) TBLPROPERTIES ("
                        + source("a", "jdbc", "pg", "public." + relations.get("jan"))
                        + ", 'source.a.partition-filter' = \"region = 'eu'\")"));
    assertTrue(unknownColumn.getMessage().contains("region"), unknownColumn.getMessage());
    assertTrue(
        unknownColumn.getMessage().contains("the table's columns [id, day]"),
        unknownColumn.getMessage());
    List<String> tables =
        spark.sql("SHOW TABLES IN harness." + namespace).collectAsList().stream()
            .map(row -> row.getString(1))
            .toList();
    assertFalse(tables.contains("bad"), tables.toString());
  }
}
