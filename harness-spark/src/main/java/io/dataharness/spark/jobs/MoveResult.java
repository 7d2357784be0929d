package io.dataharness.spark.jobs;

import java.util.Map;

/**
 * What a move did.
 *
 * @param version the version that recorded the move, or the latest version if nothing moved
 * @param rowsMoved rows read from the source and written to the target
 * @param replayed true when the batch had already been committed (a retried job)
 * @param summary what the version's summary records (ranges, snapshot ids)
 */
public record MoveResult(
    long version, long rowsMoved, boolean replayed, Map<String, String> summary) {}
