package io.dataharness.metadata;

/** A version (or timestamp) the table has no version for. Nothing was changed. */
public class NoSuchVersionException extends ValidationException {
  public NoSuchVersionException(String message, Object... args) {
    super(message, args);
  }
}
