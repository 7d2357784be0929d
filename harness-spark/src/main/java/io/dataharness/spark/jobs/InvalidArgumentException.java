package io.dataharness.spark.jobs;

import io.dataharness.spark.errors.InvalidParameterException;

/** A bad value of one procedure argument or job option, which it names. Nothing was changed. */
final class InvalidArgumentException extends InvalidParameterException {
  InvalidArgumentException(String argument, String message, Object... args) {
    super(
        (argument.startsWith("--") ? argument.substring(2) : argument).replace('-', '_'),
        message,
        args);
  }
}
