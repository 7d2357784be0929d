package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SPEC 10, bad input to the SQL procedures: each bad argument is refused with a message that names
 * the argument, the value and a fix, and the table (its versions, their states, the rows of every
 * source) is unchanged afterwards.
 */
class BadProcedureArgumentsTest {
  private static MoveFixture fixture;

  @BeforeAll
  static void createTable() throws Exception {
    fixture = new MoveFixture(2, "");
    fixture.produce(0, 40);
    TestSql.postgres(
        "INSERT INTO " + fixture.pgTable + " (id, message, version) VALUES (100, 'warm', 1)");
    fixture.sync();
    fixture.move("hot", "cold", 10L);
    unchanged = Observed.now();
  }

  /**
   * The table as every refusal must leave it: observed once, after the setup, since nothing in this
   * class may change it (observing before each call as well doubled the class's time).
   */
  private static Observed unchanged;

  /** What a refusal must leave as it was: versions, the latest's states, every source's rows. */
  private record Observed(
      long latestVersion,
      int versions,
      Map<String, SourceState> states,
      List<Long> ids,
      long postgresRows,
      long icebergRows) {
    static Observed now() throws Exception {
      TableVersion latest = fixture.catalog().store().readLatest(fixture.table);
      return new Observed(
          latest.version(),
          fixture.catalog().store().history(fixture.table, 0, 10_000).size(),
          latest.sourceStates(),
          fixture.ids(),
          TestSql.postgresCount("SELECT count(*) FROM " + fixture.pgTable),
          fixture.icebergMainCount());
    }
  }

  /** Runs {@code sql}, expects it refused with every one of {@code expected} in the message. */
  private static void refused(String sql, String... expected) throws Exception {
    Throwable error = assertThrows(Throwable.class, () -> fixture.spark.sql(sql).collect(), sql);
    StringBuilder messages = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      messages.append(cause.getMessage()).append(" | ");
    }
    System.out.println("Refused: " + sql + " -> " + messages);
    for (String part : expected) {
      assertTrue(messages.toString().contains(part), sql + " -> " + messages);
    }
    assertEquals(unchanged, Observed.now(), "nothing changed after " + sql);
  }

  private static String call(String procedure, String arguments) {
    return "CALL harness.system." + procedure + "(" + arguments + ")";
  }

  private static String table() {
    return "table => '" + fixture.table + "'";
  }

  @Test
  void moveRefusesBadArguments() throws Exception {
    String move = table() + ", source => 'hot', target => 'cold'";
    refused(
        call("move", move + ", older_than => 'PT-10M'"),
        "Cannot call system.move: older_than 'PT-10M' is negative;");
    refused(
        call("move", move + ", older_than => '-10 minutes'"),
        "Cannot call system.move: older_than '-10 minutes' is negative;");
    refused(
        call("move", move + ", older_than => 'P999999999999D'"),
        "Cannot call system.move: older_than 'P999999999999D' is longer than an interval can be");
    refused(
        call("move", move + ", older_than => 'later'"),
        "Cannot call system.move: older_than 'later' is not an interval;");
    refused(
        call("move", move + ", max_rows => 0"),
        "Cannot call system.move: max_rows '0' is not positive; use a positive number");
    refused(
        call("move", move + ", max_rows => -5"),
        "Cannot call system.move: max_rows '-5' is not positive");
    refused(
        call("move", table() + ", source => 'hot', target => 'hot'"),
        "Cannot move rows of " + fixture.table + " from source 'hot' to itself");
    refused(
        call("move", table() + ", source => 'nope', target => 'cold'"),
        "source 'nope'",
        "its sources are [cold, hot, warm]");
    refused(
        call("move", table() + ", source => 'hot', target => 'nope'"),
        "source 'nope'",
        "its sources are [cold, hot, warm]");
    refused(
        call(
            "move",
            "table => '" + fixture.namespace + ".missing', source => 'hot', target => 'cold'"),
        "Cannot find table " + fixture.namespace + ".missing");
    refused(
        call("move", "table => 'nodot', source => 'hot', target => 'cold'"),
        "Cannot parse table name 'nodot': expected namespace.name");
    refused(
        call("move", table() + ", source => 'cold', target => 'hot'"),
        "supported moves are kafka -> iceberg");
  }

  @Test
  void expireVersionsRefusesBadArguments() throws Exception {
    refused(
        call("expire_versions", table() + ", retain_last => 0"),
        "Cannot expire versions of " + fixture.table + ": retain_last '0' is below 1");
    refused(
        call("expire_versions", table() + ", older_than => 'PT-10M'"),
        "older_than 'PT-10M' is negative");
    refused(
        call("expire_versions", table() + ", older_than => 'P999999999999D'"),
        "older_than 'P999999999999D' is longer than an interval can be");
    refused(
        call("expire_versions", table() + ", older_than => '2026-13-45 00:00:00'"),
        "older_than '2026-13-45 00:00:00' is not a timestamp");
    refused(
        call("expire_versions", "table => '" + fixture.namespace + ".missing'"),
        "Cannot find table " + fixture.namespace + ".missing");
  }

  @Test
  void rollbackRefusesBadVersions() throws Exception {
    long latest = fixture.catalog().store().readLatest(fixture.table).version();
    refused(
        call("rollback_to_version", table() + ", version => 0"),
        "Cannot roll " + fixture.table + " back: version '0' is not a version;");
    refused(
        call("rollback_to_version", table() + ", version => -3"),
        "Cannot roll " + fixture.table + " back: version '-3' is not a version;");
    refused(
        call("rollback_to_version", table() + ", version => " + (latest + 100)),
        "version " + (latest + 100),
        fixture.table.toString());
  }

  @Test
  void sourceProceduresRefuseUnknownTablesAndSources() throws Exception {
    refused(
        call("unlock", table() + ", source => 'nope'"),
        "Cannot unlock source 'nope' of " + fixture.table,
        "its sources are [cold, hot, warm]");
    refused(
        call("compact", table() + ", source => 'nope'"),
        "source 'nope'",
        "its sources are [cold, hot, warm]");
    refused(
        call("compact", table() + ", source => 'hot'"),
        "Cannot compact source 'hot' of " + fixture.table + ": it is a kafka source");
    refused(
        call("register_source", table() + ", source => 'nope'"),
        "source 'nope'",
        "its sources are [cold, hot, warm]");
    refused(
        call("register_source", table() + ", source => 'hot'"),
        "Cannot register source 'hot' of " + fixture.table + " again: it is a kafka source");
    refused(
        call("sync", "table => '" + fixture.namespace + ".missing'"),
        "Cannot find table " + fixture.namespace + ".missing");
    refused(
        call("audit", table() + ", lease => 'PT-10M'"),
        "Cannot call system.audit: lease 'PT-10M' is negative");
    refused(
        call("audit", "table => '" + fixture.namespace + ".missing'"),
        "Cannot find table " + fixture.namespace + ".missing");
    refused(
        call("compact", table() + ", source => 'cold', options => map('bogus-option', '1')"),
        "Cannot compact source 'cold' of "
            + fixture.table
            + ": options {bogus-option=1} are refused by Iceberg's rewrite_data_files (");
  }

  @Test
  void unknownProceduresAndArgumentsAreRefused() throws Exception {
    refused(call("nosuch", table()), "nosuch");
    refused(call("move", table() + ", source => 'hot', target => 'cold', bogus => 1"), "bogus");
    refused(call("move", table() + ", source => 'hot'"), "target");
    refused(
        call("move", table() + ", source => 'hot', target => 'cold', max_rows => 'many'"), "many");
  }

  /** What PySpark users get: Spark's AnalysisException with a condition and a SQLSTATE. */
  private static org.apache.spark.sql.AnalysisException analysisError(String sql) throws Exception {
    Throwable error = assertThrows(Throwable.class, () -> fixture.spark.sql(sql).collect(), sql);
    assertEquals(unchanged, Observed.now(), "nothing changed after " + sql);
    assertTrue(
        error instanceof org.apache.spark.sql.AnalysisException,
        sql + " -> " + error.getClass().getName() + ": " + error.getMessage());
    return (org.apache.spark.sql.AnalysisException) error;
  }

  @Test
  void userErrorsAreAnalysisExceptionsWithAConditionAndASqlState() throws Exception {
    var invalid =
        analysisError(
            call("move", table() + ", source => 'hot', target => 'cold', older_than => 'PT-10M'"));
    assertEquals("INVALID_PARAMETER_VALUE.PATTERN", invalid.getCondition());
    assertEquals("22023", invalid.getSqlState());
    assertTrue(
        invalid
            .getMessage()
            .contains(
                "The value of parameter(s) `older_than` in `harness`.`system`.`move` is invalid:"
                    + " Cannot call system.move: older_than 'PT-10M' is negative; use an age such"
                    + " as '10 minutes'"),
        invalid.getMessage());

    var unknownSource = analysisError(call("unlock", table() + ", source => 'nope'"));
    assertEquals("INVALID_PARAMETER_VALUE.PATTERN", unknownSource.getCondition());
    assertTrue(
        unknownSource.getMessage().contains("Cannot unlock source 'nope' of " + fixture.table),
        unknownSource.getMessage());

    var table = analysisError(call("sync", "table => '" + fixture.namespace + ".missing'"));
    assertEquals("TABLE_OR_VIEW_NOT_FOUND", table.getCondition());
    assertEquals("42P01", table.getSqlState());
    assertTrue(
        table.getMessage().contains("`harness`.`" + fixture.namespace + "`.`missing`"),
        table.getMessage());
    assertTrue(
        table
            .getCause()
            .getMessage()
            .contains("Cannot find table " + fixture.namespace + ".missing"),
        String.valueOf(table.getCause()));

    var procedure = analysisError(call("nosuch", table()));
    assertEquals("ROUTINE_NOT_FOUND", procedure.getCondition());
    assertEquals("42883", procedure.getSqlState());
    assertTrue(
        procedure.getMessage().contains("`harness`.`system`.`nosuch`"), procedure.getMessage());
    assertTrue(
        procedure.getCause().getMessage().contains("it has system.move, system.sync"),
        String.valueOf(procedure.getCause()));

    // a table Spark resolves itself
    var read = analysisError("SELECT * FROM harness." + fixture.namespace + ".missing");
    assertEquals("TABLE_OR_VIEW_NOT_FOUND", read.getCondition());
  }

  private interface Job {
    int run(String[] args, java.io.PrintStream out, java.io.PrintStream err);
  }

  /** Runs a job in this JVM; returns its exit code and the "error" of its last (JSON) line. */
  private static Map.Entry<Integer, String> job(Job job, String... args) throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    java.io.PrintStream print =
        new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8);
    int code = job.run(args, print, print);
    String[] lines = out.toString(java.nio.charset.StandardCharsets.UTF_8).strip().split("\n");
    var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines[lines.length - 1]);
    assertEquals(unchanged, Observed.now(), "nothing changed after " + List.of(args));
    return Map.entry(code, json.get("error").asText());
  }

  @Test
  void jobsRefuseUnknownTablesAndSourcesNamingThem() throws Exception {
    Job move = (a, o, e) -> MoveJob.run(a, o, e, () -> fixture.spark, new StopSignal());
    var unknownSource =
        job(move, "--table", fixture.table.toString(), "--source", "nope", "--target", "cold");
    assertEquals(JobStatus.FAILED.exitCode, unknownSource.getKey());
    assertTrue(
        unknownSource.getValue().contains("Cannot find source 'nope' in table " + fixture.table),
        unknownSource.getValue());
    var unknownTable =
        job(move, "--table", fixture.namespace + ".missing", "--source", "hot", "--target", "cold");
    assertEquals(JobStatus.FAILED.exitCode, unknownTable.getKey());
    assertTrue(
        unknownTable.getValue().contains("Cannot find table " + fixture.namespace + ".missing"),
        unknownTable.getValue());
    var sameSource =
        job(move, "--table", fixture.table.toString(), "--source", "hot", "--target", "hot");
    assertEquals(JobStatus.USAGE_ERROR.exitCode, sameSource.getKey());
    var negative =
        job(
            (a, o, e) -> ExpireJob.main(a, o, e, () -> fixture.spark),
            "--table",
            fixture.table.toString(),
            "--older-than",
            "PT-10M");
    assertEquals(JobStatus.USAGE_ERROR.exitCode, negative.getKey());
    assertTrue(
        negative
            .getValue()
            .contains("Cannot expire versions of " + fixture.table + ": --older-than 'PT-10M'"),
        negative.getValue());
    var sync =
        job(
            (a, o, e) -> SyncJob.run(a, o, e, () -> fixture.spark, new StopSignal()),
            "--table",
            fixture.namespace + ".missing");
    assertEquals(JobStatus.FAILED.exitCode, sync.getKey());
    assertTrue(sync.getValue().contains("Cannot find table"), sync.getValue());
  }
}
