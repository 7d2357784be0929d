package io.dataharness.metadata;

/**
 * A lock presented to a commit, renew or release is no longer held by its owner with that fencing
 * token: its lease expired, or another owner took it over. Nothing was changed; acquire the lock
 * again, re-read the latest version and redo the work.
 */
public class StaleLockException extends CommitConflictException {
  public StaleLockException(String message, Object... args) {
    super(message, args);
  }
}
