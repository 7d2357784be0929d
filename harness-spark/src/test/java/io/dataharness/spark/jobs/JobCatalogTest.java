package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.spark.HarnessCatalog;
import io.dataharness.spark.errors.InvalidParameterException;
import io.dataharness.testing.TestingSpark;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * A misspelt catalog option is refused before the catalog opens its metadata store: in SQL as
 * Spark's AnalysisException, in a job as the harness's own error (its message, its exit code).
 */
class JobCatalogTest {
  @Test
  void aMisspeltCatalogOptionIsAnAnalysisExceptionInSqlAndTheHarnessErrorInAJob() {
    SparkSession spark = TestingSpark.shared().session();
    String name = "harness_misspelt_option";
    spark.conf().set("spark.sql.catalog." + name, HarnessCatalog.class.getName());
    spark.conf().set("spark.sql.catalog." + name + ".uri", "jdbc:h2:mem:never_opened");
    spark.conf().set("spark.sql.catalog." + name + ".pasword", "secret");

    try {
      check(spark, name);
    } finally {
      for (String key : new String[] {"", ".uri", ".pasword"}) {
        spark.conf().unset("spark.sql.catalog." + name + key);
      }
    }
  }

  private static void check(SparkSession spark, String name) {
    Throwable sql = assertThrows(Throwable.class, () -> spark.sql("SHOW NAMESPACES IN " + name));
    assertTrue(sql instanceof AnalysisException, String.valueOf(sql));
    assertEquals(
        "INVALID_PARAMETER_VALUE.PATTERN",
        ((AnalysisException) sql).getCondition(),
        sql.getMessage());

    InvalidParameterException job =
        assertThrows(InvalidParameterException.class, () -> JobArguments.catalog(spark, name));
    assertEquals("spark.sql.catalog." + name + ".pasword", job.parameter());
    assertTrue(
        job.getMessage()
            .startsWith(
                "Cannot start catalog "
                    + name
                    + ": spark.sql.catalog."
                    + name
                    + ".pasword is not an option of a harness catalog; did you mean"
                    + " spark.sql.catalog."
                    + name
                    + ".password?"),
        job.getMessage());
  }
}
