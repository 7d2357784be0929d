package io.dataharness.spark.conf;

import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.catalyst.expressions.Cast;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.expressions.UnaryMinus;
import org.apache.spark.sql.catalyst.parser.CatalystSqlParser$;
import org.apache.spark.sql.connector.catalog.ColumnDefaultValue;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Column defaults between harness fields (canonical text, {@link FieldType#parseValue}) and Spark:
 * the Spark field metadata that makes Spark fill defaults into INSERTs ({@code CURRENT_DEFAULT})
 * and shows them in {@code DESCRIBE TABLE}, and the values readers put into rows that lack the
 * column ({@code EXISTS_DEFAULT}; the harness keeps one default, so both are the same literal).
 */
public final class ColumnDefaults {
  /** Spark's key for the SQL of the default that writes fill in. */
  public static final String CURRENT_DEFAULT = "CURRENT_DEFAULT";

  /** Spark's key for the SQL of the value rows written before the column existed read. */
  public static final String EXISTS_DEFAULT = "EXISTS_DEFAULT";

  /** The harness default in canonical text, for readers (independent of the session time zone). */
  public static final String HARNESS_DEFAULT = "harness.default";

  private ColumnDefaults() {}

  /** The Spark SQL literal of a field's default ({@code 42}, {@code DATE '2026-12-01'}, ...). */
  public static String sql(Field field) {
    return new Literal(internalValue(field.type(), field.defaultJavaValue()), dataType(field))
        .sql();
  }

  /** The default of a Spark field that {@link SparkSchemas#toSpark} made, as a Spark value. */
  public static Object internalValue(StructField field) {
    FieldType type = fieldType(field);
    return type == null
        ? null
        : internalValue(type, type.parseValue(field.metadata().getString(HARNESS_DEFAULT)));
  }

  /** The default of a Spark field as a literal column of the field's type (null if none). */
  public static Column literal(StructField field) {
    FieldType type = fieldType(field);
    Object value =
        type == null ? null : type.parseValue(field.metadata().getString(HARNESS_DEFAULT));
    // Instant and LocalDateTime become timestamp and timestamp_ntz literals, whatever the session
    // time zone
    return functions.lit(value).cast(field.dataType());
  }

  /** Whether a Spark field carries a harness default. */
  public static boolean hasDefault(StructField field) {
    return field.metadata().contains(HARNESS_DEFAULT);
  }

  private static FieldType fieldType(StructField field) {
    return hasDefault(field) ? SparkSchemas.fromSpark(field.name(), field.dataType()) : null;
  }

  /**
   * The canonical text of the default an {@code ALTER TABLE ... ADD COLUMN ... DEFAULT} or a column
   * definition carries, or null when it has none (or {@code DEFAULT NULL}). Only literals are
   * accepted (a {@code CAST} of a literal or a negative number too): the harness fills the value
   * into rows of every source, so it must not depend on when it is evaluated.
   */
  public static String canonical(
      TableIdentifier table, String column, FieldType type, ColumnDefaultValue defaultValue) {
    if (defaultValue == null) {
      return null;
    }
    String sql = defaultValue.getSql();
    if (sql != null) {
      Expression parsed;
      try {
        parsed = CatalystSqlParser$.MODULE$.parseExpression(sql);
      } catch (RuntimeException e) {
        throw new ValidationException(
            "Cannot set the default of column '%s' of %s to %s: it does not parse (%s)",
            column, table, sql, e.getMessage());
      }
      if (!isLiteral(parsed)) {
        throw new ValidationException(
            "Cannot set the default of column '%s' of %s to %s: a harness default must be a"
                + " literal (such as 42, 'text', DATE '2026-12-01'), because rows already in"
                + " every source read it; evaluate the expression and use its value",
            column, table, sql);
      }
    }
    org.apache.spark.sql.connector.expressions.Literal<?> literal = defaultValue.getValue();
    if (literal == null) {
      throw new ValidationException(
          "Cannot set the default of column '%s' of %s to %s: Spark gave no value for it; use a"
              + " literal",
          column, table, sql);
    }
    if (literal.value() == null) {
      return null;
    }
    Object javaValue;
    try {
      javaValue = javaValue(type, literal.value());
      return type.formatValue(type.parseValue(type.formatValue(javaValue)));
    } catch (RuntimeException e) {
      throw new ValidationException(
          "Cannot set the default of column '%s' of %s to %s: it is no value of type %s (%s)",
          column, table, sql, type, e.getMessage());
    }
  }

  private static boolean isLiteral(Expression expression) {
    if (!(expression instanceof Literal
        || expression instanceof Cast
        || expression instanceof UnaryMinus)) {
      return false;
    }
    for (Expression child : scala.jdk.javaapi.CollectionConverters.asJava(expression.children())) {
      if (!isLiteral(child)) {
        return false;
      }
    }
    return true;
  }

  /**
   * A Spark internal value of {@code type} as the Java value {@link FieldType#parseValue} gives.
   */
  static Object javaValue(FieldType type, Object internal) {
    if (type.isDecimal()) {
      return ((Decimal) internal).toJavaBigDecimal();
    }
    return switch (type.name()) {
      case "int" -> ((Number) internal).intValue();
      case "long" -> ((Number) internal).longValue();
      case "float" -> ((Number) internal).floatValue();
      case "double" -> ((Number) internal).doubleValue();
      case "string" -> internal.toString();
      case "date" -> LocalDate.ofEpochDay(((Number) internal).longValue());
      case "timestamp" -> instant((Long) internal);
      case "timestamp_ntz" -> LocalDateTime.ofInstant(instant((Long) internal), ZoneOffset.UTC);
      default -> internal; // boolean, binary
    };
  }

  /** A Java value of {@code type} ({@link FieldType#parseValue}) as Spark's internal value. */
  public static Object internalValue(FieldType type, Object value) {
    if (value == null) {
      return null;
    }
    if (value instanceof BigDecimal decimal) {
      return Decimal.apply(decimal, type.precision(), type.scale());
    }
    if (value instanceof String text) {
      return UTF8String.fromString(text);
    }
    if (value instanceof LocalDate date) {
      return (int) date.toEpochDay();
    }
    if (value instanceof Instant instant) {
      return micros(instant);
    }
    if (value instanceof LocalDateTime local) {
      return micros(local.toInstant(ZoneOffset.UTC));
    }
    return value; // Boolean, Integer, Long, Float, Double, byte[]
  }

  private static DataType dataType(Field field) {
    return SparkSchemas.toSpark(field.type());
  }

  private static long micros(Instant instant) {
    return Math.addExact(
        Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1_000);
  }

  private static Instant instant(long micros) {
    return Instant.ofEpochSecond(
        Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }
}
