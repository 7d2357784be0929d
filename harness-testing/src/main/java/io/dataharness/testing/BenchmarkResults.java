package io.dataharness.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The benchmarks' common result table: each benchmark {@link #start}s, then {@link #record}s its
 * figures (ours, the baseline measured in the same run on the same data, the ratio, the goal); they
 * are printed as they come and written to {@code <name>.tsv} in the directory named by the system
 * property {@value #DIRECTORY_PROPERTY}, from which {@link #main} prints one table of every
 * benchmark's last run.
 */
public final class BenchmarkResults {
  /** The system property naming the results directory (none: results are printed only). */
  public static final String DIRECTORY_PROPERTY = "bench.results";

  private static Path file;

  private BenchmarkResults() {}

  /**
   * Starts the benchmark {@code name} (its results file sorts by it: {@code 1-store}, {@code
   * 2-reads}, ...): forgets the results of its last run.
   */
  public static synchronized void start(String name) {
    String directory = System.getProperty(DIRECTORY_PROPERTY);
    if (directory == null || directory.isBlank()) {
      file = null;
      return;
    }
    file = Path.of(directory, name + ".tsv");
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
      Files.deleteIfExists(file);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot start the benchmark results file " + file, e);
    }
  }

  /** What a figure must reach: on the ratio ours / baseline, or on our figure alone. */
  public record Goal(boolean onRatio, boolean atMost, double limit) {
    public static Goal ratioAtMost(double limit) {
      return new Goal(true, true, limit);
    }

    public static Goal ratioAtLeast(double limit) {
      return new Goal(true, false, limit);
    }

    public static Goal atMost(double limit) {
      return new Goal(false, true, limit);
    }

    public static Goal atLeast(double limit) {
      return new Goal(false, false, limit);
    }

    boolean met(double ours, double ratio) {
      double value = onRatio ? ratio : ours;
      if (Double.isNaN(value)) {
        return false;
      }
      return atMost ? value <= limit : value >= limit;
    }

    String describe(String unit) {
      return (atMost ? "<= " : ">= ")
          + number(limit)
          + (onRatio ? "x" : unit.isEmpty() ? "" : " " + unit);
    }
  }

  /** One figure of one run. */
  public record Result(
      String figure, String unit, double ours, double baseline, String baselineName, Goal goal) {
    public double ratio() {
      return Double.isNaN(baseline) || baseline == 0 ? Double.NaN : ours / baseline;
    }

    public boolean met() {
      return goal == null || goal.met(ours, ratio());
    }

    String line() {
      return String.join(
          "\t",
          figure,
          unit,
          Double.toString(ours),
          Double.toString(baseline),
          baselineName,
          goal == null ? "" : goal.onRatio + "," + goal.atMost + "," + goal.limit);
    }

    static Result parse(String line) {
      String[] parts = line.split("\t", -1);
      Goal goal = null;
      if (!parts[5].isEmpty()) {
        String[] g = parts[5].split(",");
        goal =
            new Goal(
                Boolean.parseBoolean(g[0]), Boolean.parseBoolean(g[1]), Double.parseDouble(g[2]));
      }
      return new Result(
          parts[0],
          parts[1],
          Double.parseDouble(parts[2]),
          Double.parseDouble(parts[3]),
          parts[4],
          goal);
    }
  }

  /**
   * Records a figure measured against a baseline (NaN and an empty name when it has none), prints
   * it and appends it to the results file.
   */
  public static synchronized Result record(
      String figure, String unit, double ours, double baseline, String baselineName, Goal goal) {
    Result result = new Result(figure, unit, ours, baseline, baselineName, goal);
    System.out.println("RESULT " + format(List.of(result)).get(2));
    if (file != null) {
      try {
        Files.writeString(
            file,
            result.line() + "\n",
            StandardCharsets.UTF_8,
            StandardOpenOption.CREATE,
            StandardOpenOption.APPEND);
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot append the benchmark result to " + file, e);
      }
    }
    return result;
  }

  /** A figure with no baseline, only a goal. */
  public static Result record(String figure, String unit, double ours, Goal goal) {
    return record(figure, unit, ours, Double.NaN, "", goal);
  }

  /**
   * Options the plain-Spark baselines add to their Kafka reads: with {@code
   * -Dbench.baseline.kafka.fetch.max.wait.ms=20}, {@code kafka.fetch.max.wait.ms=20}, the consumer
   * setting the harness uses for its bounded reads (a hand-written job keeps Kafka's 500 ms unless
   * its author sets it). None by default: the baselines are the jobs as users write them.
   */
  public static java.util.Map<String, String> baselineKafkaOptions() {
    String fetchMaxWait = System.getProperty("bench.baseline.kafka.fetch.max.wait.ms");
    return fetchMaxWait == null
        ? java.util.Map.of()
        : java.util.Map.of("kafka.fetch.max.wait.ms", fetchMaxWait);
  }

  /** The median of {@code values} (the mean of the middle two for an even count). */
  public static double median(double[] values) {
    double[] sorted = values.clone();
    java.util.Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** The nearest-rank {@code percentile} (0-100] of {@code values}. */
  public static double percentile(double[] values, double percentile) {
    double[] sorted = values.clone();
    java.util.Arrays.sort(sorted);
    int rank = (int) Math.ceil(percentile / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank))];
  }

  /** How long {@code body} takes, in milliseconds. */
  public static double millis(Runnable body) {
    long start = System.nanoTime();
    body.run();
    return (System.nanoTime() - start) / 1e6;
  }

  /** The results as a Markdown table (header, separator, one line per result). */
  public static List<String> format(List<Result> results) {
    List<String> lines = new ArrayList<>();
    lines.add("| figure | ours | baseline | ratio | goal | met |");
    lines.add("| --- | ---: | --- | ---: | --- | --- |");
    for (Result r : results) {
      String unit = r.unit().isEmpty() ? "" : " " + r.unit();
      lines.add(
          String.format(
              Locale.ROOT,
              "| %s | %s%s | %s | %s | %s | %s |",
              r.figure(),
              number(r.ours()),
              unit,
              Double.isNaN(r.baseline())
                  ? "-"
                  : number(r.baseline()) + unit + " (" + r.baselineName() + ")",
              Double.isNaN(r.ratio()) ? "-" : String.format(Locale.ROOT, "%.2fx", r.ratio()),
              r.goal() == null ? "-" : r.goal().describe(r.unit()),
              r.goal() == null ? "-" : r.met() ? "yes" : "**no**"));
    }
    return lines;
  }

  private static String number(double value) {
    if (Double.isNaN(value)) {
      return "-";
    }
    if (Math.abs(value) >= 100 || value == Math.rint(value)) {
      return String.format(Locale.ROOT, "%,.0f", value);
    }
    return String.format(Locale.ROOT, Math.abs(value) >= 10 ? "%.1f" : "%.3f", value);
  }

  /**
   * Prints one table of the results in every {@code *.tsv} file of the directory {@code args[0]}.
   */
  public static void main(String[] args) throws IOException {
    Path directory = Path.of(args[0]);
    List<Path> files = new ArrayList<>();
    if (Files.isDirectory(directory)) {
      try (Stream<Path> listed = Files.list(directory)) {
        listed.filter(p -> p.toString().endsWith(".tsv")).sorted().forEach(files::add);
      }
    }
    if (files.isEmpty()) {
      System.err.println(
          "No benchmark results in "
              + directory
              + ": run the benchmarks with ./mvnw -B -Pbench verify -DskipTests");
      System.exit(1);
    }
    List<Result> results = new ArrayList<>();
    for (Path path : files) {
      for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
        if (!line.isBlank()) {
          results.add(Result.parse(line));
        }
      }
    }
    System.out.println();
    System.out.println(
        "DataHarness benchmarks: "
            + results.size()
            + " figures from "
            + files.stream().map(p -> p.getFileName().toString()).toList()
            + " in "
            + directory);
    System.out.println(
        "Machine: "
            + Runtime.getRuntime().availableProcessors()
            + " cores, "
            + Runtime.getRuntime().maxMemory() / (1 << 20)
            + " MiB heap for this report, "
            + System.getProperty("os.name")
            + " "
            + System.getProperty("os.arch")
            + ", Java "
            + System.getProperty("java.version"));
    format(results).forEach(System.out::println);
  }
}
