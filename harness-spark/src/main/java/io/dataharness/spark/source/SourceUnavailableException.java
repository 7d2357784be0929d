package io.dataharness.spark.source;

import io.dataharness.metadata.HarnessException;

/**
 * A source can no longer serve the state a version needs (Kafka retention deleted offsets, an
 * Iceberg snapshot expired, a table is gone). The scan fails rather than return fewer rows.
 */
public class SourceUnavailableException extends HarnessException {
  public SourceUnavailableException(String message, Object... args) {
    super(message, args);
  }

  public SourceUnavailableException(Throwable cause, String message, Object... args) {
    super(cause, message, args);
  }
}
