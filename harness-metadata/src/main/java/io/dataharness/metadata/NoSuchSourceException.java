package io.dataharness.metadata;

/** A source id that the table does not have. Nothing was changed. */
public class NoSuchSourceException extends ValidationException {
  public NoSuchSourceException(String message, Object... args) {
    super(message, args);
  }
}
