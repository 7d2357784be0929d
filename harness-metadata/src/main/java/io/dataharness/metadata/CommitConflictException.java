package io.dataharness.metadata;

/**
 * A commit lost a race on a source it changes: the source's state is no longer the one the commit
 * expected, or another owner holds the source's lock. Nothing was changed; re-read the latest
 * version and try again (or take the lock first).
 */
public class CommitConflictException extends HarnessException {
  public CommitConflictException(String message, Object... args) {
    super(message, args);
  }
}
