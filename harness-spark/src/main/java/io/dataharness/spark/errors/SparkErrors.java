package io.dataharness.spark.errors;

import io.dataharness.metadata.NoSuchNamespaceException;
import io.dataharness.metadata.NoSuchTableException;
import io.dataharness.metadata.ValidationException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.AnalysisException;

/**
 * User errors as the {@link AnalysisException}s Spark raises for its own (PySpark shows {@code
 * pyspark.errors.exceptions.captured.AnalysisException}), with Spark's existing error conditions
 * and SQLSTATEs: Spark refuses a condition missing from its {@code error-conditions.json}, so each
 * one here exists in Spark 4.0 and 4.1. The harness's message (what failed, where, how to fix it)
 * stays in the Spark message where the condition's template has room for it, and the harness
 * exception is the cause:
 *
 * <ul>
 *   <li>an unknown table: {@code TABLE_OR_VIEW_NOT_FOUND} (42P01);
 *   <li>an unknown namespace: {@code SCHEMA_NOT_FOUND} (42704);
 *   <li>an unknown procedure: {@code ROUTINE_NOT_FOUND} (42883);
 *   <li>a column type the harness or a source cannot hold ({@link IncompatibleTypeException}):
 *       {@code DATATYPE_MISMATCH.TYPE_CHECK_FAILURE_WITH_HINT} (42K09), naming the column;
 *   <li>any other bad input: a bad or unknown table property, catalog option, connection setting,
 *       read option or procedure argument ({@link InvalidParameterException} names it), a version
 *       or timestamp of time travel the table does not have (Spark has no condition of its own for
 *       that; Delta's and Iceberg's are their own), a DDL change the harness refuses: {@code
 *       INVALID_PARAMETER_VALUE.PATTERN} (22023, an invalid parameter value), whose message
 *       template is the harness's message as is.
 * </ul>
 *
 * Errors that are not bad input (a service down, a conflict) stay as they are.
 */
public final class SparkErrors {
  public static final String TABLE_NOT_FOUND = "TABLE_OR_VIEW_NOT_FOUND";
  public static final String NAMESPACE_NOT_FOUND = "SCHEMA_NOT_FOUND";
  public static final String ROUTINE_NOT_FOUND = "ROUTINE_NOT_FOUND";
  public static final String INCOMPATIBLE_TYPE = "DATATYPE_MISMATCH.TYPE_CHECK_FAILURE_WITH_HINT";
  public static final String INVALID_PARAMETER = "INVALID_PARAMETER_VALUE.PATTERN";

  private SparkErrors() {}

  /**
   * The Spark error for a harness error, or {@code error} itself when it is not bad input ({@link
   * ValidationException}).
   *
   * @param function where the parameters belong, as Spark's message shows it: a statement and its
   *     table ({@code CREATE TABLE `harness`.`ns`.`t`}), a procedure, a catalog
   * @param relation the table the statement names, with its catalog ({@code harness.ns.t}), or null
   * @param parameters what the message names as invalid when the error names no parameter itself
   */
  public static RuntimeException of(
      RuntimeException error, String function, String relation, String... parameters) {
    if (!(error instanceof ValidationException)) {
      return error;
    }
    if (error instanceof NoSuchTableException && relation != null) {
      return raise(TABLE_NOT_FOUND, error, "relationName", quoted(relation));
    }
    if (error instanceof NoSuchNamespaceException && relation != null && relation.contains(".")) {
      return raise(
          NAMESPACE_NOT_FOUND,
          error,
          "schemaName",
          quoted(relation.substring(0, relation.lastIndexOf('.'))));
    }
    if (error instanceof IncompatibleTypeException type) {
      return raise(
          INCOMPATIBLE_TYPE,
          error,
          "sqlExpr",
          "\"" + type.column() + "\"",
          "msg",
          error.getMessage(),
          "hint",
          "");
    }
    String parameter =
        error instanceof InvalidParameterException invalid
            ? "`" + invalid.parameter() + "`"
            : Arrays.stream(parameters).map(p -> "`" + p + "`").collect(Collectors.joining(", "));
    return raise(
        INVALID_PARAMETER,
        error,
        "parameter",
        parameter,
        "functionName",
        function,
        "value",
        error.getMessage());
  }

  /**
   * Throws an {@link AnalysisException} of an existing condition ({@code parameters} are its
   * template's names and values, in pairs) from methods of Spark's Java interfaces that declare
   * none ({@code TableCatalog.loadTable}, {@code BoundProcedure.call}), as Spark's own Scala code
   * does; the return type lets callers write {@code throw SparkErrors.raise(...)}.
   */
  public static RuntimeException raise(String condition, Throwable cause, String... parameters) {
    Map<String, String> map = new LinkedHashMap<>();
    for (int i = 0; i < parameters.length; i += 2) {
      map.put(parameters[i], parameters[i + 1]);
    }
    return sneaky(
        new AnalysisException(
            condition,
            scala.collection.immutable.Map.from(
                scala.jdk.javaapi.CollectionConverters.asScala(map)),
            scala.Option.apply(cause)));
  }

  /** {@code `a`.`b`.`c`} as Spark quotes names in its messages. */
  public static String quoted(String name) {
    return Arrays.stream(name.split("\\."))
        .map(part -> "`" + part.replace("`", "``") + "`")
        .collect(Collectors.joining("."));
  }

  @SuppressWarnings("unchecked")
  private static <T extends Throwable> RuntimeException sneaky(Throwable error) throws T {
    throw (T) error;
  }
}
