package io.dataharness.metadata;

/**
 * A commit would change or remove a source covered by an open {@link Intent} of another writer (or
 * open a second intent on it). Nothing was changed. Rerun the job that opened the intent so it
 * completes (or rolls back) its batch, or, as an operator who has checked the sources, abandon it
 * with {@link Transaction#completeIntent} under the sources' locks.
 */
public class IntentPendingException extends CommitConflictException {
  private final Intent intent;

  public IntentPendingException(Intent intent, String message, Object... args) {
    super(message, args);
    this.intent = intent;
  }

  /** The open intent that refused the commit. */
  public Intent intent() {
    return intent;
  }
}
