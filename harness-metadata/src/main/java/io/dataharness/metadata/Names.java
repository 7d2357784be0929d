package io.dataharness.metadata;

import java.util.regex.Pattern;

/** Validation of the names users choose: namespaces, tables, sources, fields, lock owners. */
final class Names {
  private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_\\-]{0,127}");

  private Names() {}

  static String check(String what, String name) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new ValidationException(
          "Invalid %s '%s': use 1 to 128 letters, digits, '_' or '-', starting with a letter or '_'",
          what, name);
    }
    return name;
  }
}
