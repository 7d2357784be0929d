package io.dataharness.spark.read;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Converts JSON values to Spark's internal values of harness column types. Numbers must be JSON
 * numbers (decimals may also be strings); dates and timestamps are ISO-8601 strings (timestamps
 * without offset are in the session time zone; a number is seconds since the epoch); binary is
 * base64.
 */
final class JsonValues {
  private JsonValues() {}

  /** A JSON value that does not fit its column's type. */
  static final class MismatchException extends Exception {
    MismatchException(String message) {
      super(message);
    }
  }

  static Object convert(JsonNode node, DataType type, ZoneId sessionZone) throws MismatchException {
    if (node == null || node.isNull() || node.isMissingNode()) {
      return null;
    }
    try {
      if (type instanceof IntegerType) {
        if (node.isIntegralNumber() && node.canConvertToInt()) {
          return node.intValue();
        }
      } else if (type instanceof LongType) {
        if (node.isIntegralNumber() && node.canConvertToLong()) {
          return node.longValue();
        }
      } else if (type instanceof FloatType) {
        if (node.isNumber()) {
          return node.floatValue();
        } else if (node.isTextual()) {
          return Float.parseFloat(special(node.textValue()));
        }
      } else if (type instanceof DoubleType) {
        if (node.isNumber()) {
          return node.doubleValue();
        } else if (node.isTextual()) {
          return Double.parseDouble(special(node.textValue()));
        }
      } else if (type instanceof DecimalType decimalType) {
        BigDecimal value =
            node.isNumber()
                ? node.decimalValue()
                : node.isTextual() ? new BigDecimal(node.textValue().trim()) : null;
        if (value != null) {
          Decimal decimal = Decimal.apply(value);
          if (decimal.changePrecision(decimalType.precision(), decimalType.scale())) {
            return decimal;
          }
          throw new MismatchException(
              "value " + value + " does not fit " + decimalType.simpleString());
        }
      } else if (type instanceof StringType) {
        return UTF8String.fromString(node.isTextual() ? node.textValue() : node.toString());
      } else if (type instanceof BooleanType) {
        if (node.isBoolean()) {
          return node.booleanValue();
        }
      } else if (type instanceof DateType) {
        if (node.isTextual()) {
          return (int) LocalDate.parse(node.textValue().trim()).toEpochDay();
        }
      } else if (type instanceof TimestampType) {
        if (node.isNumber()) {
          return node.decimalValue().movePointRight(6).longValueExact();
        } else if (node.isTextual()) {
          return timestampMicros(node.textValue(), sessionZone);
        }
      } else if (type instanceof TimestampNTZType) {
        if (node.isTextual()) {
          return micros(localDateTime(node.textValue()).toInstant(ZoneOffset.UTC));
        }
      } else if (type instanceof BinaryType) {
        if (node.isTextual()) {
          return Base64.getDecoder().decode(node.textValue());
        }
      }
    } catch (DateTimeParseException | IllegalArgumentException | ArithmeticException e) {
      throw new MismatchException(
          "cannot read " + shorten(node) + " as " + type.simpleString() + ": " + e.getMessage());
    }
    throw new MismatchException("cannot read " + shorten(node) + " as " + type.simpleString());
  }

  static long micros(Instant instant) {
    return Math.addExact(
        Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1_000);
  }

  private static long timestampMicros(String text, ZoneId sessionZone) {
    String trimmed = text.trim().replace(' ', 'T');
    try {
      return micros(OffsetDateTime.parse(trimmed).toInstant());
    } catch (DateTimeParseException withoutOffset) {
      return micros(LocalDateTime.parse(trimmed).atZone(sessionZone).toInstant());
    }
  }

  private static LocalDateTime localDateTime(String text) {
    return LocalDateTime.parse(text.trim().replace(' ', 'T'));
  }

  private static String special(String text) {
    String trimmed = text.trim();
    if (!trimmed.equals("NaN") && !trimmed.endsWith("Infinity")) {
      throw new NumberFormatException("not a number: \"" + text + "\"");
    }
    return trimmed;
  }

  private static String shorten(JsonNode node) {
    String text = node.toString();
    return text.length() > 60 ? text.substring(0, 57) + "..." : text;
  }
}
