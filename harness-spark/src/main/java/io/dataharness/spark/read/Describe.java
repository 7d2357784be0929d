package io.dataharness.spark.read;

import io.dataharness.metadata.SourceState;
import java.util.stream.Collectors;

/** Short descriptions of what a read reads, for scan descriptions and logs (SPEC 4.1). */
public final class Describe {
  private Describe() {}

  /** e.g. {@code hot kafka events[0:3-10,1:0-4] (latest)}. */
  public static String read(SourceRead read) {
    String id = read.source().id() + " " + read.source().kind().id() + " ";
    SourceState state = read.state();
    if (state instanceof SourceState.Kafka kafka) {
      return id
          + read.source().option("topic").orElse("?")
          + kafka.partitions().entrySet().stream()
              .map(e -> e.getKey() + ":" + e.getValue().start() + "-" + e.getValue().end())
              .collect(Collectors.joining(",", "[", "]"))
          + " ("
          + read.options().kafkaReadMode().name().toLowerCase(java.util.Locale.ROOT)
          + ")";
    }
    if (state instanceof SourceState.Jdbc jdbc) {
      return id + read.source().option("table").orElse("?") + " as of " + jdbc.readTimestamp();
    }
    SourceState.Iceberg iceberg = (SourceState.Iceberg) state;
    return id
        + read.source().option("table").orElse("?")
        + (iceberg.snapshotId().isPresent()
            ? " snapshot " + iceberg.snapshotId().getAsLong()
            : " (empty)");
  }
}
