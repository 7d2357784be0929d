package io.dataharness.spark.jobs;

import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.errors.SparkErrors;

/**
 * User errors of the SQL procedures as Spark {@code AnalysisException}s ({@link SparkErrors}):
 *
 * <ul>
 *   <li>an unknown table: {@code TABLE_OR_VIEW_NOT_FOUND} (42P01), the harness message as cause;
 *   <li>an unknown procedure: {@code ROUTINE_NOT_FOUND} (42883), the harness message (the
 *       procedures there are) as cause;
 *   <li>any other bad argument (a bad value, an unknown source, a move between the wrong kinds):
 *       {@code INVALID_PARAMETER_VALUE.PATTERN} (22023), naming the argument, with the harness's
 *       message.
 * </ul>
 */
final class ProcedureErrors {
  private ProcedureErrors() {}

  /**
   * The Spark error for a harness error a procedure call raised, or {@code error} itself when it is
   * not a user error (a service down, a conflict).
   *
   * @param table the call's {@code table} argument, or null
   * @param arguments the procedure's parameter names, for an error that names no single one
   */
  static RuntimeException of(
      String catalog, String procedure, String table, String[] arguments, RuntimeException error) {
    return SparkErrors.of(
        error,
        SparkErrors.quoted(catalog + "." + HarnessProcedures.NAMESPACE + "." + procedure),
        table == null ? null : catalog + "." + table,
        arguments);
  }

  /** {@code ROUTINE_NOT_FOUND} for a procedure the catalog does not have. */
  static RuntimeException procedureNotFound(String qualifiedName, ValidationException error) {
    return SparkErrors.raise(
        SparkErrors.ROUTINE_NOT_FOUND, error, "routineName", SparkErrors.quoted(qualifiedName));
  }
}
