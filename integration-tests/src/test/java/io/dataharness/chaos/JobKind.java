package io.dataharness.chaos;

import java.util.List;

/** The jobs a chaos run launches as processes. */
enum JobKind {
  KAFKA_TO_POSTGRES("hot", "warm", 3_000),
  POSTGRES_TO_ICEBERG("warm", "cold", 1_500),
  KAFKA_TO_ICEBERG("hot", "cold", 3_000),
  KAFKA_APPEND(null, null, 0);

  /** The moves the final phase runs once each to completion, in this order. */
  static final List<JobKind> MOVES =
      List.of(KAFKA_TO_POSTGRES, POSTGRES_TO_ICEBERG, KAFKA_TO_ICEBERG);

  final String source;
  final String target;
  final long maxRows;

  JobKind(String source, String target, long maxRows) {
    this.source = source;
    this.target = target;
    this.maxRows = maxRows;
  }

  @Override
  public String toString() {
    return this == KAFKA_APPEND ? "append->hot" : source + "->" + target;
  }
}
