package io.dataharness.chaos;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs the job processes of a chaos run, each a {@code spark-submit} ({@link JobProcess}): movers
 * run {@code MoveJob} from the harness runtime jar, appends the user's own application jar ({@link
 * ChaosAppendApp}) with the runtime jar in {@code --jars}. It has {@link
 * ChaosSettings#maxProcesses} slots, each launching one job at a time (a seeded choice of kind),
 * killing it with SIGKILL at a seeded moment with the configured probability, and after a kill
 * rerunning the same kind, unkilled, until a rerun succeeds. For every kill it records how long the
 * killed job's locks kept refusing other runs (see {@link Kill}) and how long until a rerun
 * succeeded.
 */
final class Conductor {
  /** The main class of a mover in the runtime jar. */
  private static final String MOVE_JOB = "io.dataharness.spark.jobs.MoveJob";

  /** A job stuck this long is killed (and counted as hung). */
  private static final long HUNG_MILLIS = TimeUnit.MINUTES.toMillis(20);

  private final ChaosEnvironment environment;
  private final Ledger ledger;
  private final ChaosSettings settings;
  private final Path logs;
  private final SparkInstallation installation;
  private final Path appendApplicationJar;
  private final AtomicInteger runs = new AtomicInteger();
  private final AtomicInteger appendBatches = new AtomicInteger();

  /** Kills whose reruns had not succeeded when the chaos phase ended. */
  private final List<Kill> pendingAtStop = new CopyOnWriteArrayList<>();

  private final Map<String, Kill> killsByRun = new ConcurrentHashMap<>();

  final List<Kill> kills = new CopyOnWriteArrayList<>();
  final Map<JobKind, AtomicLong> launched = counters();
  final Map<JobKind, AtomicLong> succeeded = counters();
  final Map<JobKind, AtomicLong> refused = counters();
  final Map<JobKind, AtomicLong> failed = counters();
  final Map<JobKind, AtomicLong> rowsMoved = counters();
  final Map<String, Long> failureMessages = new ConcurrentHashMap<>();
  final AtomicLong hung = new AtomicLong();

  /**
   * A running average of how long the work of a successful run of each kind takes, from its session
   * being up until it exits.
   */
  private final Map<JobKind, AtomicLong> typicalWorkMillis = counters(20_000);

  /** Moves of the final phase that did not succeed before the settle timeout. */
  final List<String> unsettled = new CopyOnWriteArrayList<>();

  Conductor(
      ChaosEnvironment environment,
      Ledger ledger,
      ChaosSettings settings,
      Path logs,
      SparkInstallation installation) {
    this.environment = environment;
    this.ledger = ledger;
    this.settings = settings;
    this.logs = logs;
    this.installation = installation;
    this.appendApplicationJar = SparkInstallation.appendApplicationJar(logs);
  }

  /**
   * A job killed with SIGKILL, and what it cost: every later attempt (of any slot) refused or
   * failed with an error that names the killed job's owner ({@code chaos-<run>}, the owner of its
   * locks) is evidence that its locks still blocked work at that moment.
   */
  static final class Kill {
    final JobKind kind;
    final String run;
    final long killedNanos = System.nanoTime();
    final java.time.Instant killedAt = java.time.Instant.now();
    final long ranMillis;
    final long workMillis;

    /** Attempts refused or failed naming the killed job. */
    volatile long blockedAttempts;

    /** Attempts of other kinds refused by its open intent (until a rerun of its kind). */
    volatile long intentRefusals;

    /** Reruns that failed for another reason. */
    volatile long otherFailures;

    /** From the kill until the end of the last attempt that the killed job's locks refused. */
    volatile long blockedMillis;

    /** From the kill until a rerun of the same kind succeeded; null while none did. */
    volatile Long doneMillis;

    Kill(JobKind kind, String run, long ranMillis, long workMillis) {
      this.kind = kind;
      this.run = run;
      this.ranMillis = ranMillis;
      this.workMillis = workMillis;
    }

    long sinceKillMillis(long nanos) {
      return TimeUnit.NANOSECONDS.toMillis(nanos - killedNanos);
    }
  }

  enum Status {
    SUCCEEDED,
    LOCK_HELD,
    FAILED,
    KILLED
  }

  record Attempt(
      JobKind kind,
      String run,
      Status status,
      long startedNanos,
      long ranMillis,
      long workMillis,
      String error) {}

  /** A job's owner name in an error message: {@code 'chaos-run007-kafka_to_iceberg'}. */
  private static final Pattern OWNER = Pattern.compile("'chaos-(run\\d+-[a-z_]+)'");

  /** The expiry of the lease a refusal names ({@code ... until 2026-12-01T19:00:27.811993Z}). */
  private static final Pattern HELD_UNTIL =
      Pattern.compile("until (\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?Z)");

  /** One slot's loop until {@code stop}: the chaos phase. */
  void runSlot(int slot, AtomicBoolean stop) {
    Random random = new Random(settings.seed() * 1_000 + slot);
    Kill pending = null;
    List<JobKind> round = new ArrayList<>();
    if (slot == 0) {
      // jobs take tens of seconds each (a spark-submit JVM and its session): without this, a short
      // run may end before the shuffled rounds ever reach an append
      round.add(JobKind.KAFKA_APPEND);
    }
    while (!stop.get()) {
      JobKind kind = pending != null ? pending.kind : pick(random, round);
      boolean kill = random.nextDouble() < settings.killProbability();
      // a seeded point of the job's typical work (from its session being up until it exits), so
      // kills hit every phase of the work however loaded the machine is
      double moment = random.nextDouble() * 1.1;
      Attempt attempt = run(kind, pending == null && kill ? moment : -1);
      pending = account(pending, attempt);
      Pause.millis(pauseAfter(attempt));
    }
    if (pending != null) {
      pendingAtStop.add(pending);
    }
  }

  /**
   * The final phase: reruns of kills still pending, then each move once, without kills, each
   * retried while refused until it succeeds or the settle timeout passes; {@code beforeMove} runs
   * before every attempt (the test syncs there).
   */
  void settle(Runnable beforeMove) {
    long deadline = System.nanoTime() + settings.settleTimeout().toNanos();
    List<Kill> reruns = new ArrayList<>(pendingAtStop);
    for (Kill kill : reruns) {
      runUntilDone(kill.kind, kill, deadline, beforeMove);
    }
    for (JobKind kind : JobKind.MOVES) {
      runUntilDone(kind, null, deadline, beforeMove);
    }
  }

  private void runUntilDone(JobKind kind, Kill pending, long deadline, Runnable beforeMove) {
    while (true) {
      beforeMove.run();
      Attempt attempt = run(kind, -1);
      Kill stillPending = account(pending, attempt);
      if (attempt.status() == Status.SUCCEEDED) {
        return;
      }
      if (System.nanoTime() > deadline) {
        unsettled.add(
            kind
                + (pending != null ? " (rerun of killed " + pending.run + ")" : "")
                + ": last attempt "
                + attempt.status()
                + " "
                + ChaosReport.shorten(attempt.error()));
        return;
      }
      pending = stillPending;
      Pause.millis(pauseAfter(attempt));
    }
  }

  /**
   * Until when, after the kill, a lock refusal found the killed job's lock held: the expiry of the
   * lease the refusal names (a job's JVM start and Spark session take tens of seconds before it
   * asks for locks, so the end of the attempt would say little); the end of the attempt when the
   * refusal names no expiry.
   */
  private static long blockedMillis(Kill blocker, Attempt attempt) {
    Matcher until = HELD_UNTIL.matcher(attempt.error());
    if (until.find()) {
      return Math.max(
          0,
          java.time.Duration.between(blocker.killedAt, java.time.Instant.parse(until.group(1)))
              .toMillis());
    }
    return blocker.sinceKillMillis(System.nanoTime());
  }

  private Kill account(Kill pending, Attempt attempt) {
    JobKind kind = attempt.kind();
    long now = System.nanoTime();
    if (attempt.status() == Status.LOCK_HELD || attempt.status() == Status.FAILED) {
      Matcher owners = OWNER.matcher(attempt.error());
      while (owners.find()) {
        Kill blocker = killsByRun.get(owners.group(1));
        if (blocker != null && attempt.status() == Status.LOCK_HELD) {
          blocker.blockedAttempts++;
          blocker.blockedMillis = Math.max(blocker.blockedMillis, blockedMillis(blocker, attempt));
        } else if (blocker != null) {
          blocker.intentRefusals++; // its open intent: completed by a rerun of its kind
        }
      }
    }
    switch (attempt.status()) {
      case KILLED -> {
        Kill kill = new Kill(kind, attempt.run(), attempt.ranMillis(), attempt.workMillis());
        kills.add(kill);
        killsByRun.put(kill.run, kill);
        return kill;
      }
      case SUCCEEDED -> {
        succeeded.get(kind).incrementAndGet();
        if (attempt.workMillis() >= 0) {
          typicalWorkMillis
              .get(kind)
              .getAndUpdate(typical -> (typical * 3 + attempt.workMillis()) / 4);
        }
        if (pending != null) {
          pending.doneMillis = pending.sinceKillMillis(now);
        }
        return null;
      }
      case LOCK_HELD -> {
        refused.get(kind).incrementAndGet();
        return pending;
      }
      default -> {
        failed.get(kind).incrementAndGet();
        failureMessages.merge(
            kind + ": " + ChaosReport.shorten(attempt.error().replaceAll("run\\d+", "runN")),
            1L,
            Long::sum);
        if (pending != null) {
          pending.otherFailures++;
        }
        return pending;
      }
    }
  }

  private static long pauseAfter(Attempt attempt) {
    return switch (attempt.status()) {
      case LOCK_HELD -> 3_000;
      case FAILED -> 2_000;
      default -> 500;
    };
  }

  /**
   * The next kind of a slot: every kind comes up within each round of six (moves twice, except
   * kafka -> iceberg, and one append), in a seeded order per round.
   */
  private static JobKind pick(Random random, List<JobKind> round) {
    if (round.isEmpty()) {
      round.addAll(
          List.of(
              JobKind.KAFKA_TO_POSTGRES,
              JobKind.KAFKA_TO_POSTGRES,
              JobKind.POSTGRES_TO_ICEBERG,
              JobKind.POSTGRES_TO_ICEBERG,
              JobKind.KAFKA_TO_ICEBERG,
              JobKind.KAFKA_APPEND));
      Collections.shuffle(round, random);
    }
    return round.remove(0);
  }

  /**
   * Runs one job process; if {@code killMoment} is not negative, kills it that fraction of the
   * kind's typical work time after its work started.
   */
  private Attempt run(JobKind kind, double killMoment) {
    String name = String.format("run%03d-%s", runs.incrementAndGet(), kind.name().toLowerCase());
    JobProcess.Submission submission;
    Ledger.Append append = null;
    if (kind == JobKind.KAFKA_APPEND) {
      long from = Ledger.APPEND_IDS + appendBatches.getAndIncrement() * 1_000L;
      append = new Ledger.Append(from, from + 200 + (runs.get() * 7919L) % 800);
      ledger.appends.add(append);
      // the user's own application jar, with the harness runtime jar in --jars
      submission =
          new JobProcess.Submission(
              ChaosAppendApp.class.getName(),
              appendApplicationJar,
              installation.applicationJars(),
              List.of(
                  "--table",
                  environment.table.toString(),
                  "--from",
                  String.valueOf(append.from),
                  "--to",
                  String.valueOf(append.to)));
    } else {
      // the product's own entry point in the runtime jar
      submission =
          new JobProcess.Submission(
              MOVE_JOB,
              installation.runtimeJar,
              installation.moverJars(),
              List.of(
                  "--table",
                  environment.table.toString(),
                  "--source",
                  kind.source,
                  "--target",
                  kind.target,
                  "--max-rows",
                  String.valueOf(kind.maxRows),
                  "--owner",
                  "chaos-" + name));
    }
    launched.get(kind).incrementAndGet();
    JobProcess process =
        JobProcess.start(
            name, logs, installation, environment.jobSparkConf("chaos " + name), submission);
    long workStarted = -1;
    try {
      workStarted = process.awaitWorkStarted();
      boolean ended = workStarted < 0;
      if (!ended && killMoment >= 0) {
        long killAfterMillis = (long) (killMoment * typicalWorkMillis.get(kind).get());
        ended = process.waitFor(killAfterMillis, TimeUnit.MILLISECONDS);
        // a job whose main method already returned or threw is only running Spark's shutdown
        // hooks: its outcome is decided, so it is left to exit (as if it had ended in time)
        if (!ended && !process.mainEnded()) {
          process.kill();
          if (append != null) {
            append.outcome = Ledger.Outcome.KILLED;
          }
          return new Attempt(
              kind,
              name,
              Status.KILLED,
              process.startedNanos,
              process.elapsedMillis(),
              TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - workStarted),
              "");
        }
      }
      if (!ended && !process.waitFor(HUNG_MILLIS, TimeUnit.MILLISECONDS)) {
        hung.incrementAndGet();
        process.kill();
        if (append != null) {
          append.outcome = Ledger.Outcome.KILLED;
        }
        return new Attempt(
            kind,
            name,
            Status.FAILED,
            process.startedNanos,
            process.elapsedMillis(),
            -1,
            "hung for " + HUNG_MILLIS + " ms, killed (" + name + ")");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while running " + name, e);
    }
    int exit = process.exitValue();
    // a move with nothing to move (exit 2) did what it was asked
    boolean succeeded = exit == 0 || (append == null && exit == JobProcess.NOTHING_TO_DO_EXIT);
    Status status =
        succeeded ? Status.SUCCEEDED : process.lockHeld() ? Status.LOCK_HELD : Status.FAILED;
    if (append != null) {
      append.outcome = exit == 0 ? Ledger.Outcome.SUCCEEDED : Ledger.Outcome.FAILED;
    }
    if (status == Status.SUCCEEDED) {
      process.rowsMoved().ifPresent(rows -> rowsMoved.get(kind).addAndGet(rows));
      if (kind == JobKind.KAFKA_APPEND) {
        rowsMoved.get(kind).addAndGet(append.to - append.from);
      }
    }
    return new Attempt(
        kind,
        name,
        status,
        process.startedNanos,
        process.elapsedMillis(),
        workStarted < 0 ? -1 : TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - workStarted),
        status == Status.SUCCEEDED ? "" : process.error() + " (" + name + ")");
  }

  private static Map<JobKind, AtomicLong> counters() {
    return counters(0);
  }

  private static Map<JobKind, AtomicLong> counters(long initial) {
    Map<JobKind, AtomicLong> counters = new EnumMap<>(JobKind.class);
    for (JobKind kind : JobKind.values()) {
      counters.put(kind, new AtomicLong(initial));
    }
    return counters;
  }
}
