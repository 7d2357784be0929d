package io.dataharness.chaos;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.metadata.LockHeldException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * One job run as {@code spark-submit} runs it: a JVM (the same {@code java} binary as the test)
 * with the Spark distribution's class path ({@link SparkInstallation}), Spark's {@code --add-opens}
 * flags and main class {@code org.apache.spark.deploy.SparkSubmit}, which is what the {@code
 * spark-submit} script starts; in client mode with a local master that JVM is the driver, so
 * killing it kills the job. The Spark configuration goes through {@code --master}, {@code --name}
 * and {@code --conf}, the application through {@code --jars}, {@code --class}, its jar and its
 * arguments ({@link Submission}). Its output goes to a log file of its own.
 *
 * <p>A move job ends with its exit code (0 moved, 2 nothing to do, 3 lock held or conflict, 1
 * failed) and a last JSON line whose {@code error} says why it did not move. The append
 * application's exception is in its output instead ({@code Exception in thread "main" ...}, printed
 * by the JVM as spark-submit lets it through). {@link #error} reads either and {@link #lockHeld}
 * tells whether the job was refused by a lock (exit 3, or a {@link LockHeldException}).
 */
final class JobProcess {
  /** The JSON line MoveJob.main prints last. */
  private static final Pattern MOVE_RESULT = Pattern.compile("(?m)^\\{\"job\":\"move\".*$");

  /** Exit code of a move refused by a held lock, an open intent or a conflict (JobStatus). */
  static final int LOCK_HELD_EXIT = 3;

  /** Exit code of a move that found nothing to move. */
  static final int NOTHING_TO_DO_EXIT = 2;

  /** The line ChaosAppendApp.main prints last. */
  private static final String APPENDED = "\nAppended ids [";

  private static final String WORK_STARTED = "DataHarness catalog harness on";
  private static final String UNCAUGHT = "Exception in thread \"main\" ";
  private static final Pattern QUALIFIED = Pattern.compile("^(?:[a-z_][\\w$]*\\.)+(?=[A-Z])");

  /**
   * What {@code spark-submit} is asked to run: {@code --jars jars --class mainClass applicationJar
   * arguments}.
   */
  record Submission(
      String mainClass, Path applicationJar, List<Path> jars, List<String> arguments) {}

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
      String name,
      Path directory,
      SparkInstallation spark,
      Map<String, String> sparkConf,
      Submission submission) {
    List<String> command = new ArrayList<>(jvmFlags());
    // what spark-submit's --driver-memory and --driver-java-options set in client mode
    command.add("-Xmx1g");
    command.add("-XX:+UseSerialGC");
    command.add("-Djava.io.tmpdir=" + directory.resolve("tmp"));
    command.add("-cp");
    command.add(String.join(java.io.File.pathSeparator, spark.distributionClassPath));
    command.add("org.apache.spark.deploy.SparkSubmit");
    command.add("--verbose");
    Map<String, String> conf = new LinkedHashMap<>(sparkConf);
    String master = conf.remove("spark.master");
    if (master != null) {
      command.add("--master");
      command.add(master);
    }
    String appName = conf.remove("spark.app.name");
    if (appName != null) {
      command.add("--name");
      command.add(appName);
    }
    conf.forEach(
        (key, value) -> {
          command.add("--conf");
          command.add(key + "=" + value);
        });
    command.add("--jars");
    command.add(submission.jars().stream().map(Path::toString).collect(Collectors.joining(",")));
    command.add("--class");
    command.add(submission.mainClass());
    command.add(submission.applicationJar().toString());
    command.addAll(submission.arguments());
    try {
      Files.createDirectories(directory.resolve("tmp"));
      Path argumentFile = directory.resolve(name + ".args");
      List<String> lines = new ArrayList<>();
      for (String argument : command) {
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
    return moveResult().map(json -> json.get("rows_moved").asLong());
  }

  /** The JSON line a move job printed last, if it printed one. */
  private Optional<JsonNode> moveResult() {
    Matcher matcher = MOVE_RESULT.matcher(output());
    String last = null;
    while (matcher.find()) {
      last = matcher.group();
    }
    if (last == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(new ObjectMapper().readTree(last));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /**
   * Whether the job's main method has returned (it printed its result: the move's JSON line or
   * {@code Appended ...}) or thrown (the JVM printed the exception), so what still runs is Spark's
   * shutdown.
   */
  boolean mainEnded() {
    String output = output();
    return output.contains(UNCAUGHT)
        || MOVE_RESULT.matcher(output).find()
        || output.contains(APPENDED);
  }

  /** Whether the job failed because another owner holds a lock it needs. */
  boolean lockHeld() {
    if (!process.isAlive() && process.exitValue() == LOCK_HELD_EXIT && moveResult().isPresent()) {
      return true;
    }
    return uncaught().stream()
        .anyMatch(exception -> exception.startsWith(LockHeldException.class.getName() + ":"));
  }

  /**
   * The exception the job's main method ended with, on one line: each exception of the chain as
   * {@code SimpleName: message}, joined by {@code " <- "}; or a note that it printed none.
   */
  String error() {
    Optional<String> reported =
        moveResult()
            .map(json -> json.get("error"))
            .filter(error -> error != null && !error.isNull())
            .map(JsonNode::asText);
    if (reported.isPresent()) {
      return reported.get();
    }
    List<String> uncaught = uncaught();
    if (uncaught.isEmpty()) {
      return "no exception printed (exit " + (process.isAlive() ? "-" : process.exitValue()) + ")";
    }
    return uncaught.stream()
        .map(exception -> QUALIFIED.matcher(exception).replaceFirst(""))
        .collect(Collectors.joining(" <- "));
  }

  /**
   * The exception chain the JVM printed for the main thread ({@code Exception in thread "main"
   * ...}, then {@code Caused by: ...} lines) without stack frames: one {@code ClassName: message}
   * per exception; empty if there is none.
   */
  private List<String> uncaught() {
    String output = output();
    int at = output.lastIndexOf(UNCAUGHT);
    if (at < 0) {
      return List.of();
    }
    List<String> chain = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    boolean inMessage = true;
    for (String line : output.substring(at + UNCAUGHT.length()).split("\n", -1)) {
      if (line.startsWith("\tat ") || line.startsWith("\t...") || line.startsWith("\tSuppressed")) {
        inMessage = false;
      } else if (line.startsWith("Caused by: ")) {
        chain.add(current.toString());
        current = new StringBuilder(line.substring("Caused by: ".length()));
        inMessage = true;
      } else if (inMessage) {
        current.append(current.length() == 0 ? "" : " ").append(line.strip());
      } else {
        break;
      }
    }
    chain.add(current.toString());
    return chain.stream().map(String::strip).toList();
  }

  private String output() {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }
}
