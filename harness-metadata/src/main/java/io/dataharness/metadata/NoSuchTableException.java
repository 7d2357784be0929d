package io.dataharness.metadata;

/** A table that does not exist (or was dropped). Nothing was changed. */
public class NoSuchTableException extends ValidationException {
  public NoSuchTableException(String message, Object... args) {
    super(message, args);
  }
}
