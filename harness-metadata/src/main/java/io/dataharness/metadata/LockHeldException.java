package io.dataharness.metadata;

/** A lock that another owner holds with an unexpired lease. Try again after it expires. */
public class LockHeldException extends CommitConflictException {
  private final SourceLock holder;

  public LockHeldException(SourceLock holder, String message, Object... args) {
    super(message, args);
    this.holder = holder;
  }

  /** The lock as it is held now. */
  public SourceLock holder() {
    return holder;
  }
}
