package io.dataharness.spark.source;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.spark.ConnectionConfig;
import java.util.List;
import java.util.Map;

/**
 * Kafka sources: which partitions a source covers, the offsets the topic retains, and the state a
 * source starts at when registered. Uses only kafka-clients (no Spark).
 *
 * <p>Source options: {@code topic} (required), {@code partitions} (optional subset such as {@code
 * 0,2}; default every partition of the topic), {@code format} ({@code json}, the default and only
 * one supported now), {@code start} ({@code earliest}, the default: the topic's retained messages
 * are part of the table from version 1; or {@code latest}: start empty at the current end).
 */
public final class KafkaSources {
  private KafkaSources() {}

  /** The partitions the source covers: its declared subset, or every partition of the topic. */
  public static List<Integer> partitions(ConnectionConfig connection, SourceDefinition source) {
    throw new UnsupportedOperationException("TODO");
  }

  /** The state a newly registered source starts at (see the class documentation). */
  public static SourceState.Kafka initialState(
      ConnectionConfig connection, SourceDefinition source) {
    throw new UnsupportedOperationException("TODO");
  }

  /** The live end offsets (high watermarks; read-committed) of the given partitions. */
  public static Map<Integer, Long> endOffsets(
      ConnectionConfig connection, String topic, List<Integer> partitions) {
    throw new UnsupportedOperationException("TODO");
  }

  /** The earliest offsets still retained by the broker for the given partitions. */
  public static Map<Integer, Long> earliestOffsets(
      ConnectionConfig connection, String topic, List<Integer> partitions) {
    throw new UnsupportedOperationException("TODO");
  }

  /**
   * Fails with a clear error if the broker no longer retains some offsets the state needs (retention
   * deleted them): the message names the table/version description given, the topic, the
   * partition and the missing range, and says how to fix it.
   */
  public static void checkRetained(
      ConnectionConfig connection, String topic, SourceState.Kafka state, String describe) {
    throw new UnsupportedOperationException("TODO");
  }
}
