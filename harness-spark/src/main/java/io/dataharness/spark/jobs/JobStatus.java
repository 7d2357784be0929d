package io.dataharness.spark.jobs;

import io.dataharness.metadata.Causes;
import io.dataharness.metadata.CommitConflictException;

/**
 * How a job run ended, as its exit code and the {@code status} of its JSON line. A scheduler tells
 * "retry later" (3) from "nothing to do" (2) from a failure (1) by the code alone.
 */
enum JobStatus {
  /** It did its work: moved rows, recorded new states, or found no error (audit). */
  DONE(0),
  /** A failure: the JSON line's {@code error} says what. */
  FAILED(1),
  /** Nothing to move (or to sync). */
  NOTHING_TO_DO(2),
  /**
   * A lock another owner holds, an open intent of another writer or a concurrent commit: a later
   * retry resolves it.
   */
  LOCK_HELD(3),
  /** A bad, unknown or missing option; nothing was started. */
  USAGE_ERROR(64);

  final int exitCode;

  JobStatus(int exitCode) {
    this.exitCode = exitCode;
  }

  /**
   * The status of a job that threw {@code failure}: {@link #LOCK_HELD} when a {@link
   * CommitConflictException} (a held lock, an open intent, a lost compare-and-set) is anywhere in
   * its cause chain (Spark may wrap it), else {@link #FAILED}.
   */
  static JobStatus of(Throwable failure) {
    return Causes.first(failure, CommitConflictException.class).isPresent() ? LOCK_HELD : FAILED;
  }

  /** The JSON line's {@code status}: {@code done} is the job's own word for {@link #DONE}. */
  String id(String done) {
    return switch (this) {
      case DONE -> done;
      case FAILED -> "failed";
      case NOTHING_TO_DO -> "nothing-to-do";
      case LOCK_HELD -> "lock-held";
      case USAGE_ERROR -> "usage-error";
    };
  }

  /** The failure on one line: each exception of the chain as {@code SimpleName: message}. */
  static String describe(Throwable failure) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
      if (text.length() > 0) {
        text.append(" <- ");
      }
      text.append(cause.getClass().getSimpleName()).append(": ").append(cause.getMessage());
      if (cause.getCause() == cause) {
        break;
      }
    }
    return text.toString().replace('\n', ' ');
  }
}
