package io.dataharness.spark.txn;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.metrics.HarnessMetrics;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one structured line per commit of the {@link WriteProtocol}: a JSON object at INFO on the
 * logger {@value #LOGGER}, and the process-wide {@link HarnessMetrics}. Fields: {@code table},
 * {@code version}, {@code operation}, {@code sources}, {@code rows} (from the commit summary's
 * {@code rows} or {@code rows-moved}, absent when the summary has neither), {@code
 * idempotency-key}, {@code replayed}, {@code resumed}, {@code lock-wait-ms}, {@code stage-ms},
 * {@code commit-ms}, {@code publish-ms}, {@code total-ms}, {@code lock-waits} (attempts that found
 * a lock held) and {@code owner}.
 */
public final class CommitLog {
  /** The logger of the commit lines, separate from the package loggers so it can be routed. */
  static final String LOGGER = "io.dataharness.commits";

  private static final Logger LOG = LoggerFactory.getLogger(LOGGER);
  private static final ObjectMapper JSON = new ObjectMapper();

  private CommitLog() {}

  /** Times of one run, in nanoseconds from {@link System#nanoTime}. */
  static final class Timings {
    final long started;
    long lockWaitNanos;
    int lockWaits;
    long stageNanos;
    long commitNanos;
    long publishNanos;

    Timings() {
      this(System.nanoTime());
    }

    Timings(long started) {
      this.started = started;
    }

    static long millis(long nanos) {
      return nanos / 1_000_000;
    }
  }

  static void committed(
      TableIdentifier table,
      String operation,
      List<String> sources,
      VersionInfo committed,
      String idempotencyKey,
      boolean replayed,
      boolean resumed,
      String owner,
      Timings timings) {
    long totalMillis = Timings.millis(System.nanoTime() - timings.started);
    long rows = rows(committed);
    HarnessMetrics.get()
        .committed(operation, replayed, rows, totalMillis, Timings.millis(timings.lockWaitNanos));
    if (!LOG.isInfoEnabled()) {
      return;
    }
    ObjectNode line = JSON.createObjectNode();
    line.put("table", table.toString());
    line.put("version", committed.version());
    line.put("operation", operation);
    sources.forEach(line.putArray("sources")::add);
    if (rows >= 0) {
      line.put("rows", rows);
    }
    line.put("idempotency-key", idempotencyKey);
    line.put("replayed", replayed);
    line.put("resumed", resumed);
    line.put("lock-wait-ms", Timings.millis(timings.lockWaitNanos));
    line.put("stage-ms", Timings.millis(timings.stageNanos));
    line.put("commit-ms", Timings.millis(timings.commitNanos));
    line.put("publish-ms", Timings.millis(timings.publishNanos));
    line.put("total-ms", totalMillis);
    line.put("lock-waits", timings.lockWaits);
    line.put("owner", owner);
    LOG.info(line.toString());
  }

  /**
   * Logs and counts a commit made outside the write protocol, such as a sync's compare-and-set
   * commit: it has no lock wait, stage or publish; {@code startedNanos} is when it began reading.
   */
  public static void committedDirectly(
      TableIdentifier table,
      String operation,
      List<String> sources,
      VersionInfo committed,
      String owner,
      long startedNanos) {
    Timings timings = new Timings(startedNanos);
    timings.commitNanos = System.nanoTime() - startedNanos;
    committed(
        table,
        operation,
        sources,
        committed,
        committed.commit() == null ? null : committed.commit().idempotencyKey(),
        false,
        false,
        owner,
        timings);
  }

  /** The rows the commit wrote, from its summary; -1 when the summary does not say. */
  private static long rows(VersionInfo committed) {
    if (committed.commit() == null) {
      return -1;
    }
    Map<String, String> summary = committed.commit().summary();
    String rows = summary.getOrDefault("rows", summary.get("rows-moved"));
    if (rows == null) {
      return -1;
    }
    try {
      return Long.parseLong(rows);
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
