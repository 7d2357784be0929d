package io.dataharness.spark.audit;

import java.time.Instant;
import java.util.List;

/**
 * A write-ahead intent open at the latest version: a writer recorded that it is about to cause side
 * effects in {@code sources} and has not completed it yet.
 *
 * @param id the intent's id
 * @param kind what kind of writer opened it (for example {@code move})
 * @param owner the lock owner of the writer that opened it
 * @param sources the sources its side effects touch
 * @param openedVersion the version that recorded it
 * @param openedAt when that version was committed
 * @param completion how to complete it (the job to rerun, as SQL or a command)
 */
public record OpenIntent(
    String id,
    String kind,
    String owner,
    List<String> sources,
    long openedVersion,
    Instant openedAt,
    String completion) {
  public OpenIntent {
    sources = List.copyOf(sources);
  }
}
