package io.dataharness.spark;

import io.dataharness.spark.read.ReplaceHarnessRelations;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.SparkSessionExtensionsProvider;
import scala.runtime.BoxedUnit;

/**
 * Session extensions of DataHarness. Spark loads them through {@link java.util.ServiceLoader} when
 * a session is created with the harness jar on the classpath, so no {@code spark.sql.extensions}
 * setting is needed (listing it there too is harmless).
 */
public class HarnessExtensions implements SparkSessionExtensionsProvider {
  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    extensions.injectOptimizerRule(ReplaceHarnessRelations::new);
    return BoxedUnit.UNIT;
  }
}
