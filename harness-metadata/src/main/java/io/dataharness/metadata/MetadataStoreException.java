package io.dataharness.metadata;

/**
 * The metadata store could not be reached or failed. If it happened during a commit, the commit may
 * or may not have landed: retry it with the same idempotency key, which returns the version it
 * produced if it did.
 */
public class MetadataStoreException extends HarnessException {
  public MetadataStoreException(Throwable cause, String message, Object... args) {
    super(cause, message, args);
  }
}
