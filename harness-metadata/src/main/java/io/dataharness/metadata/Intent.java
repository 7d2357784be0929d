package io.dataharness.metadata;

import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A write-ahead intent: a writer is about to cause side effects in {@code sources} that a later
 * version could expose (rows deleted from PostgreSQL, rows upserted into PostgreSQL, a staged
 * Iceberg snapshot), and records what it is about to do before doing it.
 *
 * <p>A commit opens an intent with {@link Transaction#openIntent} and closes it with {@link
 * Transaction#completeIntent}. While it is open, the store refuses every commit that changes or
 * removes one of its sources with {@link IntentPendingException}, unless the commit completes the
 * intent or presents locks with exactly the intent's fencing tokens (the live writer that opened
 * it). Whoever finds an open intent (a rerun of the job, an operator) reads {@link #payload()} to
 * redo or undo the side effects, then completes it.
 *
 * @param id the intent's id, unique in its table for ever (ids are single-use)
 * @param kind what kind of side effect ({@code move}, {@code upsert}, {@code append}), for people
 *     and for the writer that completes it
 * @param owner the owner of the locks it was opened under
 * @param sources the sources it covers, in id order
 * @param fencingTokens the fencing tokens of the locks it was opened under, by source id
 * @param payload writer-defined JSON text: what to redo or undo (may be null)
 * @param openedVersion the version whose commit opened it
 * @param openedAt when that commit happened (the store's clock)
 */
public record Intent(
    String id,
    String kind,
    String owner,
    List<String> sources,
    Map<String, Long> fencingTokens,
    String payload,
    long openedVersion,
    Instant openedAt) {

  public Intent {
    sources = List.copyOf(sources);
    fencingTokens = Collections.unmodifiableMap(new TreeMap<>(fencingTokens));
  }

  /** Whether the intent covers {@code sourceId}. */
  public boolean covers(String sourceId) {
    return sources.contains(sourceId);
  }

  /** For error messages: id, kind, owner, opened version and sources. */
  public String describe() {
    return String.format(
        "'%s' (kind %s, owner '%s', opened at version %d, sources %s)",
        id, kind, owner, openedVersion, sources);
  }
}
