package io.dataharness.spark.source;

import io.dataharness.metadata.HarnessException;

/**
 * A source cannot serve what is asked of it: its system is unreachable, its topic or table is gone,
 * or it no longer retains the rows a version needs. Nothing was read or changed.
 */
public class SourceUnavailableException extends HarnessException {
  public SourceUnavailableException(String message, Object... args) {
    super(message, args);
  }

  public SourceUnavailableException(Throwable cause, String message, Object... args) {
    super(cause, message, args);
  }
}
