package io.dataharness.metadata;

import java.util.Objects;

/**
 * One column of a harness schema. The id is stable across renames, so each source maps its own
 * columns to harness fields by id.
 *
 * @param defaultValue the column's default in {@link FieldType#canonicalValue canonical text}, or
 *     null: rows that have no value for the column (written before it was added, or Kafka messages
 *     without the field) read it, and writes that leave the column out write it
 */
public record Field(
    int id, String name, FieldType type, boolean required, String doc, String defaultValue) {
  public Field {
    if (id <= 0) {
      throw new ValidationException(
          "Invalid field id %d for field '%s': ids are positive", id, name);
    }
    Names.check("field name", name);
    Objects.requireNonNull(type, "type");
    if (defaultValue != null) {
      String canonical;
      try {
        canonical = type.canonicalValue(defaultValue);
      } catch (IllegalArgumentException e) {
        throw new ValidationException(
            "Invalid default '%s' for column '%s' of type %s: %s",
            defaultValue, name, type, e.getMessage());
      }
      if (!canonical.equals(defaultValue)) {
        throw new ValidationException(
            "Invalid default '%s' for column '%s' of type %s: not in canonical form (expected"
                + " '%s')",
            defaultValue, name, type, canonical);
      }
    }
  }

  /** A field without a default. */
  public Field(int id, String name, FieldType type, boolean required, String doc) {
    this(id, name, type, required, doc, null);
  }

  public static Field optional(int id, String name, FieldType type) {
    return new Field(id, name, type, false, null);
  }

  public static Field required(int id, String name, FieldType type) {
    return new Field(id, name, type, true, null);
  }

  /** This field with {@code canonicalDefault} (or none, when null) as its default. */
  public Field withDefault(String canonicalDefault) {
    return new Field(id, name, type, required, doc, canonicalDefault);
  }

  /** This field's default as a Java value ({@link FieldType#parseValue}), or null. */
  public Object defaultJavaValue() {
    return defaultValue == null ? null : type.parseValue(defaultValue);
  }
}
