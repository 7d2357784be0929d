package io.dataharness.spark.read;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.testing.TestingSpark;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.expressions.And;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.BoundReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.optimizer.ReplaceExpressions$;
import org.apache.spark.sql.catalyst.optimizer.RewriteWithExpression$;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Strategy$;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractPartialFunction;

/**
 * Source pruning against a brute-force expectation: random source filters and query filters over
 * typed columns, each pair evaluated by Spark on every value of a grid that holds every literal,
 * its neighbours and values between literals. Pruning must never drop a source when some grid row
 * satisfies both filters, through both read paths (the native rewrite's Catalyst conjuncts and the
 * plain scan's pushed predicates); and for conjunctions of exact literals, it must drop the source
 * when no row does.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SourcePruningTest {
  private static final StructType SCHEMA =
      new StructType()
          .add("i", DataTypes.IntegerType)
          .add("l", DataTypes.LongType)
          .add("d", DataTypes.DoubleType)
          .add("m", DataTypes.createDecimalType(10, 2))
          .add("day", DataTypes.DateType)
          .add("ts", DataTypes.TimestampType)
          .add("s", DataTypes.StringType);
  private static final String[] OPERATORS = {"=", "IN", "<", "<=", ">", ">=", "BETWEEN"};

  /** A literal as SQL text; {@code exact} when it is a value of its column's type. */
  private record Literal(String sql, boolean exact) {}

  /** One column: the values literals are drawn from, their spellings, and the brute-force grid. */
  private record ColumnPool(
      String name,
      List<Object> values,
      Function<Object, List<Literal>> spellings,
      List<Object> grid) {}

  private SparkSession spark;
  private List<ColumnPool> pools;

  @BeforeAll
  void start() {
    spark = TestingSpark.shared().session();
    pools =
        List.of(
            integers("i"), integers("l"), doubles(), decimals(), dates(), timestamps(), strings());
  }

  private static ColumnPool integers(String name) {
    List<Object> values = List.of(-3L, -1L, 0L, 1L, 2L, 4L);
    List<Object> grid = new ArrayList<>();
    for (long v = -5; v <= 6; v++) {
      grid.add(name.equals("i") ? (Object) (int) v : (Object) v);
    }
    return new ColumnPool(
        name,
        values,
        value ->
            List.of(
                new Literal(value.toString(), true),
                new Literal(value + "L", true),
                new Literal(value + ".0", true),
                // exact, but in an IN list next to numbers it makes Spark compare as strings
                new Literal("'" + value + "'", false),
                new Literal(value + ".5", false)),
        grid);
  }

  private static ColumnPool doubles() {
    List<Object> values = List.of(-1.5, 0.0, 0.5, 1.0, 2.5);
    List<Object> grid = new ArrayList<>();
    List<Double> sorted = values.stream().map(v -> (Double) v).sorted().toList();
    for (int k = 0; k < sorted.size(); k++) {
      grid.add(sorted.get(k));
      if (k + 1 < sorted.size()) {
        grid.add((sorted.get(k) + sorted.get(k + 1)) / 2);
      }
    }
    grid.add(-10.0);
    grid.add(10.0);
    return new ColumnPool(
        "d",
        values,
        value -> {
          double v = (Double) value;
          List<Literal> spellings = new ArrayList<>();
          spellings.add(new Literal(Double.toString(v), true));
          spellings.add(new Literal(v + "D", true));
          spellings.add(new Literal(BigDecimal.valueOf(v).setScale(3).toPlainString(), true));
          if (v == Math.rint(v)) {
            spellings.add(new Literal(Long.toString((long) v), true));
          }
          return spellings;
        },
        grid);
  }

  private static ColumnPool decimals() {
    List<Object> values =
        List.of(
            new BigDecimal("-1.00"),
            new BigDecimal("0.00"),
            new BigDecimal("0.50"),
            new BigDecimal("1.25"),
            new BigDecimal("2.00"));
    List<Object> grid = new ArrayList<>();
    BigDecimal step = new BigDecimal("0.01");
    for (Object value : values) {
      BigDecimal v = (BigDecimal) value;
      grid.add(Decimal.apply(v.subtract(step), 10, 2));
      grid.add(Decimal.apply(v, 10, 2));
      grid.add(Decimal.apply(v.add(step), 10, 2));
    }
    return new ColumnPool(
        "m",
        values,
        value -> {
          BigDecimal v = (BigDecimal) value;
          List<Literal> spellings = new ArrayList<>();
          spellings.add(new Literal(v.toPlainString(), true));
          spellings.add(new Literal(v.setScale(3).toPlainString(), true));
          spellings.add(new Literal(v.add(new BigDecimal("0.005")).toPlainString(), false));
          spellings.add(new Literal(v.toPlainString() + "D", false));
          if (v.stripTrailingZeros().scale() <= 0) {
            spellings.add(new Literal(Long.toString(v.longValueExact()), true));
          }
          return spellings;
        },
        grid);
  }

  private static ColumnPool dates() {
    List<Object> values =
        List.of(
            LocalDate.parse("2024-01-30"),
            LocalDate.parse("2024-01-31"),
            LocalDate.parse("2024-02-01"),
            LocalDate.parse("2024-02-29"),
            LocalDate.parse("2024-03-01"));
    List<Object> grid = new ArrayList<>();
    for (Object value : values) {
      LocalDate v = (LocalDate) value;
      for (int delta = -1; delta <= 1; delta++) {
        grid.add((int) v.plusDays(delta).toEpochDay());
      }
    }
    return new ColumnPool(
        "day",
        values,
        value ->
            List.of(
                new Literal("DATE '" + value + "'", true),
                new Literal("'" + value + "'", true),
                new Literal("TIMESTAMP '" + value + " 00:00:00'", true),
                new Literal("TIMESTAMP '" + value + " 12:00:00'", false)),
        grid);
  }

  private static ColumnPool timestamps() {
    List<Object> values =
        List.of(
            Instant.parse("2024-01-31T00:00:00Z"),
            Instant.parse("2024-01-31T12:00:00Z"),
            Instant.parse("2024-01-31T12:00:00.000001Z"),
            Instant.parse("2024-02-01T00:00:00Z"));
    List<Object> grid = new ArrayList<>();
    for (Object value : values) {
      long micros = ChronoUnit.MICROS.between(Instant.EPOCH, (Instant) value);
      grid.add(micros - 1);
      grid.add(micros);
      grid.add(micros + 1);
    }
    return new ColumnPool(
        "ts",
        values,
        value -> {
          Instant v = (Instant) value;
          String text = v.toString().replace('T', ' ').replace("Z", "");
          String plusOne = v.plusSeconds(3600).toString().replace('T', ' ').replace("Z", "+01:00");
          List<Literal> spellings = new ArrayList<>();
          spellings.add(new Literal("TIMESTAMP '" + text + "'", true));
          spellings.add(new Literal("'" + v + "'", true));
          spellings.add(new Literal("TIMESTAMP '" + plusOne + "'", true));
          if (v.equals(v.truncatedTo(ChronoUnit.DAYS))) {
            spellings.add(new Literal("DATE '" + v.toString().substring(0, 10) + "'", true));
          }
          return spellings;
        },
        grid);
  }

  private static ColumnPool strings() {
    List<Object> values = List.of("a", "ab", "b", "ba", "c");
    List<Object> grid = new ArrayList<>();
    grid.add(UTF8String.fromString(""));
    for (Object value : values) {
      grid.add(UTF8String.fromString((String) value));
      grid.add(UTF8String.fromString(value + "0"));
    }
    return new ColumnPool(
        "s", values, value -> List.of(new Literal("'" + value + "'", true)), grid);
  }

  // ---- random filters

  /** A generated filter: its SQL, and whether it is a conjunction of exact literals. */
  private record Generated(String sql, boolean simple) {}

  private Literal literal(Random random, ColumnPool pool) {
    Object value = pool.values().get(random.nextInt(pool.values().size()));
    List<Literal> spellings = pool.spellings().apply(value);
    return spellings.get(random.nextInt(spellings.size()));
  }

  private Generated atom(Random random, ColumnPool pool) {
    String operator = OPERATORS[random.nextInt(OPERATORS.length)];
    Literal first = literal(random, pool);
    switch (operator) {
      case "IN":
        {
          List<Literal> items = new ArrayList<>(List.of(first));
          int more = random.nextInt(3);
          for (int k = 0; k < more; k++) {
            items.add(literal(random, pool));
          }
          return new Generated(
              pool.name()
                  + " IN ("
                  + items.stream().map(Literal::sql).collect(Collectors.joining(", "))
                  + ")",
              items.stream().allMatch(Literal::exact));
        }
      case "BETWEEN":
        {
          Literal second = literal(random, pool);
          return new Generated(
              pool.name() + " BETWEEN " + first.sql() + " AND " + second.sql(),
              first.exact() && second.exact());
        }
      default:
        if (random.nextInt(4) == 0) {
          return new Generated(
              first.sql() + " " + mirror(operator) + " " + pool.name(), first.exact());
        }
        return new Generated(pool.name() + " " + operator + " " + first.sql(), first.exact());
    }
  }

  private static String mirror(String operator) {
    switch (operator) {
      case "<":
        return ">";
      case "<=":
        return ">=";
      case ">":
        return "<";
      case ">=":
        return "<=";
      default:
        return operator;
    }
  }

  /** One or two atoms joined by AND (or, now and then, OR) over the given columns. */
  private Generated filter(Random random, List<ColumnPool> columns) {
    Generated result = atom(random, columns.get(random.nextInt(columns.size())));
    int more = random.nextInt(3);
    for (int k = 0; k < more; k++) {
      Generated next = atom(random, columns.get(random.nextInt(columns.size())));
      boolean or = random.nextInt(5) == 0;
      result =
          new Generated(
              "(" + result.sql() + (or ? ") OR (" : ") AND (") + next.sql() + ")",
              result.simple() && next.simple() && !or);
    }
    return result;
  }

  // ---- brute force and the two read paths

  private Expression resolved(String filter) {
    LogicalPlan plan =
        spark.createDataFrame(List.<Row>of(), SCHEMA).where(filter).queryExecution().analyzed();
    // BETWEEN evaluates only once replaced, as the optimizer does
    return ((Filter) RewriteWithExpression$.MODULE$.apply(ReplaceExpressions$.MODULE$.apply(plan)))
        .condition();
  }

  /** Whether some grid row (over the product of the columns' grids) satisfies both filters. */
  private boolean bruteForceMayMatch(String source, String query, List<ColumnPool> columns) {
    Expression both = bind(new And(resolved(source), resolved(query)));
    List<Object[]> rows = new ArrayList<>();
    rows.add(new Object[SCHEMA.fields().length]);
    for (ColumnPool pool : columns) {
      int index = SCHEMA.fieldIndex(pool.name());
      List<Object[]> extended = new ArrayList<>();
      for (Object[] row : rows) {
        for (Object value : pool.grid()) {
          Object[] copy = row.clone();
          copy[index] = value;
          extended.add(copy);
        }
      }
      rows = extended;
    }
    for (Object[] row : rows) {
      if (Boolean.TRUE.equals(both.eval(new GenericInternalRow(row)))) {
        return true;
      }
    }
    return false;
  }

  private static Expression bind(Expression expression) {
    return (Expression)
        expression.transform(
            new AbstractPartialFunction<Expression, Expression>() {
              @Override
              public boolean isDefinedAt(Expression node) {
                return node instanceof AttributeReference;
              }

              @Override
              public Expression apply(Expression node) {
                AttributeReference attribute = (AttributeReference) node;
                return new BoundReference(
                    SCHEMA.fieldIndex(attribute.name()), attribute.dataType(), true);
              }
            });
  }

  /** The query's conjuncts as the optimizer leaves them (folded, casts unwrapped, IN as InSet). */
  private List<Expression> optimizedConjuncts(String query) {
    String excluded = "spark.sql.optimizer.excludedRules";
    spark
        .conf()
        .set(
            excluded,
            "org.apache.spark.sql.catalyst.optimizer.ConvertToLocalRelation,"
                + "org.apache.spark.sql.catalyst.optimizer.PropagateEmptyRelation,"
                + "org.apache.spark.sql.catalyst.optimizer.PruneFilters");
    try {
      LogicalPlan plan =
          spark
              .createDataFrame(
                  List.of(RowFactory.create(new Object[SCHEMA.fields().length])), SCHEMA)
              .where(query)
              .queryExecution()
              .optimizedPlan();
      List<Expression> conjuncts = new ArrayList<>();
      collectFilters(plan, conjuncts);
      return conjuncts;
    } finally {
      spark.conf().unset(excluded);
    }
  }

  private static void collectFilters(LogicalPlan plan, List<Expression> conjuncts) {
    if (plan instanceof Filter filter) {
      conjuncts.addAll(split(filter.condition()));
    }
    for (LogicalPlan child : CollectionConverters.asJava(plan.children())) {
      collectFilters(child, conjuncts);
    }
  }

  private static List<Expression> split(Expression condition) {
    if (condition instanceof And and) {
      List<Expression> all = new ArrayList<>(split(and.left()));
      all.addAll(split(and.right()));
      return all;
    }
    return List.of(condition);
  }

  private static Predicate[] pushed(List<Expression> conjuncts) {
    List<Predicate> predicates = new ArrayList<>();
    for (Expression conjunct : conjuncts) {
      Option<Predicate> predicate = DataSourceV2Strategy$.MODULE$.translateFilterV2(conjunct);
      if (predicate.isDefined()) {
        predicates.add(predicate.get());
      }
    }
    return predicates.toArray(Predicate[]::new);
  }

  private static SourceRead read(String partitionFilter) {
    return new SourceRead(
        TableIdentifier.of("pruning", "t"),
        1,
        new SourceDefinition(
            "src",
            SourceKind.ICEBERG,
            "lake",
            Map.of("table", "lake.t"),
            Map.of(),
            partitionFilter),
        SourceState.Iceberg.empty(),
        null,
        SCHEMA,
        null);
  }

  // ---- the tests

  @Test
  void randomFiltersAgreeWithBruteForce() {
    Random random = new Random(20261201L);
    int pruned = 0;
    int kept = 0;
    for (int round = 0; round < 1000; round++) {
      List<ColumnPool> columns = new ArrayList<>();
      columns.add(pools.get(random.nextInt(pools.size())));
      if (random.nextInt(4) == 0) {
        ColumnPool second = pools.get(random.nextInt(pools.size()));
        if (!columns.contains(second)) {
          columns.add(second);
        }
      }
      Generated source = filter(random, columns);
      Generated query = filter(random, columns);
      boolean expected = bruteForceMayMatch(source.sql(), query.sql(), columns);
      List<Expression> conjuncts = optimizedConjuncts(query.sql());
      SourceRead read = read(source.sql());
      boolean native_ = SourcePruning.mayMatch(read, conjuncts);
      boolean plain = SourcePruning.mayMatch(read, pushed(conjuncts));
      String description =
          "round " + round + ": source '" + source.sql() + "', query '" + query.sql() + "'";
      if (expected) {
        assertTrue(native_, "native rewrite pruned a source that may match, " + description);
        assertTrue(plain, "plain scan pruned a source that may match, " + description);
        kept++;
      } else if (source.simple() && query.simple()) {
        assertFalse(native_, "native rewrite kept a disjoint source, " + description);
        assertFalse(plain, "plain scan kept a disjoint source, " + description);
        pruned++;
      }
    }
    // the generator makes both outcomes often enough to mean something
    assertTrue(pruned > 150, "only " + pruned + " disjoint simple cases");
    assertTrue(kept > 150, "only " + kept + " matching cases");
  }

  @Test
  void typedValuesAreComparedNotTheirText() {
    // texts differ, values are equal: never pruned
    assertMayMatch("m = 1.0", "m = 1");
    assertMayMatch("m = 1.00", "m IN (2, 1.000)");
    assertMayMatch("d = 1", "d = 1.0");
    assertMayMatch("day = '2024-05-01'", "day = DATE '2024-05-01'");
    assertMayMatch("ts = '2024-05-01 10:00:00'", "ts = TIMESTAMP '2024-05-01 12:00:00+02:00'");
    assertMayMatch("ts >= '2024-05-01'", "ts = '2024-05-01T00:00:00Z'");
    // values differ: pruned
    assertPruned("day = '2024-05-01'", "day = DATE '2024-05-02'");
    assertPruned("day BETWEEN '2024-05-01' AND '2024-05-31'", "day >= '2024-06-01'");
    assertPruned("m < 10", "m >= 10.00");
    assertPruned("i > 1", "i < 2");
    assertPruned("s = 'eu'", "s IN ('us', 'ap')");
    // a literal between two values of the column's type bounds a range by its neighbours
    assertPruned("i > 1.5", "i <= 1");
    assertMayMatch("i > 1.5", "i = 2");
    assertPruned("i < -1.5", "i >= -1");
    assertMayMatch("i < -1.5", "i = -2");
    assertPruned("m < 1.005", "m >= 1.01");
    assertMayMatch("m < 1.005", "m = 1.00");
    assertPruned("day < TIMESTAMP '2024-02-01 12:00:00'", "day >= '2024-02-02'");
    assertMayMatch("day < TIMESTAMP '2024-02-01 12:00:00'", "day = '2024-02-01'");
    assertMayMatch("day > TIMESTAMP '2024-02-01 12:00:00'", "day = '2024-02-02'");
    // but not an equality: no value of the column equals it, and that is left to Spark
    assertMayMatch("m = 1.005", "m = 1.00");
    // OR on either side: pruned only when every branch is disjoint
    assertPruned("s = 'eu' OR s = 'us'", "s = 'ap'");
    assertMayMatch("s = 'eu' OR i = 1", "s = 'ap'");
    // what pruning does not understand may match
    assertMayMatch("NOT (s = 'eu')", "s = 'eu'");
    assertMayMatch("upper(s) = 'EU'", "s = 'us'");
  }

  private void assertMayMatch(String source, String query) {
    List<Expression> conjuncts = optimizedConjuncts(query);
    assertTrue(SourcePruning.mayMatch(read(source), conjuncts), source + " vs " + query);
    assertTrue(SourcePruning.mayMatch(read(source), pushed(conjuncts)), source + " vs " + query);
  }

  private void assertPruned(String source, String query) {
    List<Expression> conjuncts = optimizedConjuncts(query);
    assertFalse(SourcePruning.mayMatch(read(source), conjuncts), source + " vs " + query);
    assertFalse(SourcePruning.mayMatch(read(source), pushed(conjuncts)), source + " vs " + query);
  }

  @Test
  void invalidPartitionFiltersAreRefusedWithTheReason() {
    TableIdentifier table = TableIdentifier.of("pruning", "t");
    String syntax = check(table, "day >= DATE '2024-05-01' AND");
    assertTrue(
        syntax.startsWith(
            "Cannot create table pruning.t: source 'src' partition-filter 'day >= DATE"
                + " '2024-05-01' AND' is invalid: "),
        syntax);
    assertTrue(
        syntax.contains("write a boolean SQL predicate on the table's columns [i, l,"), syntax);
    assertTrue(syntax.contains("it reads as a predicate followed by 'AND'; write"), syntax);
    String parse = check(table, "day >= ");
    assertTrue(parse.contains("PARSE_SYNTAX_ERROR"), parse);
    String unknown = check(table, "region = 'eu'");
    assertTrue(unknown.contains("region"), unknown);
    String badDate = check(table, "day = '2024-13-45'");
    assertTrue(badDate.contains("2024-13-45"), badDate);
    String badNumber = check(table, "m > 'ten'");
    assertTrue(badNumber.contains("ten"), badNumber);
    String notBoolean = check(table, "i + 1");
    assertTrue(notBoolean.contains("is invalid"), notBoolean);
    PartitionFilter.check(
        table, read("day BETWEEN '2024-05-01' AND '2024-05-31'").source(), SCHEMA);
  }

  private String check(TableIdentifier table, String filter) {
    return assertThrows(
            ValidationException.class,
            () -> PartitionFilter.check(table, read(filter).source(), SCHEMA))
        .getMessage();
  }

  @Test
  void widensOnlyThroughExactOrderPreservingCasts() {
    assertTrue(SourcePruning.widens(DataTypes.IntegerType, DataTypes.LongType));
    assertTrue(SourcePruning.widens(DataTypes.IntegerType, DataTypes.DoubleType));
    assertTrue(SourcePruning.widens(DataTypes.DateType, DataTypes.TimestampType));
    assertFalse(SourcePruning.widens(DataTypes.LongType, DataTypes.DoubleType));
    assertFalse(SourcePruning.widens(DataTypes.StringType, DataTypes.IntegerType));
    assertFalse(SourcePruning.widens(DataTypes.IntegerType, DataTypes.StringType));
    assertEquals(
        false,
        SourcePruning.widens(
            DataTypes.createDecimalType(10, 2), DataTypes.createDecimalType(10, 3)));
  }
}
