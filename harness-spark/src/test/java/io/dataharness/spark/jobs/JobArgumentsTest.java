package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.metadata.ValidationException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The jobs' options: --help, and every bad value refused before Spark starts, naming the option.
 */
class JobArgumentsTest {
  /** A session supplier that fails the test: a job that asks for Spark here started too far. */
  private static final Supplier<SparkSession> NO_SPARK =
      () -> {
        throw new AssertionError("the job started Spark");
      };

  private record Run(int code, String out, String err) {
    JsonNode json() throws Exception {
      String[] lines = out.strip().split("\n");
      return new ObjectMapper().readTree(lines[lines.length - 1]);
    }
  }

  private interface Job {
    int run(String[] args, PrintStream out, PrintStream err);
  }

  private static Run run(Job job, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code;
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      code = job.run(args, o, e);
    }
    return new Run(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private static Run move(String... args) {
    return run((a, o, e) -> MoveJob.run(a, o, e, NO_SPARK, new StopSignal()), args);
  }

  private static Run sync(String... args) {
    return run((a, o, e) -> SyncJob.run(a, o, e, NO_SPARK, new StopSignal()), args);
  }

  private static Run audit(String... args) {
    return run((a, o, e) -> AuditJob.main(a, o, e, NO_SPARK), args);
  }

  @Test
  void helpListsEveryOptionWithItsDefaultExamplesAndExitCodes() {
    for (String flag : List.of("--help", "-h")) {
      Run help = move(flag);
      assertEquals(0, help.code(), help.err());
      String text = help.out();
      for (JobArguments.Option option : MoveJob.USAGE.options()) {
        assertTrue(text.contains("--" + option.name()), option.name() + " missing in\n" + text);
        // help wraps long descriptions: compare with the line breaks and indents folded
        assertTrue(
            text.replaceAll("\\s+", " ")
                .contains(option.required() ? "(required)" : "(default: " + option.defaultValue()),
            option.name() + "'s default missing in\n" + text);
      }
      assertTrue(text.contains("Examples:"), text);
      assertTrue(text.contains("--until-empty --every '5 minutes'"), text);
      for (String code : List.of("  0 ", "  2 ", "  3 ", "  1 ", "  64 ")) {
        assertTrue(text.contains(code), "exit code" + code + "missing in\n" + text);
      }
    }
    // help wins over everything else, even bad options
    assertEquals(0, move("--table", "ns.t", "--max-rows", "lots", "--help").code());
    Run syncHelp = sync("-h");
    assertEquals(0, syncHelp.code());
    assertTrue(syncHelp.out().contains("--every <interval>"), syncHelp.out());
    Run auditHelp = audit("--help");
    assertEquals(0, auditHelp.code());
    assertTrue(auditHelp.out().contains("--lease <interval>"), auditHelp.out());
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--max-rows|lots|--max-rows 'lots' is not a whole number",
        "--max-rows|0|--max-rows '0' is not positive",
        "--max-rows|-5|--max-rows '-5' is not positive",
        "--max-rows|99999999999999999999|--max-rows '99999999999999999999' is not a whole number",
        "--older-than|PT-10M|--older-than 'PT-10M' is negative",
        "--older-than|-10 minutes|--older-than '-10 minutes' is negative",
        "--older-than|soon|--older-than 'soon' is not an interval",
        "--older-than|10 fortnights|--older-than '10 fortnights' is not an interval",
        "--older-than|PT9999999999999999999H|--older-than 'PT9999999999999999999H' is longer",
        "--older-than|99999999999999999999 days|--older-than '99999999999999999999 days' is longer",
        "--older-than|9999999999999 days|--older-than '9999999999999 days' is longer",
        "--older-than|300000 days|--older-than '300000 days' is longer",
        "--every|0 seconds|--every '0 seconds' is zero",
        "--every|PT-1S|--every 'PT-1S' is negative",
        "--every|often|--every 'often' is not an interval",
      })
  void badValuesAreRefusedNamingTheOption(String option, String value, String expected)
      throws Exception {
    Run run = move("--table", "ns.t", "--source", "hot", "--target", "cold", option, value);
    assertEquals(64, run.code(), run.out());
    assertTrue(run.err().contains("Cannot run MoveJob: " + expected), run.err());
    JsonNode json = run.json();
    assertEquals("move", json.get("job").asText());
    assertEquals("usage-error", json.get("status").asText());
    assertTrue(json.get("error").asText().contains(expected), json.toString());
  }

  @Test
  void unknownMissingAndRepeatedOptionsAreUsageErrors() {
    assertUsageError(
        move("--table", "ns.t", "--source", "hot", "--target", "cold", "--max-row", "5"),
        "unknown option --max-row");
    assertUsageError(
        move("--table", "ns.t", "--source", "hot", "--target"), "--target has no value");
    assertUsageError(
        move("--table", "ns.t", "--source", "--target", "cold"), "--source has no value");
    assertUsageError(move("--table", "ns.t", "--source", "hot"), "--target is missing");
    assertUsageError(
        move("--table", "ns.t", "--source", "hot", "--target", "cold", "extra"),
        "unexpected argument 'extra'");
    assertUsageError(
        move("--table", "ns.t", "--source", "hot", "--target", "cold", "--table", "ns.u"),
        "--table is given twice");
    assertUsageError(
        move("--table", "ns.t", "--source", "hot", "--target", "hot"),
        "from source 'hot' to itself");
    assertUsageError(
        move("--table", "ns.t", "--source", "hot", "--target", "cold", "--until-empty=maybe"),
        "--until-empty takes no value");
    assertUsageError(sync("--table", "ns.t", "--every", "-1 minutes"), "--every '-1 minutes'");
    assertUsageError(sync(), "--table is missing");
    assertUsageError(audit("--table", "ns.t", "--lease", "PT-30S"), "--lease 'PT-30S' is negative");
    assertUsageError(audit("--tabel", "ns.t"), "unknown option --tabel");
  }

  private static void assertUsageError(Run run, String expected) {
    assertEquals(64, run.code(), run.out() + run.err());
    assertTrue(run.err().contains(expected), run.err());
  }

  @Test
  void optionsReadTheWaysUsersWriteThem() {
    JobArguments arguments =
        JobArguments.parse(
            MoveJob.USAGE,
            new String[] {
              "--table=ns.t",
              "--source",
              "hot",
              "--target",
              "cold",
              "--max_rows",
              "1_000",
              "--OLDER-THAN",
              "INTERVAL '2' HOUR",
              "--until-empty",
              "--every",
              "PT5M"
            });
    MoveJob.Plan plan = MoveJob.Plan.of(arguments);
    assertEquals("ns.t", plan.request().table().toString());
    assertEquals(1000, plan.request().maxRows().getAsLong());
    assertEquals(Duration.ofHours(2), plan.request().olderThan().get());
    assertTrue(plan.untilEmpty());
    assertEquals(Duration.ofMinutes(5), plan.every().get());
    assertEquals("harness", plan.catalog());
    MoveJob.Plan once =
        MoveJob.Plan.of(
            JobArguments.parse(
                MoveJob.USAGE, new String[] {"--table", "ns.t", "--source", "a", "--target", "b"}));
    assertTrue(once.every().isEmpty());
    assertTrue(once.request().maxRows().isEmpty());
    assertTrue(!once.untilEmpty());
  }

  @Test
  void intervalEdgeCases() {
    assertEquals(Duration.ofMinutes(10), interval("10 minutes", true));
    assertEquals(Duration.ofSeconds(30), interval("30s", true));
    assertEquals(Duration.ofSeconds(30), interval(" 30 SECONDS ", true));
    assertEquals(Duration.ofHours(2), interval("INTERVAL '2' HOUR", true));
    assertEquals(Duration.ofMinutes(5), interval("PT5M", true));
    assertEquals(Duration.ofMinutes(5), interval("pt5m", true));
    assertEquals(Duration.ofMillis(250), interval("250 ms", true));
    assertEquals(Duration.ofDays(1), interval("P1D", true));
    assertEquals(Duration.ZERO, interval("0 seconds", true));
    assertEquals(Duration.ZERO, interval("PT0S", true));
    assertEquals(Duration.ofDays(100_000), interval("100000 days", true));
    assertEquals(Duration.ofSeconds(1), interval("+1 second", true));
    ValidationException zero =
        assertThrows(ValidationException.class, () -> interval("PT0S", false));
    assertEquals(
        "Cannot run a test: --every 'PT0S' is zero; use a positive interval such as '1 minute'",
        zero.getMessage());
    ValidationException negative =
        assertThrows(ValidationException.class, () -> interval("PT-0.001S", true));
    assertTrue(negative.getMessage().contains("is negative"), negative.getMessage());
    // mixed signs that add up to a negative age
    ValidationException mixed =
        assertThrows(ValidationException.class, () -> interval("PT1M-61S", true));
    assertTrue(mixed.getMessage().contains("is negative"), mixed.getMessage());
  }

  private static Duration interval(String text, boolean allowZero) {
    String argument = allowZero ? "--older-than" : "--every";
    return JobArguments.interval("run a test", argument, text, allowZero);
  }

  @Test
  void procedureArgumentsAreCheckedNamingTheArgument() {
    ValidationException negative =
        assertThrows(
            ValidationException.class,
            () -> MoveJob.request("ns.t", "hot", "cold", null, "PT-10M", null));
    assertEquals(
        "Cannot call system.move: older_than 'PT-10M' is negative; use an age such as '10"
            + " minutes'",
        negative.getMessage());
    ValidationException rows =
        assertThrows(
            ValidationException.class,
            () -> MoveJob.request("ns.t", "hot", "cold", 0L, null, null));
    assertTrue(rows.getMessage().contains("max_rows '0' is not positive"), rows.getMessage());
    ValidationException notAnInterval =
        assertThrows(
            ValidationException.class,
            () -> MoveJob.request("ns.t", "hot", "cold", null, "yesterday", null));
    assertTrue(
        notAnInterval.getMessage().contains("older_than 'yesterday' is not an interval"),
        notAnInterval.getMessage());
    assertEquals(
        Duration.ZERO,
        MoveJob.request("ns.t", "hot", "cold", 5L, "0 seconds", "me").olderThan().get());
  }

  @Test
  void expireAndCompactRefuseBadValuesBeforeSparkStarts() throws Exception {
    Object[][] cases = {
      {
        "--older-than",
        "PT-10M",
        "Cannot expire versions of ns.t: --older-than 'PT-10M' is negative"
      },
      {
        "--older-than",
        "P999999999999D",
        "Cannot expire versions of ns.t: --older-than 'P999999999999D' is longer than an interval"
      },
      {"--older-than", "2026-13-45", "--older-than '2026-13-45' is not a timestamp"},
      {"--retain-last", "0", "Cannot run ExpireJob: --retain-last '0' is not positive"},
      {"--retain-last", "many", "Cannot run ExpireJob: --retain-last 'many' is not a whole number"},
      {
        "--retain-last",
        "99999999999",
        "Cannot expire versions of ns.t: --retain-last '99999999999' is too large"
      }
    };
    for (Object[] bad : cases) {
      Run run =
          run(
              (a, o, e) -> ExpireJob.main(a, o, e, NO_SPARK),
              "--table",
              "ns.t",
              (String) bad[0],
              (String) bad[1]);
      assertEquals(JobStatus.USAGE_ERROR.exitCode, run.code(), run.out() + run.err());
      assertTrue(run.json().get("error").asText().contains((String) bad[2]), run.out());
    }
    Run options =
        run(
            (a, o, e) -> CompactJob.main(a, o, e, NO_SPARK),
            "--table",
            "ns.t",
            "--source",
            "cold",
            "--options",
            "min-input-files");
    assertEquals(JobStatus.USAGE_ERROR.exitCode, options.code(), options.out());
    assertTrue(
        options.json().get("error").asText().contains("--options 'min-input-files' is not a list"),
        options.out());
  }

  @Test
  void statusesOfFailures() {
    assertEquals(
        JobStatus.LOCK_HELD,
        JobStatus.of(
            new IllegalStateException(
                "wrapped", new io.dataharness.metadata.CommitConflictException("conflict"))));
    assertEquals(JobStatus.FAILED, JobStatus.of(new IllegalStateException("boom")));
    assertEquals(
        "IllegalStateException: outer <- IllegalArgumentException: inner",
        JobStatus.describe(
            new IllegalStateException("outer", new IllegalArgumentException("inner"))));
  }
}
