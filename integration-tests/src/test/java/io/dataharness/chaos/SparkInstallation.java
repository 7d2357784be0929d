package io.dataharness.chaos;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

/**
 * What a user who runs DataHarness jobs with {@code spark-submit} has, taken from the test class
 * path (no Spark distribution is installed where the tests run):
 *
 * <ul>
 *   <li>the Spark "distribution": every entry of the test class path except the DataHarness modules
 *       (their classes reach a job only through the runtime jar), the jars a user adds with {@code
 *       --jars} and what the runtime jar already contains (the PostgreSQL driver, HikariCP, H2);
 *   <li>the jars a user adds with {@code --jars}: Iceberg's Spark runtime, Spark's Kafka connector
 *       with its token provider, kafka-clients and commons-pool2;
 *   <li>the harness runtime jar the reactor built, from the system property {@value
 *       #RUNTIME_JAR_PROPERTY} (integration-tests' pom sets it);
 *   <li>the user's own application jar of the append job, {@link ChaosAppendApp} alone, built by
 *       {@link #appendApplicationJar}.
 * </ul>
 */
final class SparkInstallation {
  static final String RUNTIME_JAR_PROPERTY = "harness.runtime.jar";

  /** The Maven repository paths of the jars a user adds with {@code --jars}. */
  private static final List<String> USER_JARS =
      List.of(
          "/org/apache/iceberg/iceberg-spark-runtime-",
          "/org/apache/spark/spark-sql-kafka-0-10_",
          "/org/apache/spark/spark-token-provider-kafka-0-10_",
          "/org/apache/kafka/kafka-clients/",
          "/org/apache/commons/commons-pool2/");

  /** The Maven repository paths of the jars inside the runtime jar (HikariCP and H2 relocated). */
  private static final List<String> IN_RUNTIME_JAR =
      List.of("/org/postgresql/postgresql/", "/com/zaxxer/HikariCP/", "/com/h2database/h2/");

  final Path runtimeJar;
  final List<String> distributionClassPath = new ArrayList<>();
  final List<Path> userJars = new ArrayList<>();

  private SparkInstallation(Path runtimeJar) {
    this.runtimeJar = runtimeJar;
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (entry.isBlank() || !Files.exists(Path.of(entry))) {
        continue;
      }
      String path = entry.replace(File.separatorChar, '/');
      if (isDataHarnessModule(Path.of(entry)) || IN_RUNTIME_JAR.stream().anyMatch(path::contains)) {
        continue;
      }
      if (USER_JARS.stream().anyMatch(path::contains) && !path.endsWith("-test.jar")) {
        userJars.add(Path.of(entry).toAbsolutePath());
      } else {
        distributionClassPath.add(entry);
      }
    }
    if (userJars.size() != USER_JARS.size()) {
      throw new IllegalStateException(
          "Cannot set up spark-submit for the chaos jobs: expected one jar on the test class path"
              + " for each of "
              + USER_JARS
              + " but found "
              + userJars
              + "; check integration-tests' test dependencies");
    }
  }

  /**
   * The installation of this test JVM; fails, naming the command that builds it, if the runtime jar
   * is missing.
   */
  static SparkInstallation load() {
    String configured = System.getProperty(RUNTIME_JAR_PROPERTY);
    String build =
        "build it with ./mvnw -o -B -pl integration-tests -am verify -Dtest=ChaosTest"
            + " -Dsurefire.failIfNoSpecifiedTests=false -Dnotebooks.skip=true (-am packages"
            + " harness-spark-runtime before integration-tests runs its tests)";
    if (configured == null || configured.isBlank()) {
      throw new IllegalStateException(
          "Cannot run the chaos jobs with spark-submit: system property "
              + RUNTIME_JAR_PROPERTY
              + " (the harness runtime jar) is not set; run the test through Maven, whose"
              + " integration-tests/pom.xml sets it, and "
              + build);
    }
    Path runtimeJar = Path.of(configured).toAbsolutePath().normalize();
    if (!Files.isRegularFile(runtimeJar)) {
      throw new IllegalStateException(
          "Cannot run the chaos jobs with spark-submit: the harness runtime jar "
              + runtimeJar
              + " does not exist; "
              + build);
    }
    return new SparkInstallation(runtimeJar);
  }

  /** {@code --jars} of a mover: what a user adds for Iceberg and Kafka. */
  List<Path> moverJars() {
    return List.copyOf(userJars);
  }

  /** {@code --jars} of the user's own application: the runtime jar, then the mover's jars. */
  List<Path> applicationJars() {
    List<Path> jars = new ArrayList<>();
    jars.add(runtimeJar);
    jars.addAll(userJars);
    return jars;
  }

  /**
   * Writes the append job's application jar into {@code directory}: {@link ChaosAppendApp}'s class
   * file alone, with a manifest naming it as the main class.
   */
  static Path appendApplicationJar(Path directory) {
    Class<?> app = ChaosAppendApp.class;
    String entry = app.getName().replace('.', '/') + ".class";
    Path jar = directory.resolve("chaos-append-app.jar");
    Manifest manifest = new Manifest();
    manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
    manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, app.getName());
    try (InputStream classFile = app.getClassLoader().getResourceAsStream(entry);
        OutputStream file = Files.newOutputStream(jar);
        JarOutputStream out = new JarOutputStream(file, manifest)) {
      if (classFile == null) {
        throw new IllegalStateException("Cannot find the class file " + entry + " of " + app);
      }
      out.putNextEntry(new JarEntry(entry));
      classFile.transferTo(out);
      out.closeEntry();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the append application jar " + jar, e);
    }
    return jar;
  }

  /**
   * A module of this project: a class directory holding {@code io/dataharness} (target/classes and
   * target/test-classes) or a jar holding {@code io/dataharness/} classes (a module's packaged jar,
   * which the reactor puts on the class path from {@code package} on, or an installed one).
   */
  private static boolean isDataHarnessModule(Path entry) {
    if (Files.isDirectory(entry)) {
      return Files.isDirectory(entry.resolve("io").resolve("dataharness"))
          || entry.endsWith(Path.of("integration-tests", "target", "classes"));
    }
    try (JarFile jar = new JarFile(entry.toFile())) {
      return jar.stream().anyMatch(file -> file.getName().startsWith("io/dataharness/"));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read the class path entry " + entry, e);
    }
  }
}
