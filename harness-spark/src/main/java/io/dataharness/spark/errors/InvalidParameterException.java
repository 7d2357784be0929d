package io.dataharness.spark.errors;

import io.dataharness.metadata.ValidationException;

/**
 * Bad input that one named parameter holds: a table property ({@code source.a.kind}), a catalog
 * option, a connection setting, a read option, a procedure argument. Nothing was changed. Spark
 * shows it as {@code INVALID_PARAMETER_VALUE.PATTERN} naming the parameter ({@link SparkErrors}).
 */
public class InvalidParameterException extends ValidationException {
  private final String parameter;

  public InvalidParameterException(String parameter, String message, Object... args) {
    super(message, args);
    this.parameter = parameter;
  }

  /** The parameter as the user wrote it, such as {@code source.a.kind} or {@code older_than}. */
  public String parameter() {
    return parameter;
  }
}
