package io.dataharness.metadata;

/** A namespace that does not exist. Nothing was changed. */
public class NoSuchNamespaceException extends ValidationException {
  public NoSuchNamespaceException(String message, Object... args) {
    super(message, args);
  }
}
