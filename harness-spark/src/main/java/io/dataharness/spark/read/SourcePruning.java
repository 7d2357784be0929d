package io.dataharness.spark.read;

import io.dataharness.spark.read.ColumnValues.Domain;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.expressions.And;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.BinaryComparison;
import org.apache.spark.sql.catalyst.expressions.Cast;
import org.apache.spark.sql.catalyst.expressions.EqualNullSafe;
import org.apache.spark.sql.catalyst.expressions.EqualTo;
import org.apache.spark.sql.catalyst.expressions.EvalMode;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.GreaterThan;
import org.apache.spark.sql.catalyst.expressions.GreaterThanOrEqual;
import org.apache.spark.sql.catalyst.expressions.In;
import org.apache.spark.sql.catalyst.expressions.InSet;
import org.apache.spark.sql.catalyst.expressions.LessThan;
import org.apache.spark.sql.catalyst.expressions.LessThanOrEqual;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.expressions.Or;
import org.apache.spark.sql.connector.expressions.LiteralValue;
import org.apache.spark.sql.connector.expressions.NamedReference;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Decides, before any source is opened, whether a source's declared partition filter can match a
 * query's filters.
 *
 * <p>Both are reduced to the values each column may take: {@code =}, {@code <=>}, {@code IN},
 * {@code <}, {@code <=}, {@code >}, {@code >=} (and so {@code BETWEEN}) between a column and a
 * literal give a set of typed values, {@code AND} intersects them, {@code OR} unites them per
 * column. Values are compared as their type orders them (numbers, decimals, dates, timestamps,
 * strings), never as text: the partition filter is resolved by Spark's analyzer against the table's
 * columns ({@link PartitionFilter}), so its literals get the casts a query's would, and a column
 * compared through a widening cast ({@code CAST(id AS DECIMAL(11,1)) = 1.0}) is compared with the
 * literal cast back to the column's type, when that cast is exact. A source is pruned when, for
 * some column, the two sets do not intersect. Anything else ({@code NOT}, functions, a literal that
 * cannot be cast exactly, a filter that no longer resolves) counts as "any value", so pruning never
 * drops a source that could have rows.
 */
public final class SourcePruning {
  private static final Logger LOG = LoggerFactory.getLogger(SourcePruning.class);

  /** A column compared with literals of type {@code comparedAs} (its own type, or a widening). */
  private record Column(String name, DataType type, DataType comparedAs) {}

  /**
   * What a predicate says about the columns it constrains: the values each may take (absent: any
   * value), or that it is never true.
   */
  private record Constraints(Map<String, ColumnValues> columns, boolean impossible) {
    static Constraints any() {
      return new Constraints(Map.of(), false);
    }

    static Constraints never() {
      return new Constraints(Map.of(), true);
    }

    static Constraints of(Column column, ColumnValues values) {
      return values.isEmpty()
          ? never()
          : new Constraints(Map.of(column.name().toLowerCase(Locale.ROOT), values), false);
    }

    boolean isAny() {
      return !impossible && columns.isEmpty();
    }

    Constraints and(Constraints other) {
      if (impossible || other.impossible) {
        return never();
      }
      Map<String, ColumnValues> both = new HashMap<>(columns);
      for (Map.Entry<String, ColumnValues> entry : other.columns.entrySet()) {
        ColumnValues mine = both.get(entry.getKey());
        ColumnValues common = mine == null ? entry.getValue() : mine.intersect(entry.getValue());
        if (common.isEmpty()) {
          return never();
        }
        both.put(entry.getKey(), common);
      }
      return new Constraints(both, false);
    }

    /** Per column, the values of either side: a column constrained by one side only is free. */
    Constraints or(Constraints other) {
      if (impossible) {
        return other;
      }
      if (other.impossible) {
        return this;
      }
      Map<String, ColumnValues> either = new HashMap<>();
      for (Map.Entry<String, ColumnValues> entry : columns.entrySet()) {
        ColumnValues theirs = other.columns.get(entry.getKey());
        if (theirs != null) {
          entry.getValue().union(theirs).ifPresent(union -> either.put(entry.getKey(), union));
        }
      }
      return new Constraints(either, false);
    }
  }

  private SourcePruning() {}

  /** For the DataSource V2 scan: the predicates Spark pushed. */
  public static boolean mayMatch(SourceRead read, Predicate[] predicates) {
    if (read.source().partitionFilter() == null) {
      return true;
    }
    try {
      Constraints query = Constraints.any();
      for (Predicate predicate : predicates) {
        query = query.and(constraints(predicate, read.schema()));
      }
      return mayMatch(read, query);
    } catch (RuntimeException e) {
      return cannotPrune(read, e);
    }
  }

  /** For the native rewrite: the conjuncts of the filters above the relation. */
  public static boolean mayMatch(SourceRead read, List<Expression> conjuncts) {
    if (read.source().partitionFilter() == null) {
      return true;
    }
    try {
      Constraints query = Constraints.any();
      for (Expression conjunct : conjuncts) {
        query = query.and(constraints(conjunct));
      }
      return mayMatch(read, query);
    } catch (RuntimeException e) {
      return cannotPrune(read, e);
    }
  }

  private static boolean mayMatch(SourceRead read, Constraints query) {
    if (query.isAny()) {
      return true;
    }
    String filter = read.source().partitionFilter();
    Constraints source =
        constraints(PartitionFilter.resolve(SparkSession.active(), filter, read.schema()));
    boolean mayMatch = !source.and(query).impossible();
    LOG.debug(
        "Partition filter of {} allows {}, the query {}: {}",
        read.describe(),
        source,
        query,
        mayMatch ? "may match" : "pruned");
    return mayMatch;
  }

  /** Never prune on doubt: the filter no longer resolves, or a value is not what it should be. */
  private static boolean cannotPrune(SourceRead read, RuntimeException e) {
    LOG.warn(
        "Cannot prune {} by its partition-filter '{}', reading it: {}",
        read.describe(),
        read.source().partitionFilter(),
        e.getMessage());
    return true;
  }

  // ---- Catalyst expressions (the partition filter, the native rewrite's conjuncts)

  private static Constraints constraints(Expression expression) {
    if (expression instanceof And and) {
      return constraints(and.left()).and(constraints(and.right()));
    }
    if (expression instanceof Or or) {
      return constraints(or.left()).or(constraints(or.right()));
    }
    if (expression instanceof Literal literal && literal.dataType() instanceof BooleanType) {
      return Boolean.TRUE.equals(literal.value()) ? Constraints.any() : Constraints.never();
    }
    if (expression instanceof BinaryComparison comparison) {
      String operator = operator(comparison);
      if (operator == null) {
        return Constraints.any();
      }
      Optional<Column> column = column(comparison.left());
      Expression value = comparison.right();
      if (column.isEmpty()) {
        column = column(comparison.right());
        value = comparison.left();
        operator = flip(operator);
      }
      if (column.isPresent() && value instanceof Literal literal) {
        return compare(column.get(), operator, literal.value(), literal.dataType());
      }
      return Constraints.any();
    }
    if (expression instanceof In in) {
      Optional<Column> column = column(in.value());
      List<Object> values = new ArrayList<>();
      for (Expression item : CollectionConverters.asJava(in.list())) {
        if (!(item instanceof Literal literal)) {
          return Constraints.any();
        }
        values.add(literal.value());
      }
      return column.map(c -> in(c, values, in.value().dataType())).orElse(Constraints.any());
    }
    if (expression instanceof InSet inSet) {
      Optional<Column> column = column(inSet.child());
      List<Object> values = new ArrayList<>(CollectionConverters.asJava(inSet.hset()));
      return column.map(c -> in(c, values, inSet.child().dataType())).orElse(Constraints.any());
    }
    return Constraints.any();
  }

  private static String operator(BinaryComparison comparison) {
    if (comparison instanceof EqualTo || comparison instanceof EqualNullSafe) {
      return "=";
    } else if (comparison instanceof LessThan) {
      return "<";
    } else if (comparison instanceof LessThanOrEqual) {
      return "<=";
    } else if (comparison instanceof GreaterThan) {
      return ">";
    } else if (comparison instanceof GreaterThanOrEqual) {
      return ">=";
    }
    return null;
  }

  private static Optional<Column> column(Expression expression) {
    if (expression instanceof Attribute attribute) {
      return Optional.of(new Column(attribute.name(), attribute.dataType(), attribute.dataType()));
    }
    if (expression instanceof Cast cast
        && cast.child() instanceof Attribute attribute
        && widens(attribute.dataType(), cast.dataType())) {
      return Optional.of(new Column(attribute.name(), attribute.dataType(), cast.dataType()));
    }
    return Optional.empty();
  }

  // ---- DataSource V2 predicates (the plain scan)

  private static Constraints constraints(Predicate predicate, StructType schema) {
    org.apache.spark.sql.connector.expressions.Expression[] children = predicate.children();
    switch (predicate.name()) {
      case "AND":
        return constraints((Predicate) children[0], schema)
            .and(constraints((Predicate) children[1], schema));
      case "OR":
        return constraints((Predicate) children[0], schema)
            .or(constraints((Predicate) children[1], schema));
      case "ALWAYS_FALSE":
        return Constraints.never();
      case "=":
      case "<=>":
      case "<":
      case "<=":
      case ">":
      case ">=":
        {
          String operator = predicate.name().equals("<=>") ? "=" : predicate.name();
          Optional<Column> column = column(children[0], schema);
          org.apache.spark.sql.connector.expressions.Expression value = children[1];
          if (column.isEmpty()) {
            column = column(children[1], schema);
            value = children[0];
            operator = flip(operator);
          }
          if (column.isPresent() && value instanceof LiteralValue<?> literal) {
            return compare(column.get(), operator, literal.value(), literal.dataType());
          }
          return Constraints.any();
        }
      case "IN":
        {
          Optional<Column> column = column(children[0], schema);
          List<Object> values = new ArrayList<>();
          DataType type = null;
          for (int i = 1; i < children.length; i++) {
            if (!(children[i] instanceof LiteralValue<?> literal)) {
              return Constraints.any();
            }
            values.add(literal.value());
            type = literal.dataType();
          }
          if (column.isEmpty() || type == null) {
            return Constraints.any();
          }
          return in(column.get(), values, type);
        }
      default:
        return Constraints.any();
    }
  }

  private static Optional<Column> column(
      org.apache.spark.sql.connector.expressions.Expression expression, StructType schema) {
    if (expression instanceof NamedReference reference) {
      return field(reference, schema)
          .map(field -> new Column(field.name(), field.dataType(), field.dataType()));
    }
    if (expression instanceof org.apache.spark.sql.connector.expressions.Cast cast
        && cast.expression() instanceof NamedReference reference) {
      return field(reference, schema)
          .filter(field -> widens(field.dataType(), cast.dataType()))
          .map(field -> new Column(field.name(), field.dataType(), cast.dataType()));
    }
    return Optional.empty();
  }

  private static Optional<StructField> field(NamedReference reference, StructType schema) {
    String name = String.join(".", reference.fieldNames());
    for (StructField field : schema.fields()) {
      if (field.name().equalsIgnoreCase(name)) {
        return Optional.of(field);
      }
    }
    return Optional.empty();
  }

  // ---- typed values

  private static String flip(String operator) {
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

  /** {@code column <operator> value}, the value of type {@code valueType}. */
  private static Constraints compare(
      Column column, String operator, Object value, DataType valueType) {
    Optional<Domain> domain = Domain.of(column.type());
    if (value == null || domain.isEmpty()) {
      return Constraints.any();
    }
    Optional<Object> typed = toColumnType(value, valueType, column);
    if (typed.isEmpty()) {
      return operator.equals("=")
          ? Constraints.any()
          : beyondInexact(column, operator, value, valueType, domain.get())
              .map(values -> Constraints.of(column, values))
              .orElse(Constraints.any());
    }
    ColumnValues values;
    switch (operator) {
      case "=":
        values = ColumnValues.point(domain.get(), typed.get());
        break;
      case "<":
        values = ColumnValues.range(domain.get(), typed.get(), -1, false);
        break;
      case "<=":
        values = ColumnValues.range(domain.get(), typed.get(), -1, true);
        break;
      case ">":
        values = ColumnValues.range(domain.get(), typed.get(), 1, false);
        break;
      case ">=":
        values = ColumnValues.range(domain.get(), typed.get(), 1, true);
        break;
      default:
        return Constraints.any();
    }
    return Constraints.of(column, values);
  }

  /** {@code column IN (values)}: a NULL among the values matches no row. */
  private static Constraints in(Column column, List<Object> values, DataType valueType) {
    Optional<Domain> domain = Domain.of(column.type());
    if (domain.isEmpty()) {
      return Constraints.any();
    }
    List<Object> typed = new ArrayList<>();
    for (Object value : values) {
      if (value != null) {
        Optional<Object> converted = toColumnType(value, valueType, column);
        if (converted.isEmpty()) {
          return Constraints.any();
        }
        typed.add(converted.get());
      }
    }
    return Constraints.of(column, ColumnValues.points(domain.get(), typed));
  }

  /**
   * The internal value of the column's type equal to {@code value} (of the type the column is
   * compared as), by Spark's cast; empty where no value of the column's type casts exactly to it.
   */
  private static Optional<Object> toColumnType(Object value, DataType valueType, Column column) {
    if (!valueType.equals(column.comparedAs())) {
      return Optional.empty();
    }
    if (valueType.equals(column.type())) {
      return Optional.of(value);
    }
    Optional<Domain> domain = Domain.of(valueType);
    if (domain.isEmpty()) {
      return Optional.empty();
    }
    try {
      Object converted = cast(value, valueType, column.type());
      if (converted == null) {
        return Optional.empty();
      }
      Object back = cast(converted, column.type(), valueType);
      if (back == null || compare(domain.get(), back, value) != 0) {
        return Optional.empty();
      }
      return Optional.of(converted);
    } catch (RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * {@code column <operator> value} for a range operator, where no value of the column's (discrete)
   * type casts exactly to {@code value}: the column's values below its lower neighbour or above its
   * upper one ({@code i < 2.5} is {@code i <= 2}). Spark's cast of the value to the column's type
   * gives one neighbour; the value one step away must lie on the value's other side, or the range
   * is left unknown.
   */
  private static Optional<ColumnValues> beyondInexact(
      Column column, String operator, Object value, DataType valueType, Domain domain) {
    Optional<Domain> compared = Domain.of(valueType);
    if (!valueType.equals(column.comparedAs())
        || valueType.equals(column.type())
        || domain.step() == null
        || compared.isEmpty()) {
      return Optional.empty();
    }
    try {
      Object neighbour = cast(value, valueType, column.type());
      Object back = neighbour == null ? null : cast(neighbour, column.type(), valueType);
      if (back == null) {
        return Optional.empty();
      }
      int side = Integer.signum(compare(compared.get(), back, value));
      if (side == 0) {
        return Optional.empty();
      }
      Object other = domain.internal(domain.next(domain.value(neighbour), -side));
      Object otherBack = other == null ? null : cast(other, column.type(), valueType);
      if (otherBack == null || Integer.signum(compare(compared.get(), otherBack, value)) != -side) {
        return Optional.empty();
      }
      Object lower = side < 0 ? neighbour : other;
      Object upper = side < 0 ? other : neighbour;
      return Optional.of(
          operator.startsWith("<")
              ? ColumnValues.range(domain, lower, -1, true)
              : ColumnValues.range(domain, upper, 1, true));
    } catch (RuntimeException e) {
      return Optional.empty();
    }
  }

  private static Object cast(Object value, DataType from, DataType to) {
    return new Cast(
            new Literal(value, from),
            to,
            Option.apply(SQLConf.get().sessionLocalTimeZone()),
            EvalMode.TRY())
        .eval(null);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static int compare(Domain domain, Object left, Object right) {
    return ((Comparable) domain.value(left)).compareTo(domain.value(right));
  }

  /**
   * Whether every value of {@code from} casts to a distinct value of {@code to} in the same order,
   * so that comparing the cast column with a literal is comparing the column with the literal cast
   * back.
   */
  static boolean widens(DataType from, DataType to) {
    if (from.equals(to)) {
      return true;
    }
    int digits = integralDigits(from);
    if (digits > 0) {
      return integralDigits(to) >= digits
          || (to instanceof DecimalType decimal && decimal.precision() - decimal.scale() >= digits)
          || (to instanceof DoubleType && digits <= 10)
          || (to instanceof FloatType && digits <= 5);
    }
    if (from instanceof FloatType) {
      return to instanceof DoubleType;
    }
    if (from instanceof DecimalType source && to instanceof DecimalType target) {
      return target.scale() >= source.scale()
          && target.precision() - target.scale() >= source.precision() - source.scale();
    }
    if (from instanceof DateType) {
      return to instanceof TimestampType || to instanceof TimestampNTZType;
    }
    return false;
  }

  private static int integralDigits(DataType type) {
    if (type instanceof ByteType) {
      return 3;
    } else if (type instanceof ShortType) {
      return 5;
    } else if (type instanceof IntegerType) {
      return 10;
    } else if (type instanceof LongType) {
      return 19;
    }
    return -1;
  }
}
