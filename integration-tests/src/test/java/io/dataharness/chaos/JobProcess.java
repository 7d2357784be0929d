package io.dataharness.chaos;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One job run as a separate JVM, the way {@code spark-submit} runs it: the same {@code java} binary
 * as the test, the test class path, Spark's {@code --add-opens} flags, the Spark configuration as
 * {@code -Dspark.*} properties, main class {@link ChaosJobMain}. Its output goes to a log file of
 * its own.
 */
final class JobProcess {
  private static final Pattern MOVED = Pattern.compile("Moved (\\d+) rows");
  private static final String WORK_STARTED = "DataHarness catalog harness on";

  final String name;
  final Path log;
  final long startedNanos = System.nanoTime();
  private final Process process;
  private volatile boolean killed;

  private JobProcess(String name, Path log, Process process) {
    this.name = name;
    this.log = log;
    this.process = process;
  }

  static JobProcess start(
      String name, Path directory, Map<String, String> sparkConf, List<String> arguments) {
    List<String> jvm = new ArrayList<>(jvmFlags());
    jvm.add("-Xmx1g");
    jvm.add("-XX:+UseSerialGC");
    jvm.add("-Djava.io.tmpdir=" + directory.resolve("tmp"));
    sparkConf.forEach((key, value) -> jvm.add("-D" + key + "=" + value));
    jvm.add("-cp");
    jvm.add(System.getProperty("java.class.path"));
    jvm.add(ChaosJobMain.class.getName());
    jvm.addAll(arguments);
    try {
      Files.createDirectories(directory.resolve("tmp"));
      Path argumentFile = directory.resolve(name + ".args");
      List<String> lines = new ArrayList<>();
      for (String argument : jvm) {
        lines.add('"' + argument.replace("\\", "\\\\").replace("\"", "\\\"") + '"');
      }
      Files.write(argumentFile, lines, StandardCharsets.UTF_8);
      Path log = directory.resolve(name + ".log");
      String java = ProcessHandle.current().info().command().orElse("java");
      ProcessBuilder builder =
          new ProcessBuilder(java, "@" + argumentFile)
              .redirectErrorStream(true)
              .redirectOutput(log.toFile());
      builder.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
      Process process = builder.start();
      return new JobProcess(name, log, process);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot start job process " + name, e);
    }
  }

  /** Flags of the job JVMs: {@code chaos.jvm.flags}, else the test JVM's own Spark flags. */
  private static List<String> jvmFlags() {
    String configured = System.getProperty("chaos.jvm.flags");
    if (configured != null && !configured.isBlank()) {
      return List.of(configured.trim().split("\\s+"));
    }
    List<String> flags = new ArrayList<>();
    for (String argument : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (argument.startsWith("--add-")
          || argument.startsWith("--enable-native-access")
          || argument.equals("-XX:+IgnoreUnrecognizedVMOptions")
          || argument.startsWith("-Djdk.reflect.")
          || argument.startsWith("-Dio.netty.")) {
        flags.add(argument);
      }
    }
    return flags;
  }

  /**
   * Waits until the job's Spark session is up and it starts its work (it logs that its harness
   * catalog opened) or the process ends; returns when that happened, or -1 if it ended first.
   */
  long awaitWorkStarted() throws InterruptedException {
    while (process.isAlive()) {
      if (output().contains(WORK_STARTED)) {
        return System.nanoTime();
      }
      Thread.sleep(100);
    }
    return -1;
  }

  /** Waits until the process ends or the timeout passes; true if it ended. */
  boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException {
    return process.waitFor(timeout, unit);
  }

  boolean isAlive() {
    return process.isAlive();
  }

  /** SIGKILL on Linux: no shutdown hook, no finally block, no lock release runs. */
  void kill() throws InterruptedException {
    killed = true;
    process.destroyForcibly();
    process.waitFor();
  }

  boolean killed() {
    return killed;
  }

  int exitValue() {
    return process.exitValue();
  }

  long elapsedMillis() {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos);
  }

  /** The rows a move reported, if it printed its result. */
  Optional<Long> rowsMoved() {
    Matcher matcher = MOVED.matcher(output());
    return matcher.find() ? Optional.of(Long.parseLong(matcher.group(1))) : Optional.empty();
  }

  /** The failure the job printed last ({@code CHAOS-ERROR ...}), or a note that it printed none. */
  String error() {
    String output = output();
    int at = output.lastIndexOf(ChaosJobMain.ERROR_PREFIX);
    if (at < 0) {
      return "no error printed (exit " + (process.isAlive() ? "-" : process.exitValue()) + ")";
    }
    int end = output.indexOf('\n', at);
    return output.substring(
        at + ChaosJobMain.ERROR_PREFIX.length(), end < 0 ? output.length() : end);
  }

  private String output() {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }
}
