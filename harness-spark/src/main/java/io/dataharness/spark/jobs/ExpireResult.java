package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * What an expiry removed.
 *
 * @param oldestVersion the first version the table keeps now
 * @param versionsRemoved versions removed from the metadata store by this run
 * @param stateRecordsRemoved state records no kept version reads, removed from the store
 * @param tagsRemoved per Iceberg source, the harness tags removed (their snapshots are then
 *     Iceberg's own snapshot expiry's to reclaim)
 * @param historyRowsRemoved per PostgreSQL source, the history images deleted
 * @param skipped per source, why nothing was released there (run again later)
 */
public record ExpireResult(
    TableIdentifier table,
    long oldestVersion,
    long versionsRemoved,
    long stateRecordsRemoved,
    Map<String, List<String>> tagsRemoved,
    Map<String, Long> historyRowsRemoved,
    Map<String, String> skipped,
    long durationMs) {

  public int tagCount() {
    return tagsRemoved.values().stream().mapToInt(List::size).sum();
  }

  public long historyRowCount() {
    return historyRowsRemoved.values().stream().mapToLong(Long::longValue).sum();
  }

  /** Whether this run removed anything. */
  public boolean removedAnything() {
    return versionsRemoved > 0
        || stateRecordsRemoved > 0
        || tagCount() > 0
        || historyRowCount() > 0;
  }

  /** The skipped sources as {@code source: reason}. */
  public List<String> skippedList() {
    return skipped.entrySet().stream()
        .map(entry -> entry.getKey() + ": " + entry.getValue())
        .collect(Collectors.toList());
  }

  @Override
  public String toString() {
    return String.format(
        "Expired %s: kept versions from %d; removed %d versions, %d state records, %d Iceberg tags"
            + " %s, %d PostgreSQL history rows %s%s in %d ms",
        table,
        oldestVersion,
        versionsRemoved,
        stateRecordsRemoved,
        tagCount(),
        tagsRemoved,
        historyRowCount(),
        historyRowsRemoved,
        skipped.isEmpty() ? "" : "; skipped " + skippedList(),
        durationMs);
  }
}
