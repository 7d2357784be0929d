package io.dataharness.spark.read;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.errors.InvalidParameterException;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.UnresolvedAttribute$;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.optimizer.ReplaceExpressions$;
import org.apache.spark.sql.catalyst.optimizer.RewriteWithExpression$;
import org.apache.spark.sql.catalyst.parser.CatalystSqlParser$;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.classic.ExpressionUtils;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractPartialFunction;

/**
 * A source's {@code partition-filter}: a SQL predicate on the table's columns that every row of the
 * source satisfies. It is parsed and resolved by the session's own parser and analyzer against the
 * table's columns, so its literals get exactly the types and casts a query's filter would get
 * ({@code day = '2024-05-01'} compares a DATE), and its constant expressions are evaluated once.
 */
public final class PartitionFilter {
  /**
   * Resolved filters kept per JVM (a few KB each): enough for every source of large tables, since a
   * query resolves the filter of each of its sources (a 1,000-source table thrashed 256 entries).
   */
  private static final int CACHED = 8192;

  private static final Map<List<String>, Expression> RESOLVED =
      Collections.synchronizedMap(
          new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<List<String>, Expression> eldest) {
              return size() > CACHED;
            }
          });

  private PartitionFilter() {}

  /** Why a partition filter cannot be used. */
  public static final class InvalidFilterException extends RuntimeException {
    InvalidFilterException(String reason, Throwable cause) {
      super(reason, cause);
    }
  }

  /**
   * Checks a source's partition filter against the table's columns, for CREATE TABLE.
   *
   * @throws ValidationException naming the table, the source, the filter, why and what to write
   */
  public static void check(TableIdentifier table, SourceDefinition source, StructType columns) {
    String filter = source.partitionFilter();
    if (filter == null) {
      return;
    }
    try {
      resolve(SparkSession.active(), filter, columns);
    } catch (InvalidFilterException e) {
      throw new InvalidParameterException(
          "source." + source.id() + ".partition-filter",
          "Cannot create table %s: source '%s' partition-filter '%s' is invalid: %s; write a"
              + " boolean SQL predicate on the table's columns %s with literals their columns can"
              + " hold, for example day >= DATE '2024-05-01' AND region IN ('eu', 'us')",
          table,
          source.id(),
          filter,
          e.getMessage(),
          Arrays.stream(columns.fields()).map(StructField::name).toList());
    }
  }

  /**
   * Whether a row matches the filter, as a column of a DataFrame with the table's columns: the
   * filter as {@link #resolve} types it (its literals already cast to their columns' types, so
   * values compare as their types order them, never as text), true or false (NULL counts as no
   * match).
   *
   * @throws InvalidFilterException if the filter does not resolve against {@code columns}
   */
  public static org.apache.spark.sql.Column matches(
      SparkSession spark, String filter, StructType columns) {
    Expression resolved = resolve(spark, filter, columns);
    // the attributes are those of resolve's empty frame: refer to the columns by name instead
    Expression byName =
        (Expression)
            resolved.transform(
                new AbstractPartialFunction<Expression, Expression>() {
                  @Override
                  public boolean isDefinedAt(Expression expression) {
                    return expression instanceof AttributeReference;
                  }

                  @Override
                  public Expression apply(Expression expression) {
                    return UnresolvedAttribute$.MODULE$.quoted(
                        ((AttributeReference) expression).name());
                  }
                });
    return org.apache.spark.sql.functions.coalesce(
        ExpressionUtils.column(byName), org.apache.spark.sql.functions.lit(false));
  }

  /** The names of the columns the filter reads, as {@link #resolve} finds them. */
  public static List<String> columns(SparkSession spark, String filter, StructType columns) {
    return CollectionConverters.asJava(resolve(spark, filter, columns).references().toSeq())
        .stream()
        .map(attribute -> attribute.name())
        .distinct()
        .toList();
  }

  /**
   * The filter resolved against the columns and with its constant expressions evaluated.
   *
   * @throws InvalidFilterException on a syntax error, an unknown column, a predicate that is not
   *     boolean, or a literal that cannot be cast to its column's type
   */
  static Expression resolve(SparkSession spark, String filter, StructType columns) {
    SQLConf conf = SQLConf.get();
    List<String> key =
        List.of(
            filter,
            columns.json(),
            conf.sessionLocalTimeZone(),
            String.valueOf(conf.ansiEnabled()),
            String.valueOf(conf.caseSensitiveAnalysis()));
    Expression cached = RESOLVED.get(key);
    if (cached != null) {
      return cached;
    }
    LogicalPlan analyzed;
    try {
      // a predicate followed by a word parses as that predicate named by the word ("x = 1 AND")
      if (CatalystSqlParser$.MODULE$.parseExpression(filter) instanceof NamedExpression named) {
        throw new InvalidFilterException(
            "it reads as a predicate followed by '" + named.name() + "'", null);
      }
      analyzed =
          spark.createDataFrame(List.<Row>of(), columns).where(filter).queryExecution().analyzed();
    } catch (InvalidFilterException e) {
      throw e;
    } catch (Exception e) {
      // a ParseException or AnalysisException (checked in Scala's eyes only)
      throw new InvalidFilterException(firstLine(e), e);
    }
    // BETWEEN and other runtime-replaceable expressions in the form the optimizer gives them
    analyzed = RewriteWithExpression$.MODULE$.apply(ReplaceExpressions$.MODULE$.apply(analyzed));
    if (!(analyzed instanceof Filter resolved)) {
      throw new InvalidFilterException("it is not a plain predicate (" + analyzed + ")", null);
    }
    if (!(resolved.condition().dataType() instanceof BooleanType)) {
      throw new InvalidFilterException("it is not a boolean predicate", null);
    }
    Expression folded = fold(resolved.condition());
    RESOLVED.put(key, folded);
    return folded;
  }

  /** Evaluates every constant sub-expression (such as the cast of a literal to a column's type). */
  private static Expression fold(Expression condition) {
    return (Expression)
        condition.transform(
            new AbstractPartialFunction<Expression, Expression>() {
              @Override
              public boolean isDefinedAt(Expression expression) {
                return expression.foldable() && !(expression instanceof Literal);
              }

              @Override
              public Expression apply(Expression expression) {
                Object value;
                try {
                  value = expression.eval(null);
                } catch (RuntimeException e) {
                  throw new InvalidFilterException(
                      expression.sql() + " cannot be evaluated: " + firstLine(e), e);
                }
                boolean nullInput =
                    CollectionConverters.asJava(expression.collectLeaves()).stream()
                        .anyMatch(
                            leaf -> leaf instanceof Literal literal && literal.value() == null);
                if (value == null && !nullInput) {
                  throw new InvalidFilterException(
                      expression.sql()
                          + " is NULL: the value cannot be read as "
                          + expression.dataType().sql(),
                      null);
                }
                return new Literal(value, expression.dataType());
              }
            });
  }

  private static String firstLine(Throwable e) {
    String message = (e.getMessage() == null ? e.toString() : e.getMessage()).trim();
    int newline = message.indexOf('\n');
    // Spark's messages may end in ';', which the caller's "; <how to fix>" already adds
    return (newline < 0 ? message : message.substring(0, newline)).trim().replaceAll(";+$", "");
  }
}
