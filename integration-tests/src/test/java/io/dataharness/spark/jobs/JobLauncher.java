package io.dataharness.spark.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.testing.TestingSpark;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkConf;
import scala.Tuple2;

/**
 * Runs a job's main class as a scheduler does: in a JVM of its own ({@code java -cp <the test class
 * path> <main class> <options>}, the same {@code java} binary and Spark {@code --add-opens} flags
 * as the test JVM), with the shared test session's harness and Iceberg catalogs passed as {@code
 * -Dspark.*} properties (SparkConf reads them) and a local master. stdout and stderr go to files of
 * their own, so stdout holds exactly what the job prints.
 */
final class JobLauncher {
  private static final ObjectMapper JSON = new ObjectMapper();

  final Process process;
  final Path stdout;
  final Path stderr;

  private JobLauncher(Process process, Path stdout, Path stderr) {
    this.process = process;
    this.stdout = stdout;
    this.stderr = stderr;
  }

  static JobLauncher start(Path directory, String mainClass, String... arguments) {
    List<String> command = new ArrayList<>();
    command.add(mainClass);
    command.addAll(List.of(arguments));
    return startWithJvmOptions(directory, command);
  }

  /**
   * Starts {@code java [flags] -cp <class path> options...}: {@code options} are extra JVM options
   * ({@code -D...}), then the main class, then its arguments.
   */
  static JobLauncher startWithJvmOptions(Path directory, List<String> options) {
    String mainClass =
        options.stream().filter(option -> !option.startsWith("-")).findFirst().orElseThrow();
    List<String> command = new ArrayList<>();
    command.add(ProcessHandle.current().info().command().orElse("java"));
    for (String argument : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (argument.startsWith("--add-")
          || argument.startsWith("--enable-native-access")
          || argument.equals("-XX:+IgnoreUnrecognizedVMOptions")
          || argument.startsWith("-Djdk.reflect.")
          || argument.startsWith("-Dio.netty.")) {
        command.add(argument);
      }
    }
    command.add("-Xmx768m");
    command.add("-XX:+UseSerialGC");
    command.add("-Djava.io.tmpdir=" + directory);
    SparkConf shared = TestingSpark.shared().session().sparkContext().getConf();
    for (Tuple2<String, String> entry : shared.getAll()) {
      String key = entry._1();
      if (key.startsWith("spark.sql.catalog.")
          || key.equals("spark.sql.extensions")
          || key.equals("spark.sql.session.timeZone")) {
        command.add("-D" + key + "=" + entry._2());
      }
    }
    Map.of(
            "spark.master", "local[2]",
            "spark.ui.enabled", "false",
            "spark.sql.shuffle.partitions", "2",
            "spark.driver.host", "localhost",
            "spark.driver.bindAddress", "127.0.0.1",
            "spark.sql.warehouse.dir", directory.resolve("warehouse").toString())
        .forEach((key, value) -> command.add("-D" + key + "=" + value));
    int main = options.indexOf(mainClass);
    command.addAll(options.subList(0, main));
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.addAll(options.subList(main, options.size()));
    try {
      Files.createDirectories(directory);
      String name = mainClass.substring(mainClass.lastIndexOf('.') + 1) + "-" + System.nanoTime();
      Path out = directory.resolve(name + ".out");
      Path err = directory.resolve(name + ".err");
      // the class path is long: pass the command through an argument file
      Path argumentFile = directory.resolve(name + ".args");
      List<String> lines = new ArrayList<>();
      for (String argument : command.subList(1, command.size())) {
        lines.add('"' + argument.replace("\\", "\\\\").replace("\"", "\\\"") + '"');
      }
      Files.write(argumentFile, lines, StandardCharsets.UTF_8);
      ProcessBuilder builder =
          new ProcessBuilder(command.get(0), "@" + argumentFile)
              .redirectOutput(out.toFile())
              .redirectError(err.toFile());
      builder.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
      return new JobLauncher(builder.start(), out, err);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot start " + mainClass, e);
    }
  }

  /** Waits for the job to end (at most 3 minutes) and returns its exit code. */
  int exitCode() throws InterruptedException {
    if (!process.waitFor(3, TimeUnit.MINUTES)) {
      process.destroyForcibly();
      throw new AssertionError("the job did not end within 3 minutes:\n" + report());
    }
    return process.exitValue();
  }

  String stdout() {
    return read(stdout);
  }

  String stderrText() {
    return read(stderr);
  }

  /** The JSON object the job printed on its last stdout line. */
  JsonNode result() throws IOException {
    String[] lines = stdout().strip().split("\n");
    return JSON.readTree(lines[lines.length - 1]);
  }

  /** stdout and the end of stderr, for assertion messages. */
  String report() {
    String err = read(stderr);
    return "stdout:\n"
        + stdout()
        + "\nstderr (end):\n"
        + err.substring(Math.max(0, err.length() - 6000));
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }
}
