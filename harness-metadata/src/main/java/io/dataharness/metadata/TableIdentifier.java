package io.dataharness.metadata;

import java.util.Objects;

/** A harness table's name: {@code namespace.name}. */
public record TableIdentifier(String namespace, String name) {
  public TableIdentifier {
    Names.check("namespace", namespace);
    Names.check("table name", name);
  }

  public static TableIdentifier of(String namespace, String name) {
    return new TableIdentifier(namespace, name);
  }

  /** Parses {@code namespace.name}. */
  public static TableIdentifier parse(String qualified) {
    Objects.requireNonNull(qualified, "table name");
    int dot = qualified.lastIndexOf('.');
    if (dot <= 0 || dot == qualified.length() - 1) {
      throw new ValidationException(
          "Cannot parse table name '%s': expected namespace.name, for example logs.events",
          qualified);
    }
    return new TableIdentifier(qualified.substring(0, dot), qualified.substring(dot + 1));
  }

  @Override
  public String toString() {
    return namespace + "." + name;
  }
}
