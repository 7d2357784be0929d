package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What a move job moves: rows of {@code source} to {@code target} of one harness table, bounded by
 * row count and/or age, as one harness transaction per batch.
 *
 * @param table the harness table
 * @param source the source id rows leave
 * @param target the source id rows arrive in
 * @param maxRows at most this many rows in the batch (Kafka: in total over its partitions)
 * @param olderThan only rows older than this (by the ordering column, or the Kafka timestamp)
 * @param owner the lock owner name, shown in the locks metadata table
 */
public record MoveRequest(
    TableIdentifier table,
    String source,
    String target,
    OptionalLong maxRows,
    Optional<Duration> olderThan,
    String owner) {}
