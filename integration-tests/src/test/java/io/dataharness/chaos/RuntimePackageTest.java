package io.dataharness.chaos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.Tuple2;

/**
 * The runtime jar installs like Iceberg's: named for its Spark and Scala versions, with a pom that
 * lists nothing it contains, so that {@code spark-submit --packages
 * io.dataharness:harness-spark-runtime-4.1_2.13:<version>} fetches it from a Maven repository (the
 * local one {@code ./mvnw install} fills, here a copy of what install writes) and runs a harness
 * job with no DataHarness class on the class path otherwise.
 */
class RuntimePackageTest {
  private static final String ARTIFACT = "harness-spark-runtime-4.1_2.13";

  @Test
  void sparkSubmitWithPackagesFetchesTheRuntimeJarAndRunsAJob(@TempDir Path directory)
      throws Exception {
    SparkInstallation installation = SparkInstallation.load();
    String jar = installation.runtimeJar.getFileName().toString();
    assertTrue(jar.startsWith(ARTIFACT + "-") && jar.endsWith(".jar"), jar);
    String version = jar.substring(ARTIFACT.length() + 1, jar.length() - ".jar".length());
    // what ./mvnw install writes into the local repository for the runtime jar and its parent pom
    Path repository = directory.resolve("repository");
    Path reducedPom = installation.runtimeJar.resolveSibling("dependency-reduced-pom.xml");
    install(repository, ARTIFACT, version, reducedPom, installation.runtimeJar);
    Path rootPom = installation.runtimeJar.getParent().getParent().resolveSibling("pom.xml");
    install(repository, "dataharness-parent", version, rootPom, null);
    // that copy first, then the local repository the build filled (the parent pom imports BOMs)
    Path localRepository =
        Path.of(
            System.getProperty(
                "maven.repo.local", System.getProperty("user.home") + "/.m2/repository"));
    Path settings = directory.resolve("ivysettings.xml");
    Files.writeString(
        settings,
        "<ivysettings><settings defaultResolver=\"maven\"/><resolvers><chain name=\"maven\">"
            + "<ibiblio name=\"installed\" m2compatible=\"true\" root=\""
            + repository.toUri()
            + "\"/><ibiblio name=\"local\" m2compatible=\"true\" root=\""
            + localRepository.toUri()
            + "\"/></chain></resolvers></ivysettings>");

    // a harness table over a PostgreSQL table an application writes to
    SparkSession spark = TestingSpark.shared().session();
    String namespace = "packages_" + UUID.randomUUID().toString().substring(0, 8);
    String pgTable = "public." + namespace;
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE harness."
            + namespace
            + ".events (id BIGINT NOT NULL, message STRING) TBLPROPERTIES ("
            + "'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + pgTable
            + "')");
    try (Connection connection = TestingSpark.shared().sourceDatabase().connect();
        Statement statement = connection.createStatement()) {
      statement.execute("INSERT INTO " + pgTable + " (id, message) VALUES (1, 'a'), (2, 'b')");
    }
    String select = "SELECT id FROM harness." + namespace + ".events ORDER BY id";
    assertEquals(List.of(), ids(spark, select)); // visible once a version records them

    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("spark.master", "local[1]");
    conf.put("spark.ui.enabled", "false");
    conf.put("spark.driver.host", "localhost");
    conf.put("spark.driver.bindAddress", "127.0.0.1");
    conf.put("spark.sql.warehouse.dir", directory.resolve("warehouse").toString());
    for (Tuple2<String, String> entry : spark.sparkContext().getConf().getAll()) {
      if (entry._1().startsWith("spark.sql.catalog.")
          || entry._1().equals("spark.sql.extensions")
          || entry._1().equals("spark.sql.session.timeZone")) {
        conf.put(entry._1(), entry._2());
      }
    }
    conf.put("spark.jars.packages", "io.dataharness:" + ARTIFACT + ":" + version);
    conf.put("spark.jars.ivySettings", settings.toString());
    conf.put("spark.jars.ivy", directory.resolve("ivy").toString());
    // the job's class comes from the fetched jar alone ("spark-internal": no application jar)
    JobProcess sync =
        JobProcess.start(
            "packages-sync",
            directory,
            installation,
            conf,
            new JobProcess.Submission(
                "io.dataharness.spark.jobs.SyncJob",
                Path.of("spark-internal"),
                installation.moverJars(),
                List.of("--table", namespace + ".events")));
    assertTrue(sync.waitFor(5, TimeUnit.MINUTES), "the sync job did not end in 5 minutes");
    String log = Files.readString(sync.log);
    assertEquals(0, sync.exitValue(), log);
    assertTrue(
        log.contains(ARTIFACT + "-" + version + ".jar")
            || log.contains("io.dataharness#" + ARTIFACT + ";" + version),
        "spark-submit did not resolve the runtime jar through --packages:\n" + log);
    assertEquals(List.of(1L, 2L), ids(spark, select));
  }

  private static List<Long> ids(SparkSession spark, String sql) {
    return spark.sql(sql).collectAsList().stream().map((Row row) -> row.getLong(0)).toList();
  }

  /** Copies a pom (and a jar) where a Maven repository keeps {@code io.dataharness:artifact}. */
  private static void install(Path repository, String artifact, String version, Path pom, Path jar)
      throws Exception {
    Path directory = repository.resolve("io/dataharness").resolve(artifact).resolve(version);
    Files.createDirectories(directory);
    Files.copy(pom, directory.resolve(artifact + "-" + version + ".pom"));
    if (jar != null) {
      Files.copy(jar, directory.resolve(artifact + "-" + version + ".jar"));
    }
  }
}
