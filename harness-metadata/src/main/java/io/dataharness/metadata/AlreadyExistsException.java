package io.dataharness.metadata;

/** A namespace, table or source that already exists. Nothing was changed. */
public class AlreadyExistsException extends ValidationException {
  public AlreadyExistsException(String message, Object... args) {
    super(message, args);
  }
}
