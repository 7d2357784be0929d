package io.dataharness.metadata;

import java.util.Map;

/**
 * How one commit changed one source: its state before and after (null before when the commit added
 * the source, null after when it removed it), and the ids the write produced in the source's own
 * system (an Iceberg snapshot id, Kafka offsets, a PostgreSQL transaction id).
 */
public record SourceChange(
    String sourceId, SourceState before, SourceState after, Map<String, String> externalIds) {
  public SourceChange {
    externalIds = Map.copyOf(externalIds == null ? Map.of() : externalIds);
  }
}
