package io.dataharness.metadata;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What a schema change asks of each source's own columns, matched by field id: columns to add,
 * types to widen, columns that became optional and comments that changed. Renames and drops need
 * nothing of a source (a renamed column keeps its physical name through the source's column
 * mapping; a dropped column stays where it is, for older versions and for applications).
 */
public record SchemaDiff(
    List<Field> added, List<Field> widened, List<Field> madeOptional, List<Field> commented) {

  public SchemaDiff {
    added = List.copyOf(added);
    widened = List.copyOf(widened);
    madeOptional = List.copyOf(madeOptional);
    commented = List.copyOf(commented);
  }

  /** The differences from {@code previous} to {@code next}, each in {@code next}'s field order. */
  public static SchemaDiff between(Schema previous, Schema next) {
    List<Field> added = new ArrayList<>();
    List<Field> widened = new ArrayList<>();
    List<Field> madeOptional = new ArrayList<>();
    List<Field> commented = new ArrayList<>();
    for (Field field : next.fields()) {
      Field old = previous.field(field.id()).orElse(null);
      if (old == null) {
        added.add(field);
        continue;
      }
      if (!old.type().equals(field.type())) {
        widened.add(field);
      }
      if (old.required() && !field.required()) {
        madeOptional.add(field);
      }
      if (!Objects.equals(old.doc(), field.doc())) {
        commented.add(field);
      }
    }
    return new SchemaDiff(added, widened, madeOptional, commented);
  }

  public boolean isEmpty() {
    return added.isEmpty() && widened.isEmpty() && madeOptional.isEmpty() && commented.isEmpty();
  }
}
