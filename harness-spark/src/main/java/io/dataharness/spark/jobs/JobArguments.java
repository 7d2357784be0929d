package io.dataharness.spark.jobs;

import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.spark.sql.SparkSession;

/**
 * {@code --name value} arguments of the {@code spark-submit} jobs, with the names the SQL
 * procedures use ({@code --max-rows} and {@code --max_rows} both work). Each job declares its
 * options once ({@link Option}, {@link Usage}); {@code --help} prints them. Every value is checked
 * here, before the job starts Spark or touches a table, and a bad one is refused with an error that
 * names the option.
 */
final class JobArguments {
  /** What {@code --help} says about exit codes; {@link JobStatus} holds the codes. */
  static final String EXIT_CODES =
      """
      Exit codes:
        0   done: %s
        2   nothing to do
        3   a lock is held or a concurrent commit conflicted; a later retry resolves it
        1   failed; the JSON line's "error" says why
        64  usage error: a bad, unknown or missing option (nothing was started)
      """;

  /**
   * One option of a job.
   *
   * @param name the option's name without {@code --}
   * @param value the name of its value in the usage text, or null for a flag that takes none
   * @param description what it does
   * @param defaultValue what applies without it, or null if it is required
   * @param required whether the job refuses to run without it
   */
  record Option(
      String name, String value, String description, String defaultValue, boolean required) {
    /** {@code --catalog}, which every job takes. */
    static final Option CATALOG =
        optional("catalog", "name", "the Spark catalog name of the harness catalog", "harness");

    static Option required(String name, String value, String description) {
      return new Option(name, value, description, null, true);
    }

    static Option optional(String name, String value, String description, String defaultValue) {
      return new Option(name, value, description, defaultValue, false);
    }

    static Option flag(String name, String description) {
      return new Option(name, null, description, "off", false);
    }

    boolean isFlag() {
      return value == null;
    }
  }

  /**
   * What {@code --help} prints for one job.
   *
   * @param job the job's class name, as users pass it to {@code --class}
   * @param summary what the job does, in a few sentences
   * @param options every option it takes
   * @param examples command lines (options only)
   * @param done what exit code 0 means for this job
   */
  record Usage(
      String job, String summary, List<Option> options, List<String> examples, String done) {
    Optional<Option> option(String name) {
      return options.stream().filter(option -> option.name().equals(name)).findFirst();
    }

    String text() {
      StringBuilder text = new StringBuilder();
      text.append("Usage: spark-submit [spark options] --class io.dataharness.spark.jobs.")
          .append(job)
          .append(" <dataharness runtime jar>");
      for (Option option : options) {
        String shown = "--" + option.name() + (option.isFlag() ? "" : " <" + option.value() + ">");
        text.append(' ').append(option.required() ? shown : "[" + shown + "]");
      }
      text.append("\n\n").append(summary.strip()).append("\n\nOptions:\n");
      int width =
          options.stream()
                  .mapToInt(o -> o.name().length() + (o.isFlag() ? 0 : o.value().length() + 3))
                  .max()
                  .orElse(0)
              + 4;
      for (Option option : options) {
        String shown = "--" + option.name() + (option.isFlag() ? "" : " <" + option.value() + ">");
        String described =
            option.description()
                + (option.required() ? " (required)" : " (default: " + option.defaultValue() + ")");
        text.append(wrap(shown, described, width));
      }
      text.append(wrap("--help, -h", "print this help and exit (code 0)", width));
      text.append("\nExamples:\n");
      examples.forEach(example -> text.append("  ").append(example).append('\n'));
      text.append('\n').append(String.format(EXIT_CODES, done));
      text.append(
          "\nThe job prints one line per batch and, last, one JSON object on one line (stdout).\n");
      return text.toString();
    }
  }

  /** One option's lines: its name padded to {@code width}, then its text wrapped at 100 columns. */
  private static String wrap(String shown, String described, int width) {
    StringBuilder lines = new StringBuilder("  ").append(shown);
    int column = 2 + shown.length();
    String indent = " ".repeat(width + 2);
    if (column >= width + 2) {
      lines.append('\n').append(indent);
    } else {
      lines.append(" ".repeat(width + 2 - column));
    }
    column = width + 2;
    boolean first = true;
    for (String word : described.split(" ")) {
      if (!first && column + 1 + word.length() > 100) {
        lines.append('\n').append(indent);
        column = width + 2;
        first = true;
      }
      if (!first) {
        lines.append(' ');
        column++;
      }
      lines.append(word);
      column += word.length();
      first = false;
    }
    return lines.append('\n').toString();
  }

  private final Usage usage;
  private final boolean help;
  private final Map<String, String> values = new LinkedHashMap<>();

  private JobArguments(Usage usage, boolean help) {
    this.usage = usage;
    this.help = help;
  }

  /**
   * Parses {@code --name value}, {@code --name=value} and flags; {@code --help} or {@code -h}
   * anywhere asks for the usage text and nothing else is checked.
   *
   * @throws ValidationException naming the option, for an unknown option, a missing value or a
   *     missing required option
   */
  static JobArguments parse(Usage usage, String[] args) {
    for (String arg : args) {
      if (arg.equals("--help") || arg.equals("-h") || arg.equals("-help")) {
        return new JobArguments(usage, true);
      }
    }
    JobArguments parsed = new JobArguments(usage, false);
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--") || arg.length() == 2) {
        throw usageError(
            usage, "unexpected argument '%s'", "pass options as --name value", arg.strip());
      }
      String name = arg.substring(2);
      String value = null;
      int equals = name.indexOf('=');
      if (equals > 0) {
        value = name.substring(equals + 1);
        name = name.substring(0, equals);
      }
      name = name.replace('_', '-').toLowerCase(Locale.ROOT);
      String typed = name;
      Option option =
          usage
              .option(name)
              .orElseThrow(
                  () ->
                      usageError(
                          usage,
                          "unknown option --%s",
                          "it takes "
                              + usage.options().stream()
                                  .map(o -> "--" + o.name())
                                  .collect(Collectors.joining(", ")),
                          typed));
      if (option.isFlag()) {
        if (value != null && !value.equalsIgnoreCase("true")) {
          throw usageError(usage, "--%s takes no value", "pass --%s alone", name, name);
        }
        value = "true";
      } else if (value == null) {
        if (i + 1 >= args.length || args[i + 1].startsWith("--")) {
          throw usageError(
              usage, "option --%s has no value", "pass --%s <%s>", name, name, option.value());
        }
        value = args[++i];
      }
      if (parsed.values.put(name, value) != null) {
        throw usageError(usage, "option --%s is given twice", "pass it once", name);
      }
    }
    for (Option option : usage.options()) {
      if (option.required() && parsed.optional(option.name()).isEmpty()) {
        throw usageError(
            usage,
            "option --%s is missing",
            "pass --%s <%s>",
            option.name(),
            option.name(),
            option.value());
      }
    }
    return parsed;
  }

  /** Whether {@code --help} or {@code -h} was given. */
  boolean help() {
    return help;
  }

  Usage usage() {
    return usage;
  }

  String required(String name) {
    return optional(name)
        .orElseThrow(
            () -> usageError(usage, "option --%s is missing", "pass --%s <value>", name, name));
  }

  Optional<String> optional(String name) {
    return Optional.ofNullable(values.get(name)).map(String::trim).filter(v -> !v.isEmpty());
  }

  boolean flag(String name) {
    return values.containsKey(name);
  }

  /** A positive whole number, such as {@code --max-rows}. */
  OptionalLong positiveLong(String name) {
    Optional<String> value = optional(name);
    if (value.isEmpty()) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(positiveLong("run " + usage.job(), "--" + name, value.get()));
  }

  /** An interval (see {@link #interval(String, String, String, boolean)}). */
  Optional<Duration> interval(String name, boolean allowZero) {
    return optional(name)
        .map(value -> interval("run " + usage.job(), "--" + name, value, allowZero));
  }

  /**
   * A positive whole number given as text.
   *
   * @param action what is refused, as in "Cannot <action>", such as {@code run MoveJob}
   * @param argument the option or argument as the user wrote it, such as {@code --max-rows}
   */
  static long positiveLong(String action, String argument, String text) {
    long value;
    try {
      value = Long.parseLong(text.strip().replace("_", ""));
    } catch (NumberFormatException e) {
      throw invalid(action, argument, text, "is not a whole number", "use a positive number");
    }
    return positiveLong(action, argument, value);
  }

  static long positiveLong(String action, String argument, long value) {
    if (value <= 0) {
      throw invalid(
          action, argument, String.valueOf(value), "is not positive", "use a positive number");
    }
    return value;
  }

  /**
   * An {@code older_than} value as a cut-off instant: a timestamp ({@code 2026-11-01 00:00:00} in
   * {@code zone}, or with its offset such as {@code 2026-11-01T00:00:00Z}) is the cut-off itself,
   * as in Iceberg's procedures; an interval ({@code 7 days}, {@code PT12H}) is an age, counted back
   * from {@code now}.
   */
  static Instant cutoff(String action, String argument, String text, Instant now, ZoneId zone) {
    String value = text.strip();
    if (value.matches("\\d{4}-\\d{2}-\\d{2}.*")) {
      try {
        String iso = value.replace(' ', 'T');
        if (iso.endsWith("Z") || iso.matches(".*[+-]\\d{2}:\\d{2}$")) {
          return java.time.OffsetDateTime.parse(iso).toInstant();
        }
        return java.time.LocalDateTime.parse(iso.length() == 10 ? iso + "T00:00:00" : iso)
            .atZone(zone)
            .toInstant();
      } catch (java.time.format.DateTimeParseException e) {
        throw invalid(
            action,
            argument,
            text,
            "is not a timestamp",
            "write 2026-11-01 00:00:00 (session time zone) or 2026-11-01T00:00:00Z, or an age"
                + " such as '7 days'");
      }
    }
    return now.minus(interval(action, argument, value, true));
  }

  /** An {@code older_than} value as the age it means at {@code now} (see {@link #cutoff}). */
  static Duration age(String action, String argument, String text, Instant now, ZoneId zone) {
    Instant cutoff = cutoff(action, argument, text, now, zone);
    return cutoff.isAfter(now) ? Duration.ZERO : Duration.between(cutoff, now);
  }

  private static final Pattern AMOUNT_AND_UNIT = Pattern.compile("([+-]?\\d+)\\s*([a-z]+)");

  /**
   * Parses an interval such as {@code 10 minutes}, {@code 30s}, {@code 2 hours}, {@code PT10M} or
   * {@code INTERVAL '10' MINUTE}, refusing negative ones, ones longer than a {@link Duration} holds
   * in nanoseconds (about 292 years) and, unless {@code allowZero}, zero.
   *
   * @param action what is refused, as in "Cannot <action>", such as {@code run MoveJob}
   * @param argument the option or argument as the user wrote it, such as {@code --older-than} or
   *     {@code older_than}
   */
  static Duration interval(String action, String argument, String text, boolean allowZero) {
    Duration duration = parseInterval(action, argument, text);
    if (duration.isNegative()) {
      throw invalid(action, argument, text, "is negative", "use an age such as '10 minutes'");
    }
    if (duration.isZero() && !allowZero) {
      throw invalid(
          action, argument, text, "is zero", "use a positive interval such as '1 minute'");
    }
    try {
      duration.toNanos();
    } catch (ArithmeticException e) {
      throw tooLong(action, argument, text);
    }
    return duration;
  }

  private static Duration parseInterval(String action, String argument, String text) {
    String value = text.strip();
    if (value.toUpperCase(Locale.ROOT).startsWith("P")) {
      try {
        return Duration.parse(value.toUpperCase(Locale.ROOT));
      } catch (RuntimeException e) {
        // Duration.parse wraps an amount too large for a long in its parse exception
        if (e instanceof ArithmeticException
            || e.getCause() instanceof ArithmeticException
            || e.getCause() instanceof NumberFormatException) {
          throw tooLong(action, argument, text);
        }
        throw notAnInterval(action, argument, text);
      }
    }
    String normalized =
        value
            .toLowerCase(Locale.ROOT)
            .replace("interval", "")
            .replace("'", "")
            .replaceAll("\\s+", " ")
            .trim();
    Matcher matcher = AMOUNT_AND_UNIT.matcher(normalized);
    if (!matcher.matches()) {
      throw notAnInterval(action, argument, text);
    }
    long amount;
    try {
      amount = Long.parseLong(matcher.group(1));
    } catch (NumberFormatException e) {
      throw tooLong(action, argument, text);
    }
    try {
      return switch (matcher.group(2)) {
        case "ms", "millisecond", "milliseconds" -> Duration.ofMillis(amount);
        case "s", "sec", "secs", "second", "seconds" -> Duration.ofSeconds(amount);
        case "m", "min", "mins", "minute", "minutes" -> Duration.ofMinutes(amount);
        case "h", "hour", "hours" -> Duration.ofHours(amount);
        case "d", "day", "days" -> Duration.ofDays(amount);
        default -> throw notAnInterval(action, argument, text);
      };
    } catch (ArithmeticException e) {
      throw tooLong(action, argument, text);
    }
  }

  private static ValidationException notAnInterval(String action, String argument, String text) {
    return invalid(
        action,
        argument,
        text,
        "is not an interval",
        "use a number and a unit, such as '10 minutes', '30 seconds', '2 hours' or 'PT10M'");
  }

  private static ValidationException tooLong(String action, String argument, String text) {
    return invalid(
        action,
        argument,
        text,
        "is longer than an interval can be (about 292 years)",
        "use a shorter interval");
  }

  private static ValidationException invalid(
      String action, String argument, String text, String reason, String fix) {
    return new InvalidArgumentException(
        argument, "Cannot %s: %s '%s' %s; %s", action, argument, text, reason, fix);
  }

  private static ValidationException usageError(
      Usage usage, String reason, String fix, Object... args) {
    return new ValidationException(
        "Cannot run " + usage.job() + ": " + reason + "; " + fix + " (see --help)", args);
  }

  /** The harness catalog this job's {@code --catalog} names (default {@code harness}). */
  HarnessContext catalog(SparkSession spark) {
    return catalog(spark, optional("catalog").orElse("harness"));
  }

  /** The session's time zone, in which a timestamp without an offset is read. */
  static ZoneId sessionZone(SparkSession spark) {
    return ZoneId.of(spark.conf().get("spark.sql.session.timeZone"));
  }

  /** The harness catalog named by {@code --catalog} (default {@code harness}) in the session. */
  static HarnessContext catalog(SparkSession spark, String name) {
    org.apache.spark.sql.connector.catalog.CatalogPlugin plugin;
    try {
      plugin =
          ((org.apache.spark.sql.classic.SparkSession) spark)
              .sessionState()
              .catalogManager()
              .catalog(name);
    } catch (Exception e) {
      // a bad catalog option is Spark's AnalysisException for SQL users; a job reports the
      // harness's own error (its message, its exit code)
      if (e instanceof RuntimeException runtime) {
        throw runtime;
      }
      if (e.getCause() instanceof ValidationException invalid) {
        throw invalid;
      }
      throw new io.dataharness.metadata.HarnessException(
          e, "Cannot start catalog %s: %s", name, e.getMessage());
    }
    if (!(plugin instanceof HarnessContext catalog)) {
      throw new ValidationException(
          "Catalog '%s' is not a DataHarness catalog: set spark.sql.catalog.%s ="
              + " io.dataharness.spark.HarnessCatalog, or pass --catalog <name>",
          name, name);
    }
    return catalog;
  }
}
