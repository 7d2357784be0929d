package io.dataharness.spark.read;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The values one column may take: a union of intervals of typed values, compared as Spark compares
 * them. Values are the Catalyst internal values of the column's type, made {@link Comparable}:
 * integral types, dates (days) and timestamps (microseconds) as {@code Long}, floating point as
 * {@code Double} (with {@code -0.0} equal to {@code 0.0} and NaN above every number, as in Spark),
 * decimals as {@code BigDecimal}, strings of the binary collation as {@code UTF8String}, booleans.
 * For types with a smallest step (integers, dates, timestamps, decimals of a fixed scale) every
 * bound is made inclusive ({@code x > 1} is {@code x >= 2}), so that {@code x > 1 AND x < 2} is
 * known to be empty.
 */
final class ColumnValues {
  /** The ordered domain of one Spark type; absent for types that pruning does not compare. */
  record Domain(DataType type, BigDecimal step) {
    static Optional<Domain> of(DataType type) {
      if (type instanceof ByteType
          || type instanceof ShortType
          || type instanceof IntegerType
          || type instanceof LongType
          || type instanceof DateType
          || type instanceof TimestampType
          || type instanceof TimestampNTZType) {
        return Optional.of(new Domain(type, BigDecimal.ONE));
      }
      if (type instanceof DecimalType decimal) {
        return Optional.of(new Domain(type, BigDecimal.ONE.movePointLeft(decimal.scale())));
      }
      if (type instanceof FloatType
          || type instanceof DoubleType
          || type instanceof BooleanType
          || (type instanceof StringType string && string.isUTF8BinaryCollation())) {
        return Optional.of(new Domain(type, null));
      }
      return Optional.empty();
    }

    /** The comparable form of a Catalyst internal value of this type. */
    Comparable<?> value(Object internal) {
      if (internal instanceof Byte
          || internal instanceof Short
          || internal instanceof Integer
          || internal instanceof Long) {
        return ((Number) internal).longValue();
      }
      if (internal instanceof Float || internal instanceof Double) {
        double value = ((Number) internal).doubleValue();
        return value == 0.0 ? 0.0 : value;
      }
      if (internal instanceof Decimal decimal) {
        return decimal.toJavaBigDecimal();
      }
      if (internal instanceof UTF8String string) {
        return string.clone();
      }
      if (internal instanceof Boolean bool) {
        return bool;
      }
      throw new IllegalArgumentException(
          "Unexpected value " + internal + " of type " + type.simpleString());
    }

    /** The Catalyst internal value of a comparable form of a discrete type ({@link #value}). */
    Object internal(Comparable<?> value) {
      if (value == null) {
        return null;
      }
      if (type instanceof ByteType) {
        return (byte) Math.toIntExact((Long) value);
      } else if (type instanceof ShortType) {
        return (short) Math.toIntExact((Long) value);
      } else if (type instanceof IntegerType || type instanceof DateType) {
        return Math.toIntExact((Long) value);
      } else if (type instanceof DecimalType decimal) {
        return Decimal.apply((BigDecimal) value, decimal.precision(), decimal.scale());
      }
      return value;
    }

    /** The next value after {@code value}, or null past the largest value (discrete types). */
    Comparable<?> next(Comparable<?> value, int direction) {
      if (value instanceof Long number) {
        long next = number + direction;
        return (direction > 0 ? next < number : next > number) ? null : next;
      }
      BigDecimal decimal = (BigDecimal) value;
      return direction > 0 ? decimal.add(step) : decimal.subtract(step);
    }
  }

  /** One interval; a null bound is unbounded. */
  private record Interval(
      Comparable<?> lower, boolean lowerInclusive, Comparable<?> upper, boolean upperInclusive) {
    boolean isEmpty() {
      if (lower == null || upper == null) {
        return false;
      }
      int order = compare(lower, upper);
      return order > 0 || (order == 0 && !(lowerInclusive && upperInclusive));
    }

    Interval intersect(Interval other) {
      Comparable<?> newLower = lower;
      boolean newLowerInclusive = lowerInclusive;
      if (other.lower != null) {
        int order = lower == null ? -1 : compare(lower, other.lower);
        if (order < 0) {
          newLower = other.lower;
          newLowerInclusive = other.lowerInclusive;
        } else if (order == 0) {
          newLowerInclusive = lowerInclusive && other.lowerInclusive;
        }
      }
      Comparable<?> newUpper = upper;
      boolean newUpperInclusive = upperInclusive;
      if (other.upper != null) {
        int order = upper == null ? 1 : compare(upper, other.upper);
        if (order > 0) {
          newUpper = other.upper;
          newUpperInclusive = other.upperInclusive;
        } else if (order == 0) {
          newUpperInclusive = upperInclusive && other.upperInclusive;
        }
      }
      return new Interval(newLower, newLowerInclusive, newUpper, newUpperInclusive);
    }

    @Override
    public String toString() {
      return (lowerInclusive ? "[" : "(")
          + (lower == null ? "-inf" : lower)
          + ", "
          + (upper == null ? "+inf" : upper)
          + (upperInclusive ? "]" : ")");
    }
  }

  private final Domain domain;
  private final List<Interval> intervals;

  private ColumnValues(Domain domain, List<Interval> intervals) {
    this.domain = domain;
    this.intervals = intervals.stream().filter(interval -> !interval.isEmpty()).toList();
  }

  /** {@code column = value}. */
  static ColumnValues point(Domain domain, Object internal) {
    Comparable<?> value = domain.value(internal);
    return new ColumnValues(domain, List.of(new Interval(value, true, value, true)));
  }

  /** {@code column IN (values)}. */
  static ColumnValues points(Domain domain, List<Object> internals) {
    List<Interval> points = new ArrayList<>();
    for (Object internal : internals) {
      Comparable<?> value = domain.value(internal);
      points.add(new Interval(value, true, value, true));
    }
    return new ColumnValues(domain, points);
  }

  /**
   * {@code column <op> value} for {@code <}, {@code <=}, {@code >}, {@code >=}.
   *
   * @param direction -1 for below the value, +1 for above it
   */
  static ColumnValues range(Domain domain, Object internal, int direction, boolean inclusive) {
    Comparable<?> value = domain.value(internal);
    if (!inclusive && domain.step() != null) {
      value = domain.next(value, direction);
      inclusive = true;
      if (value == null) {
        return new ColumnValues(domain, List.of());
      }
    }
    Interval interval =
        direction > 0
            ? new Interval(value, inclusive, null, false)
            : new Interval(null, false, value, inclusive);
    return new ColumnValues(domain, List.of(interval));
  }

  boolean isEmpty() {
    return intervals.isEmpty();
  }

  /**
   * The values in both; if the two were built for different types (the table's schema changed in
   * between), this one, which holds every value of both.
   */
  ColumnValues intersect(ColumnValues other) {
    if (!domain.equals(other.domain)) {
      return this;
    }
    List<Interval> both = new ArrayList<>();
    for (Interval mine : intervals) {
      for (Interval theirs : other.intervals) {
        Interval common = mine.intersect(theirs);
        if (!common.isEmpty()) {
          both.add(common);
        }
      }
    }
    return new ColumnValues(domain, both);
  }

  /** The values in either; empty when the two were built for different types (any value). */
  Optional<ColumnValues> union(ColumnValues other) {
    if (!domain.equals(other.domain)) {
      return Optional.empty();
    }
    List<Interval> either = new ArrayList<>(intervals);
    either.addAll(other.intervals);
    return Optional.of(new ColumnValues(domain, either));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static int compare(Comparable<?> left, Comparable<?> right) {
    return ((Comparable) left).compareTo(right);
  }

  @Override
  public String toString() {
    return intervals.toString();
  }
}
