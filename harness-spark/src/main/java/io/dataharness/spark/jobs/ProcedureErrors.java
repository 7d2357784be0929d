package io.dataharness.spark.jobs;

import io.dataharness.metadata.NoSuchTableException;
import io.dataharness.metadata.ValidationException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.AnalysisException;

/**
 * User errors of the SQL procedures as the {@link AnalysisException}s Spark raises for its own
 * (PySpark shows {@code pyspark.errors.exceptions.captured.AnalysisException}), with Spark's
 * existing error conditions and SQLSTATEs (Spark refuses conditions missing from its {@code
 * error-conditions.json}), keeping the harness's message:
 *
 * <ul>
 *   <li>an unknown table: {@code TABLE_OR_VIEW_NOT_FOUND} (42P01), the harness message as cause;
 *   <li>an unknown procedure: {@code ROUTINE_NOT_FOUND} (42883), the harness message (the
 *       procedures there are) as cause;
 *   <li>any other bad argument (a bad value, an unknown source, a move between the wrong kinds):
 *       {@code INVALID_PARAMETER_VALUE.PATTERN} (22023, the SQLSTATE of an invalid parameter value;
 *       its message template is the harness's message as is).
 * </ul>
 */
final class ProcedureErrors {
  static final String TABLE_NOT_FOUND = "TABLE_OR_VIEW_NOT_FOUND";
  static final String PROCEDURE_NOT_FOUND = "ROUTINE_NOT_FOUND";
  static final String INVALID_ARGUMENT = "INVALID_PARAMETER_VALUE.PATTERN";

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
    if (error instanceof NoSuchTableException) {
      return sneaky(
          new AnalysisException(
              TABLE_NOT_FOUND,
              parameters("relationName", quoted(catalog + "." + table)),
              scala.Option.apply(error)));
    }
    if (error instanceof ValidationException) {
      String argument =
          error instanceof InvalidArgumentException invalid
              ? "`" + invalid.argument() + "`"
              : Arrays.stream(arguments).map(a -> "`" + a + "`").collect(Collectors.joining(", "));
      return sneaky(
          new AnalysisException(
              INVALID_ARGUMENT,
              parameters(
                  "parameter",
                  argument,
                  "functionName",
                  quoted(catalog + "." + HarnessProcedures.NAMESPACE + "." + procedure),
                  "value",
                  error.getMessage()),
              scala.Option.apply(error)));
    }
    return error;
  }

  /** {@code ROUTINE_NOT_FOUND} for a procedure the catalog does not have. */
  static RuntimeException procedureNotFound(String qualifiedName, ValidationException error) {
    return sneaky(
        new AnalysisException(
            PROCEDURE_NOT_FOUND,
            parameters("routineName", quoted(qualifiedName)),
            scala.Option.apply(error)));
  }

  /** {@code `a`.`b`.`c`} as Spark quotes names in its messages. */
  private static String quoted(String name) {
    return Arrays.stream(name.split("\\."))
        .map(part -> "`" + part.replace("`", "``") + "`")
        .collect(Collectors.joining("."));
  }

  private static scala.collection.immutable.Map<String, String> parameters(String... pairs) {
    Map<String, String> map = new LinkedHashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      map.put(pairs[i], pairs[i + 1]);
    }
    return scala.collection.immutable.Map.from(scala.jdk.javaapi.CollectionConverters.asScala(map));
  }

  /**
   * Throws a checked {@link AnalysisException} from methods of Spark's Java interfaces that declare
   * none ({@code BoundProcedure.call}, {@code ProcedureCatalog.loadProcedure}), as Spark's own
   * Scala code does.
   */
  @SuppressWarnings("unchecked")
  private static <T extends Throwable> RuntimeException sneaky(Throwable error) throws T {
    throw (T) error;
  }
}
