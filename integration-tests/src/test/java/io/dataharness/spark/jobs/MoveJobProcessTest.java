package io.dataharness.spark.jobs;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.TableVersion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link MoveJob} as a scheduler runs it: a JVM of its own ({@link JobLauncher}) against the test's
 * real Kafka, PostgreSQL and Iceberg, judged by its exit code, its last stdout line (JSON) and the
 * table's versions.
 */
class MoveJobProcessTest {
  private static final String MOVE_JOB = MoveJob.class.getName();

  @TempDir Path directory;

  private String[] move(MoveFixture fixture, String... more) {
    List<String> arguments =
        new ArrayList<>(
            List.of("--table", fixture.table.toString(), "--source", "hot", "--target", "cold"));
    arguments.addAll(List.of(more));
    return arguments.toArray(String[]::new);
  }

  @Test
  void exitCodesTellNothingToDoMovedLockHeldAndUsageErrorApart() throws Exception {
    MoveFixture fixture = new MoveFixture(2, "");
    HarnessStore store = fixture.catalog().store();
    long created = store.readLatest(fixture.table).version();

    // an empty topic: nothing to do
    JobLauncher nothing = JobLauncher.start(directory, MOVE_JOB, move(fixture));
    assertEquals(2, nothing.exitCode(), nothing.report());
    JsonNode none = nothing.result();
    assertEquals("nothing-to-do", none.get("status").asText(), none.toString());
    assertEquals(0, none.get("batches").asInt());
    assertEquals(0, none.get("rows_moved").asLong());
    assertTrue(none.get("error").isNull(), none.toString());
    assertTrue(nothing.stdout().contains("Nothing to move in " + fixture.table), nothing.report());
    assertEquals(created, store.readLatest(fixture.table).version());

    // 50 rows, at most 15 per batch, until empty: four versions of 15, 15, 15 and 5 rows
    fixture.produce(0, 50);
    JobLauncher untilEmpty =
        JobLauncher.start(directory, MOVE_JOB, move(fixture, "--max-rows", "15", "--until-empty"));
    assertEquals(0, untilEmpty.exitCode(), untilEmpty.report());
    JsonNode moved = untilEmpty.result();
    assertEquals("move", moved.get("job").asText());
    assertEquals(fixture.table.toString(), moved.get("table").asText());
    assertEquals("hot", moved.get("source").asText());
    assertEquals("cold", moved.get("target").asText());
    assertEquals("moved", moved.get("status").asText(), moved.toString());
    assertEquals(4, moved.get("batches").asInt(), moved.toString());
    assertEquals(50, moved.get("rows_moved").asLong(), moved.toString());
    assertFalse(moved.get("replayed").asBoolean());
    List<Long> versions = new ArrayList<>();
    moved.get("versions").forEach(version -> versions.add(version.asLong()));
    assertEquals(
        List.of(created + 1, created + 2, created + 3, created + 4), versions, moved.toString());
    assertEquals(created + 4, store.readLatest(fixture.table).version());
    // the counts match the table: every row is in cold now, each exactly once
    assertEquals(50, fixture.icebergMainCount());
    assertEquals(MoveFixture.range(0, 50), fixture.ids());
    long[] perBatch = {15, 15, 15, 5};
    for (int i = 0; i < versions.size(); i++) {
      TableVersion version = store.readVersion(fixture.table, versions.get(i));
      assertEquals("hot", version.commit().summary().get("source"));
      assertEquals(String.valueOf(perBatch[i]), version.commit().summary().get("rows"));
      assertEquals(MoveFixture.range(0, 50), fixture.idsAt(versions.get(i)));
    }
    String lines = untilEmpty.stdout();
    assertEquals(4, lines.lines().filter(line -> line.startsWith("Moved ")).count(), lines);
    assertTrue(lines.contains("Nothing to move in " + fixture.table), lines);

    // another owner holds the source's lock: retry later
    fixture.produce(50, 60);
    try (LeaseKeeper holder =
        LeaseKeeper.acquire(store, fixture.table, "another-mover", Set.of("hot"))) {
      JobLauncher refused = JobLauncher.start(directory, MOVE_JOB, move(fixture));
      assertEquals(3, refused.exitCode(), refused.report());
      JsonNode held = refused.result();
      assertEquals("lock-held", held.get("status").asText(), held.toString());
      assertTrue(held.get("error").asText().contains("another-mover"), held.toString());
      assertTrue(held.get("error").asText().startsWith("LockHeldException: "), held.toString());
      assertEquals(0, held.get("batches").asInt());
    }
    assertEquals(created + 4, store.readLatest(fixture.table).version());

    // a bad option: refused before Spark starts, naming the option
    JobLauncher bad =
        JobLauncher.start(directory, MOVE_JOB, move(fixture, "--older-than", "PT-10M"));
    assertEquals(64, bad.exitCode(), bad.report());
    assertEquals("usage-error", bad.result().get("status").asText());
    assertTrue(
        bad.result().get("error").asText().contains("--older-than 'PT-10M' is negative"),
        bad.report());

    // --help: usage and exit 0
    JobLauncher help = JobLauncher.start(directory, MOVE_JOB, "--help");
    assertEquals(0, help.exitCode(), help.report());
    assertTrue(help.stdout().startsWith("Usage: spark-submit"), help.report());
    assertTrue(help.stdout().contains("--until-empty"), help.report());
  }

  /**
   * {@code --every} as a service, SIGTERM in the middle of a batch (rows written to the target, the
   * harness commit not yet made): the batch finishes and commits, no further batch starts, the job
   * prints its JSON line and exits 0; every version reads each row once, without gaps.
   */
  @Test
  void everyStopsOnSigtermAfterFinishingItsBatch() throws Exception {
    MoveFixture fixture = new MoveFixture(2, "");
    HarnessStore store = fixture.catalog().store();
    long created = store.readLatest(fixture.table).version();
    fixture.produce(0, 40);
    Path resume = directory.resolve("resume");
    List<String> arguments =
        new ArrayList<>(
            List.of(
                "-D" + PausingMoveJob.RESUME_PROPERTY + "=" + resume,
                PausingMoveJob.class.getName()));
    arguments.addAll(
        List.of(move(fixture, "--max-rows", "10", "--until-empty", "--every", "1 second")));
    JobLauncher service = JobLauncher.startWithJvmOptions(directory, arguments);

    await()
        .atMost(Duration.ofMinutes(3))
        .until(
            () -> service.stdout().contains(PausingMoveJob.PAUSED) || !service.process.isAlive());
    assertTrue(service.process.isAlive(), service.report());
    service.process.destroy(); // SIGTERM
    await()
        .atMost(Duration.ofMinutes(1))
        .until(() -> service.stderrText().contains("SIGTERM received"));
    assertTrue(service.process.isAlive(), "the job must wait for its batch: " + service.report());
    Files.createFile(resume);

    assertEquals(0, service.exitCode(), service.report());
    JsonNode result = service.result();
    assertEquals("moved", result.get("status").asText(), result.toString());
    // the batch held at SIGTERM, and no other: --until-empty stops between batches too
    assertEquals(1, result.get("batches").asInt(), result.toString());
    assertEquals(10, result.get("rows_moved").asLong(), result.toString());
    assertEquals(created + 1, result.get("versions").get(0).asLong(), result.toString());
    TableVersion latest = store.readLatest(fixture.table);
    assertEquals(created + 1, latest.version());
    assertTrue(latest.openIntent("hot").isEmpty(), "no intent left open: " + latest.openIntents());
    assertEquals(10, fixture.icebergMainCount());
    // the locks were released: another owner takes them at once
    SourceLock hot = store.acquireLock(fixture.table, "hot", "checker", Duration.ofSeconds(5));
    SourceLock cold = store.acquireLock(fixture.table, "cold", "checker", Duration.ofSeconds(5));
    store.releaseLock(hot);
    store.releaseLock(cold);
    // every version re-read: no duplicates, no gaps
    assertEquals(List.of(), fixture.idsAt(created));
    assertEquals(MoveFixture.range(0, 40), fixture.idsAt(created + 1));
    assertEquals(MoveFixture.range(0, 40), fixture.ids());
  }
}
