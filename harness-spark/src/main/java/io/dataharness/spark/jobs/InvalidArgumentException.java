package io.dataharness.spark.jobs;

import io.dataharness.metadata.ValidationException;

/** A bad value of one procedure argument or job option, which it names. Nothing was changed. */
final class InvalidArgumentException extends ValidationException {
  private final String argument;

  InvalidArgumentException(String argument, String message, Object... args) {
    super(message, args);
    this.argument = argument.startsWith("--") ? argument.substring(2) : argument;
  }

  /** The argument as the procedure names it, such as {@code older_than}. */
  String argument() {
    return argument.replace('-', '_');
  }
}
