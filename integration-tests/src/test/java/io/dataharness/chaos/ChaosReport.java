package io.dataharness.chaos;

import java.util.Map;
import java.util.stream.Collectors;

/** The text a chaos run prints: one summary line, then the details behind each number. */
final class ChaosReport {
  private ChaosReport() {}

  /** An exception and its causes on one line: {@code SimpleName: message <- SimpleName: ...}. */
  static String describe(Throwable e) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = e; cause != null; cause = cause.getCause()) {
      if (text.length() > 0) {
        text.append(" <- ");
      }
      text.append(cause.getClass().getSimpleName()).append(": ").append(cause.getMessage());
      if (cause.getCause() == cause) {
        break;
      }
    }
    return text.toString().replace('\n', ' ');
  }

  static String shorten(String text) {
    if (text == null) {
      return "";
    }
    String single = text.replace('\n', ' ');
    return single.length() > 240 ? single.substring(0, 237) + "..." : single;
  }

  /** The worst time from a kill until its locks last refused another run. */
  static long worstBlockedMillis(Conductor conductor) {
    return conductor.kills.stream().mapToLong(kill -> kill.blockedMillis).max().orElse(0);
  }

  static String summary(
      ChaosSettings settings,
      Ledger ledger,
      Conductor conductor,
      Reader reader,
      Verification.Findings findings,
      long endNanos) {
    long neverRerun = conductor.kills.stream().filter(kill -> kill.doneMillis == null).count();
    String blocked =
        seconds(worstBlockedMillis(conductor))
            + ", worst until a rerun succeeded="
            + conductor.kills.stream()
                .filter(kill -> kill.doneMillis != null)
                .mapToLong(kill -> kill.doneMillis)
                .max()
                .stream()
                .mapToObj(ChaosReport::seconds)
                .findFirst()
                .orElse("-")
            + (neverRerun > 0 ? " (" + neverRerun + " kills without a successful rerun)" : "");
    return "CHAOS RESULT seed="
        + settings.seed()
        + " duration="
        + settings.duration()
        + ": versions checked="
        + findings.versionsChecked
        + "/"
        + findings.latestVersion
        + ", rows checked="
        + findings.rowsChecked
        + ", duplicates="
        + findings.duplicateRows
        + " (in "
        + findings.versionsWithDuplicates
        + " versions), gaps="
        + findings.gaps
        + "/"
        + findings.expectedRows
        + ", lost updates="
        + findings.lostUpdates
        + "/"
        + findings.applicationRowsChecked
        + ", deleted came back="
        + findings.deletedCameBack
        + "/"
        + ledger.deleted.size()
        + ", partial appends="
        + findings.partialAppends
        + ", iceberg duplicates="
        + findings.icebergDuplicates
        + ", unreadable versions="
        + findings.unreadableVersions.size()
        + ", reader: "
        + reader.reads.get()
        + " reads, "
        + reader.readsWithDuplicates.get()
        + " with duplicates, "
        + reader.failures.get()
        + " failed; kills="
        + conductor.kills.size()
        + ", worst blocked by a killed job's locks="
        + blocked;
  }

  static String details(
      ChaosEnvironment environment,
      Ledger ledger,
      Conductor conductor,
      Reader reader,
      Background background,
      Verification.Findings findings,
      long endNanos) {
    StringBuilder text = new StringBuilder();
    line(
        text,
        "table %s, store database %s, job logs in %s",
        environment.table,
        environment.storeDatabase.name(),
        environment.workDirectory.resolve("jobs"));
    line(
        text,
        "produced %d Kafka messages; application: %d inserts, %d updates, %d deletes, %d"
            + " updates/deletes of rows no longer in PostgreSQL, %d connection errors",
        ledger.produced.get(),
        ledger.applicationInserts.get(),
        ledger.applicationUpdates.get(),
        ledger.applicationDeletes.get(),
        ledger.applicationMisses.get(),
        ledger.applicationErrors.get());
    for (JobKind kind : JobKind.values()) {
      line(
          text,
          "jobs %s: %d launched, %d succeeded (%d rows), %d refused (lock held), %d failed",
          kind,
          conductor.launched.get(kind).get(),
          conductor.succeeded.get(kind).get(),
          conductor.rowsMoved.get(kind).get(),
          conductor.refused.get(kind).get(),
          conductor.failed.get(kind).get());
    }
    if (conductor.hung.get() > 0) {
      line(text, "jobs hung and killed: %d", conductor.hung.get());
    }
    conductor.failureMessages.forEach(
        (message, count) -> line(text, "  job failure x%d: %s", count, message));
    for (Conductor.Kill kill : conductor.kills) {
      line(
          text,
          "kill %s (%s) %s after its start (%s into its work): its locks refused %d later runs,"
              + " held until %s after the kill; its open intent refused %d runs of other kinds; a"
              + " rerun succeeded %s (%d reruns failed otherwise)",
          kill.run,
          kill.kind,
          seconds(kill.ranMillis),
          seconds(kill.workMillis),
          kill.blockedAttempts,
          seconds(kill.blockedMillis),
          kill.intentRefusals,
          kill.doneMillis == null ? "never" : seconds(kill.doneMillis) + " after the kill",
          kill.otherFailures);
    }
    conductor.unsettled.forEach(move -> line(text, "final move not completed: %s", move));
    line(
        text,
        "syncs: %d ok, %d failed; metadata connection drops: %d (%d backends terminated)",
        background.syncs.get(),
        background.syncFailures.get(),
        background.connectionDrops.get(),
        background.connectionsTerminated.get());
    background.syncFailureMessages.forEach(
        (message, count) -> line(text, "  sync failure x%d: %s", count, message));
    line(
        text,
        "reader (long-lived session, caching Iceberg catalog): %d reads, %d with duplicates (%d"
            + " extra rows), %d failed",
        reader.reads.get(),
        reader.readsWithDuplicates.get(),
        reader.duplicateRows.get(),
        reader.failures.get());
    reader.failureMessages.forEach(
        (message, count) -> line(text, "  read failure x%d: %s", count, message));
    line(
        text,
        "versions: %d checked of %d, %d rows; duplicates %d rows in %d versions %s",
        findings.versionsChecked,
        findings.latestVersion,
        findings.rowsChecked,
        findings.duplicateRows,
        findings.versionsWithDuplicates,
        compact(findings.duplicatesByVersion));
    findings.unreadableVersions.forEach(
        (version, message) -> line(text, "  version %d unreadable: %s", version, message));
    findings.staleSources.forEach(
        stale -> line(text, "latest version is behind its source: %s", stale));
    line(
        text,
        "latest version %d: %d rows, %d expected; gaps %d %s (first: %s); unknown rows %d",
        findings.latestVersion,
        findings.latestRows,
        findings.expectedRows,
        findings.gaps,
        findings.gapsByOrigin,
        findings.gapSample,
        findings.unknownRows);
    line(
        text,
        "application rows checked %d, lost updates %d %s",
        findings.applicationRowsChecked,
        findings.lostUpdates,
        findings.lostUpdateSample);
    line(
        text,
        "deleted rows %d, came back %d (first: %s)",
        ledger.deleted.size(),
        findings.deletedCameBack,
        findings.deletedCameBackSample);
    line(
        text,
        "killed or failed appends: %d all present, %d all absent, %d partial %s",
        findings.uncertainAppendsPresent,
        findings.uncertainAppendsAbsent,
        findings.partialAppends,
        findings.partialAppendSample);
    line(
        text,
        "sources on their own: Iceberg %d rows, %d duplicate ids; PostgreSQL %d rows, %d of them"
            + " also in Iceberg",
        findings.icebergRows,
        findings.icebergDuplicates,
        findings.postgresRows,
        findings.inPostgresAndIceberg);
    return text.toString();
  }

  private static String compact(Map<Long, Long> byVersion) {
    if (byVersion.isEmpty()) {
      return "";
    }
    return byVersion.entrySet().stream()
        .limit(40)
        .map(entry -> "v" + entry.getKey() + ":+" + entry.getValue())
        .collect(Collectors.joining(" ", "[", byVersion.size() > 40 ? " ...]" : "]"));
  }

  static String seconds(long millis) {
    return String.format("%.1f s", millis / 1000.0);
  }

  private static void line(StringBuilder text, String format, Object... arguments) {
    text.append(String.format(format, arguments)).append('\n');
  }
}
