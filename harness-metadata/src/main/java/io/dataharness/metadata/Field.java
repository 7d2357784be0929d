package io.dataharness.metadata;

import java.util.Objects;

/**
 * One column of a harness schema. The id is stable across renames, so each source maps its own
 * columns to harness fields by id.
 */
public record Field(int id, String name, FieldType type, boolean required, String doc) {
  public Field {
    if (id <= 0) {
      throw new ValidationException(
          "Invalid field id %d for field '%s': ids are positive", id, name);
    }
    Names.check("field name", name);
    Objects.requireNonNull(type, "type");
  }

  public static Field optional(int id, String name, FieldType type) {
    return new Field(id, name, type, false, null);
  }

  public static Field required(int id, String name, FieldType type) {
    return new Field(id, name, type, true, null);
  }
}
