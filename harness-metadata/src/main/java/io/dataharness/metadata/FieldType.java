package io.dataharness.metadata;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A harness field's type, by name: {@code boolean}, {@code int}, {@code long}, {@code float},
 * {@code double}, {@code string}, {@code binary}, {@code date}, {@code timestamp} (with time zone),
 * {@code timestamp_ntz}, or {@code decimal(precision, scale)}.
 */
public record FieldType(String name) {
  private static final Set<String> PRIMITIVES =
      Set.of(
          "boolean",
          "int",
          "long",
          "float",
          "double",
          "string",
          "binary",
          "date",
          "timestamp",
          "timestamp_ntz");
  private static final Pattern DECIMAL = Pattern.compile("decimal\\((\\d+),\\s*(\\d+)\\)");

  public static final FieldType BOOLEAN = new FieldType("boolean");
  public static final FieldType INT = new FieldType("int");
  public static final FieldType LONG = new FieldType("long");
  public static final FieldType FLOAT = new FieldType("float");
  public static final FieldType DOUBLE = new FieldType("double");
  public static final FieldType STRING = new FieldType("string");
  public static final FieldType BINARY = new FieldType("binary");
  public static final FieldType DATE = new FieldType("date");
  public static final FieldType TIMESTAMP = new FieldType("timestamp");
  public static final FieldType TIMESTAMP_NTZ = new FieldType("timestamp_ntz");

  public FieldType {
    name = name == null ? null : name.trim().toLowerCase(Locale.ROOT).replace(" ", "");
    if (name == null || !(PRIMITIVES.contains(name) || DECIMAL.matcher(name).matches())) {
      throw new ValidationException(
          "Unsupported field type '%s': use one of %s or decimal(precision,scale)",
          name, String.join(", ", PRIMITIVES.stream().sorted().toList()));
    }
  }

  public static FieldType decimal(int precision, int scale) {
    return new FieldType("decimal(" + precision + "," + scale + ")");
  }

  public boolean isDecimal() {
    return name.startsWith("decimal");
  }

  public int precision() {
    return decimalPart(1);
  }

  public int scale() {
    return decimalPart(2);
  }

  private int decimalPart(int group) {
    Matcher matcher = DECIMAL.matcher(name);
    if (!matcher.matches()) {
      throw new IllegalStateException(name + " is not a decimal type");
    }
    return Integer.parseInt(matcher.group(group));
  }

  /**
   * Whether values of this type can be read as {@code wider} without loss: the same type, int to
   * long, float to double, or a decimal with the same scale and a larger precision.
   */
  public boolean canWidenTo(FieldType wider) {
    if (equals(wider)) {
      return true;
    }
    if (isDecimal() && wider.isDecimal()) {
      return scale() == wider.scale() && precision() <= wider.precision();
    }
    return (this.equals(INT) && wider.equals(LONG)) || (this.equals(FLOAT) && wider.equals(DOUBLE));
  }

  /**
   * Parses the canonical text of a value of this type (as {@link #formatValue} writes it): {@code
   * true}/{@code false}; integers in decimal; floats as Java prints them (also {@code NaN}, {@code
   * Infinity}, {@code -Infinity}); decimals with exactly the type's scale; strings as they are;
   * binary as base64; dates as {@code 2026-12-01}; timestamps as an ISO-8601 instant ({@code
   * 2026-12-01T10:15:30Z}); timestamp_ntz as an ISO-8601 local date-time.
   *
   * @return a Boolean, Integer, Long, Float, Double, BigDecimal, String, byte[], LocalDate, Instant
   *     or LocalDateTime
   * @throws IllegalArgumentException if the text is no value of this type
   */
  public Object parseValue(String text) {
    if (text == null) {
      throw new IllegalArgumentException("no value");
    }
    try {
      if (isDecimal()) {
        BigDecimal value = new BigDecimal(text.trim());
        BigDecimal scaled;
        try {
          scaled = value.setScale(scale(), RoundingMode.UNNECESSARY);
        } catch (ArithmeticException e) {
          throw new IllegalArgumentException(
              "value " + text + " has more than " + scale() + " digits after the point");
        }
        if (scaled.precision() - scaled.scale() > precision() - scale()) {
          throw new IllegalArgumentException("value " + text + " does not fit " + name);
        }
        return scaled;
      }
      return switch (name) {
        case "boolean" -> {
          String lower = text.trim().toLowerCase(Locale.ROOT);
          if (!lower.equals("true") && !lower.equals("false")) {
            throw new IllegalArgumentException("expected true or false");
          }
          yield Boolean.valueOf(lower);
        }
        case "int" -> Integer.valueOf(text.trim());
        case "long" -> Long.valueOf(text.trim());
        case "float" -> {
          float value = Float.parseFloat(text.trim());
          if (Float.isInfinite(value) && !text.trim().endsWith("Infinity")) {
            throw new IllegalArgumentException("value " + text + " does not fit a float");
          }
          yield value;
        }
        case "double" -> {
          double value = Double.parseDouble(text.trim());
          if (Double.isInfinite(value) && !text.trim().endsWith("Infinity")) {
            throw new IllegalArgumentException("value " + text + " does not fit a double");
          }
          yield value;
        }
        case "string" -> text;
        case "binary" -> Base64.getDecoder().decode(text.trim());
        case "date" -> LocalDate.parse(text.trim());
        case "timestamp" -> Instant.parse(text.trim());
        case "timestamp_ntz" -> LocalDateTime.parse(text.trim());
        default -> throw new IllegalStateException("Unknown field type " + name);
      };
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  /** The canonical text of {@code value} ({@link #parseValue} of it returns an equal value). */
  public String formatValue(Object value) {
    if (value instanceof BigDecimal decimal) {
      return decimal.setScale(scale(), RoundingMode.UNNECESSARY).toPlainString();
    }
    if (value instanceof byte[] bytes) {
      return Base64.getEncoder().encodeToString(bytes);
    }
    return String.valueOf(value);
  }

  /** The canonical text of the value {@code text} denotes ({@link #parseValue}). */
  public String canonicalValue(String text) {
    return formatValue(parseValue(text));
  }

  @Override
  public String toString() {
    return name;
  }
}
