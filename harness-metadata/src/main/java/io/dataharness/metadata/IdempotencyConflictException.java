package io.dataharness.metadata;

/**
 * An idempotency key that already produced a version with a different change. Nothing was changed:
 * derive keys from what the commit changes, so that a retry repeats exactly the same change.
 */
public class IdempotencyConflictException extends ValidationException {
  public IdempotencyConflictException(String message, Object... args) {
    super(message, args);
  }
}
