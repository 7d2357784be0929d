package io.dataharness.metadata;

import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * A harness table schema: its id within the table and its fields. Schemas are immutable; a schema
 * change commits a new schema id.
 */
public record Schema(int schemaId, List<Field> fields) {
  public Schema {
    fields = List.copyOf(fields);
    if (fields.isEmpty()) {
      throw new ValidationException(
          "Invalid schema %d: a table needs at least one column", schemaId);
    }
    Set<Integer> ids = new HashSet<>();
    Set<String> names = new HashSet<>();
    for (Field field : fields) {
      if (!ids.add(field.id())) {
        throw new ValidationException(
            "Invalid schema %d: field id %d is used twice", schemaId, field.id());
      }
      if (!names.add(field.name().toLowerCase(Locale.ROOT))) {
        throw new ValidationException(
            "Invalid schema %d: column '%s' is declared twice", schemaId, field.name());
      }
    }
  }

  /** A first schema: ids assigned 1..n in order. */
  public static Schema of(Field... fields) {
    return new Schema(0, List.of(fields));
  }

  public Schema withSchemaId(int newSchemaId) {
    return new Schema(newSchemaId, fields);
  }

  public Optional<Field> field(String name) {
    return fields.stream().filter(field -> field.name().equalsIgnoreCase(name)).findFirst();
  }

  public Optional<Field> field(int id) {
    return fields.stream().filter(field -> field.id() == id).findFirst();
  }

  public int highestFieldId() {
    return fields.stream().mapToInt(Field::id).max().orElse(0);
  }
}
