package io.dataharness.metadata;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The schema changes that keep every row already written readable: add an optional column, rename,
 * widen int to long, float to double or a decimal's precision, make a column optional, drop a
 * column that no key, ordering or partition declaration uses. Anything else is refused before
 * anything changes.
 */
public final class SchemaCompatibility {
  private SchemaCompatibility() {}

  public static void check(
      TableIdentifier table, Schema current, List<Field> next, TableDefinition.Layout layout) {
    Schema proposed = new Schema(current.schemaId() + 1, next);
    Map<Integer, Field> before =
        current.fields().stream().collect(Collectors.toMap(Field::id, Function.identity()));
    for (Field field : proposed.fields()) {
      Field old = before.get(field.id());
      if (old == null) {
        if (field.id() <= current.highestFieldId()) {
          throw new ValidationException(
              "Cannot change the schema of %s: new column '%s' reuses field id %d; new columns"
                  + " take ids above %d",
              table, field.name(), field.id(), current.highestFieldId());
        }
        if (field.required()) {
          throw new ValidationException(
              "Cannot add required column '%s' to %s: rows already written have no value for"
                  + " it; add it as optional (nullable)",
              field.name(), table);
        }
        continue;
      }
      if (!old.type().canWidenTo(field.type())) {
        throw new ValidationException(
            "Cannot change column '%s' of %s from %s to %s: only int to long, float to double and"
                + " a decimal's precision can widen",
            old.name(), table, old.type(), field.type());
      }
      if (field.required() && !old.required()) {
        throw new ValidationException(
            "Cannot make column '%s' of %s required: rows already written may hold nulls",
            old.name(), table);
      }
    }
    for (Field old : current.fields()) {
      boolean kept = proposed.field(old.id()).isPresent();
      String renamed = proposed.field(old.id()).map(Field::name).orElse(null);
      if (usedByLayout(layout, old.name()) && (!kept || !old.name().equalsIgnoreCase(renamed))) {
        throw new ValidationException(
            "Cannot %s column '%s' of %s: it is part of the primary key, ordering column or"
                + " partition columns",
            kept ? "rename" : "drop", old.name(), table);
      }
    }
  }

  private static boolean usedByLayout(TableDefinition.Layout layout, String column) {
    return layout.primaryKey().stream().anyMatch(column::equalsIgnoreCase)
        || layout.partitionColumns().stream().anyMatch(column::equalsIgnoreCase)
        || column.equalsIgnoreCase(layout.orderingColumn());
  }
}
