package io.dataharness.spark.errors;

import io.dataharness.metadata.ValidationException;

/**
 * A column whose type the harness, or a source holding it, cannot hold. Nothing was changed. Spark
 * shows it as {@code DATATYPE_MISMATCH.TYPE_CHECK_FAILURE_WITH_HINT} naming the column ({@link
 * SparkErrors}).
 */
public class IncompatibleTypeException extends ValidationException {
  private final String column;

  public IncompatibleTypeException(String column, String message, Object... args) {
    super(message, args);
    this.column = column;
  }

  /** The harness column. */
  public String column() {
    return column;
  }
}
