package io.dataharness.metadata;

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

  @Override
  public String toString() {
    return name;
  }
}
