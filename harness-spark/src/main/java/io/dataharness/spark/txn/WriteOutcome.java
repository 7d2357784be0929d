package io.dataharness.spark.txn;

import java.util.Optional;

/**
 * What a run of the {@link WriteProtocol} did.
 *
 * @param version the version that recorded the batch, or the latest version when there was nothing
 *     to write
 * @param batch the batch written, empty when there was nothing to write
 * @param staged what staging produced, empty when there was nothing to write
 * @param replayed true when the batch had been committed before (a retried job)
 * @param resumed true when the run completed a batch that an interrupted run had started
 */
public record WriteOutcome<B, S>(
    long version, Optional<B> batch, Optional<S> staged, boolean replayed, boolean resumed) {

  public boolean wroteNothing() {
    return batch.isEmpty();
  }
}
