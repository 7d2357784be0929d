package io.dataharness.metadata;

/** Bad input: a request that can never succeed as written. Nothing was changed. */
public class ValidationException extends HarnessException {
  public ValidationException(String message, Object... args) {
    super(message, args);
  }
}
