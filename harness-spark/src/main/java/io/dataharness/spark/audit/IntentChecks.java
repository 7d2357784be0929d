package io.dataharness.spark.audit;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Interrupted writers: an intent open at the latest version, opened longer ago than a lease, with
 * no live lock on any of its sources. A live writer holds (and renews) the locks of the sources it
 * opened the intent for, so nobody holding them means the writer is gone and only a rerun completes
 * (or rolls back) what it started.
 */
final class IntentChecks {
  private final HarnessStore store;
  private final TableIdentifier table;
  private final List<TableVersion> versions;
  private final OpenIntents intents;
  private final Duration lease;
  private final Instant now;

  IntentChecks(
      HarnessStore store,
      TableIdentifier table,
      List<TableVersion> versions,
      OpenIntents intents,
      Duration lease,
      Instant now) {
    this.store = store;
    this.table = table;
    this.versions = versions;
    this.intents = intents;
    this.lease = lease;
    this.now = now;
  }

  List<Violation> check() {
    List<Violation> violations = new ArrayList<>();
    if (versions.isEmpty()) {
      return violations;
    }
    TableVersion latest = versions.get(versions.size() - 1);
    List<OpenIntent> open = intents.open(latest, versions);
    if (open.isEmpty()) {
      return violations;
    }
    List<SourceLock> locks =
        store.listLocks(table).stream().filter(lock -> lock.expiresAt().isAfter(now)).toList();
    for (OpenIntent intent : open) {
      Duration age = Duration.between(intent.openedAt(), now);
      if (age.compareTo(lease) <= 0) {
        continue;
      }
      List<SourceLock> holders =
          locks.stream().filter(lock -> intent.sources().contains(lock.sourceId())).toList();
      if (!holders.isEmpty()) {
        continue;
      }
      violations.add(
          new Violation(
              Check.INTERRUPTED_WRITER,
              String.join(",", intent.sources()),
              List.of(intent.openedVersion(), latest.version()),
              String.format(
                  "Intent '%s' (%s by '%s' on sources %s) opened at version %d (%s) is still open"
                      + " at version %d, longer than a lease (%s), and nobody holds a lock on its"
                      + " sources: interrupted writer: rerun %s to complete it",
                  intent.id(),
                  intent.kind(),
                  intent.owner(),
                  intent.sources(),
                  intent.openedVersion(),
                  intent.openedAt(),
                  latest.version(),
                  lease,
                  intent.completion())));
    }
    return violations;
  }
}
