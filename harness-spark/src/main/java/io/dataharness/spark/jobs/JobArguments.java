package io.dataharness.spark.jobs;

import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.sql.SparkSession;

/**
 * {@code --name value} arguments of the {@code spark-submit} jobs, with the names the SQL
 * procedures use ({@code --max-rows} and {@code --max_rows} both work).
 */
final class JobArguments {
  private final String job;
  private final Map<String, String> values = new LinkedHashMap<>();

  private JobArguments(String job) {
    this.job = job;
  }

  static JobArguments parse(String job, String[] args, Set<String> allowed) {
    JobArguments parsed = new JobArguments(job);
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--")) {
        throw new ValidationException(
            "Invalid argument '%s' of %s: use --name value (options: %s)", arg, job, allowed);
      }
      String name = arg.substring(2).replace('_', '-').toLowerCase(Locale.ROOT);
      String value;
      int equals = name.indexOf('=');
      if (equals > 0) {
        value = arg.substring(2 + equals + 1);
        name = name.substring(0, equals);
      } else if (i + 1 < args.length) {
        value = args[++i];
      } else {
        throw new ValidationException("Missing value of --%s for %s", name, job);
      }
      if (!allowed.contains(name)) {
        throw new ValidationException(
            "Unknown option --%s of %s: it takes %s", name, job, List.copyOf(allowed));
      }
      parsed.values.put(name, value);
    }
    return parsed;
  }

  String required(String name) {
    String value = values.get(name);
    if (value == null || value.isBlank()) {
      throw new ValidationException("Missing option --%s of %s", name, job);
    }
    return value.trim();
  }

  Optional<String> optional(String name) {
    return Optional.ofNullable(values.get(name)).map(String::trim).filter(v -> !v.isEmpty());
  }

  /** The harness catalog named by {@code --catalog} (default {@code harness}) in the session. */
  static HarnessContext catalog(SparkSession spark, String name) {
    var plugin =
        ((org.apache.spark.sql.classic.SparkSession) spark)
            .sessionState()
            .catalogManager()
            .catalog(name);
    if (!(plugin instanceof HarnessContext catalog)) {
      throw new ValidationException(
          "Catalog '%s' is not a DataHarness catalog: set spark.sql.catalog.%s ="
              + " io.dataharness.spark.HarnessCatalog, or pass --catalog <name>",
          name, name);
    }
    return catalog;
  }

  /**
   * Parses an interval such as {@code 10 minutes}, {@code 30s}, {@code 2 hours}, {@code PT10M} or
   * {@code INTERVAL '10' MINUTE}.
   */
  static Duration interval(String text) {
    String value = text.trim();
    if (value.toUpperCase(Locale.ROOT).startsWith("P")) {
      try {
        return Duration.parse(value.toUpperCase(Locale.ROOT));
      } catch (RuntimeException e) {
        throw invalidInterval(text);
      }
    }
    String normalized =
        value
            .toLowerCase(Locale.ROOT)
            .replace("interval", "")
            .replace("'", "")
            .replaceAll("\\s+", " ")
            .trim();
    var matcher = java.util.regex.Pattern.compile("(\\d+)\\s*([a-z]+)").matcher(normalized);
    if (!matcher.matches()) {
      throw invalidInterval(text);
    }
    long amount = Long.parseLong(matcher.group(1));
    String unit = matcher.group(2);
    return switch (unit) {
      case "ms", "millisecond", "milliseconds" -> Duration.ofMillis(amount);
      case "s", "sec", "secs", "second", "seconds" -> Duration.ofSeconds(amount);
      case "m", "min", "mins", "minute", "minutes" -> Duration.ofMinutes(amount);
      case "h", "hour", "hours" -> Duration.ofHours(amount);
      case "d", "day", "days" -> Duration.ofDays(amount);
      default -> throw invalidInterval(text);
    };
  }

  private static ValidationException invalidInterval(String text) {
    return new ValidationException(
        "Invalid interval '%s': use a number and a unit, such as '10 minutes', '30 seconds' or"
            + " '2 hours'",
        text);
  }
}
