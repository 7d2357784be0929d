package io.dataharness.chaos;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The chaos test of issue 9: mover and append jobs run as {@code spark-submit} processes (main
 * class {@code org.apache.spark.deploy.SparkSubmit} over Spark's jars, see {@link JobProcess}) of
 * the harness runtime jar that the build packaged: movers are {@code --class
 * io.dataharness.spark.jobs.MoveJob <runtime jar>}, appends a small application jar of the user's
 * ({@link ChaosAppendApp}) with the runtime jar in {@code --jars}. They are killed with SIGKILL at
 * seeded random moments and rerun, while a producer writes to Kafka, an application inserts,
 * updates and deletes PostgreSQL rows directly, a long-lived session reads the table, syncs run and
 * the metadata store's connections are dropped. Then everything stops, each move runs once more
 * without kills, and every version is re-read.
 *
 * <p>Run: {@code ./mvnw -o -B -pl integration-tests -am verify -Dtest=ChaosTest
 * -Dsurefire.failIfNoSpecifiedTests=false -Dnotebooks.skip=true} with optional {@code
 * -Dchaos.duration=PT60S} (smoke) or {@code PT10M}, {@code -Dchaos.seed=N} and the other settings
 * of {@link ChaosSettings}. The result is the line {@code CHAOS RESULT ...} in the test output and
 * {@code target/chaos-report.txt}; each job's output is in the job logs directory it names.
 *
 * <p>It asserts what a user would notice: no version shows a row twice, the latest version holds
 * every row written, every application write survives, no deleted row comes back, an append is all
 * or nothing, the Iceberg table on its own holds each row once, every version can be read. How long
 * killed jobs blocked their reruns is reported, never asserted.
 */
class ChaosTest {

  @Test
  void killedJobsNeitherDuplicateNorLoseRows() throws Exception {
    ChaosSettings settings = ChaosSettings.fromSystemProperties();
    System.out.println("CHAOS settings " + settings);
    // fails (naming how to build it) when the runtime jar is missing
    SparkInstallation installation = SparkInstallation.load();
    System.out.println("CHAOS runtime jar " + installation.runtimeJar);
    ChaosEnvironment environment = new ChaosEnvironment();
    Path logs = Files.createDirectories(environment.workDirectory.resolve("jobs"));
    Ledger ledger = new Ledger();
    AtomicBoolean stopWorkload = new AtomicBoolean();
    AtomicBoolean stopJobs = new AtomicBoolean();
    Map<String, Throwable> crashed = new ConcurrentHashMap<>();
    long seed = settings.seed();

    Reader reader =
        new Reader(
            environment.readerSession,
            environment.qualified(ChaosEnvironment.READ_CATALOG),
            () -> environment.store().readLatest(environment.table).version(),
            seed + 3,
            stopWorkload);
    Background background =
        new Background(
            environment.readerSession,
            ChaosEnvironment.READ_CATALOG,
            environment.table.toString(),
            environment.storeDatabase,
            settings.dropConnections(),
            seed + 4,
            stopWorkload);
    Conductor conductor = new Conductor(environment, ledger, settings, logs, installation);

    List<Thread> workload = new ArrayList<>();
    workload.add(
        start(
            "chaos-producer",
            new Producer(environment.kafka, environment.topic, ledger, seed + 1, stopWorkload),
            crashed));
    workload.add(
        start(
            "chaos-application",
            new Application(
                environment.sourceDatabase,
                environment.postgresTable,
                ledger,
                seed + 2,
                stopWorkload),
            crashed));
    workload.add(start("chaos-reader", reader, crashed));
    workload.add(start("chaos-background", background, crashed));
    List<Thread> slots = new ArrayList<>();
    for (int slot = 0; slot < settings.maxProcesses(); slot++) {
      int number = slot;
      slots.add(start("chaos-slot-" + slot, () -> conductor.runSlot(number, stopJobs), crashed));
    }

    long startNanos = System.nanoTime();
    long endOfChaos = startNanos + settings.duration().toNanos();
    long latestEndOfChaos = startNanos + settings.duration().multipliedBy(3).toNanos();
    while (crashed.isEmpty()
        && System.nanoTime() < latestEndOfChaos
        && (System.nanoTime() < endOfChaos || conductor.kills.size() < settings.minKills())) {
      Thread.sleep(1_000);
    }
    // the jobs running now finish (or are killed as planned) while the workload goes on
    stopJobs.set(true);
    for (Thread thread : slots) {
      thread.join();
    }
    stopWorkload.set(true);
    for (Thread thread : workload) {
      thread.join(TimeUnit.MINUTES.toMillis(2));
    }
    assertEquals(Map.of(), crashed, "workload threads that crashed");

    long settleNanos = System.nanoTime();
    conductor.settle(background::sync);
    background.sync();
    long endNanos = System.nanoTime();

    Verification.Findings findings = Verification.run(environment, ledger);
    // the auditor checks the invariants over the whole history and the sources' own records
    List<org.apache.spark.sql.Row> violations =
        environment
            .spark
            .sql(
                "CALL "
                    + ChaosEnvironment.CHECK_CATALOG
                    + ".system.audit(table => '"
                    + environment.table
                    + "')")
            .collectAsList();
    List<String> auditErrors =
        violations.stream()
            .filter(row -> "error".equals(row.getString(1)))
            .map(org.apache.spark.sql.Row::toString)
            .toList();
    String phases =
        String.format(
            "phases: chaos (until the last chaos job ended) %s, final moves %s, verification %s",
            ChaosReport.seconds(TimeUnit.NANOSECONDS.toMillis(settleNanos - startNanos)),
            ChaosReport.seconds(TimeUnit.NANOSECONDS.toMillis(endNanos - settleNanos)),
            ChaosReport.seconds(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - endNanos)));
    String summary = ChaosReport.summary(settings, ledger, conductor, reader, findings, endNanos);
    String details =
        ChaosReport.details(environment, ledger, conductor, reader, background, findings, endNanos);
    details += phases + "\n";
    details +=
        "audit: "
            + violations.size()
            + " violations, "
            + auditErrors.size()
            + " errors"
            + (violations.isEmpty() ? "" : " " + violations)
            + "\n";
    System.out.println(details);
    System.out.println(summary);
    Files.writeString(
        Path.of("target", "chaos-report.txt"),
        "CHAOS settings " + settings + "\n" + details + summary + "\n",
        StandardCharsets.UTF_8);

    // the run did what it claims: rows, versions and kills
    assertTrue(ledger.produced.get() > 0, "nothing was produced");
    assertTrue(findings.latestVersion > 1, "no version after the table's creation");
    assertAll(
        summary,
        () -> assertTrue(!conductor.kills.isEmpty(), "no job was killed"),
        () -> assertEquals(0, findings.duplicateRows, "duplicate rows over all versions"),
        () -> assertEquals(0, findings.gaps, "rows missing from the latest version"),
        () -> assertEquals(0, findings.lostUpdates, "application writes lost"),
        () -> assertEquals(0, findings.deletedCameBack, "deleted rows that came back"),
        () -> assertEquals(0, findings.partialAppends, "appends only partly visible"),
        () -> assertEquals(0, findings.icebergDuplicates, "duplicate ids in the Iceberg table"),
        () -> assertEquals(Map.of(), findings.unreadableVersions, "versions that cannot be read"),
        () -> assertEquals(0, reader.readsWithDuplicates.get(), "reads that showed duplicates"),
        () -> assertEquals(List.of(), auditErrors, "violations the auditor found"));
  }

  private static Thread start(String name, Runnable body, Map<String, Throwable> crashed) {
    Thread thread =
        new Thread(
            () -> {
              try {
                body.run();
              } catch (Throwable e) {
                crashed.put(name, e);
              }
            },
            name);
    thread.setDaemon(true);
    thread.start();
    return thread;
  }
}
