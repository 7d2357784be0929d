package io.dataharness.chaos;

import io.dataharness.testing.TestingKafka;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Produces JSON messages with unique, contiguous ids {@code 0, 1, 2, ...} (partition {@code id %
 * 3}), {@code message = 'k-<id>'}, {@code updated_at} = the time of producing, in small batches.
 */
final class Producer implements Runnable {
  private final TestingKafka kafka;
  private final String topic;
  private final Ledger ledger;
  private final Random random;
  private final AtomicBoolean stop;

  Producer(TestingKafka kafka, String topic, Ledger ledger, long seed, AtomicBoolean stop) {
    this.kafka = kafka;
    this.topic = topic;
    this.ledger = ledger;
    this.random = new Random(seed);
    this.stop = stop;
  }

  @Override
  public void run() {
    while (!stop.get()) {
      long from = ledger.produced.get();
      long to = from + 5 + random.nextInt(36);
      String now = Instant.now().truncatedTo(ChronoUnit.MICROS).toString();
      for (int partition = 0; partition < ChaosEnvironment.PARTITIONS; partition++) {
        List<String> values = new ArrayList<>();
        for (long id = from; id < to; id++) {
          if (id % ChaosEnvironment.PARTITIONS == partition) {
            values.add(
                String.format(
                    "{\"id\": %d, \"message\": \"k-%d\", \"updated_at\": \"%s\"}", id, id, now));
          }
        }
        kafka.produceJson(topic, partition, values);
      }
      ledger.produced.set(to);
      Pause.millis(50 + random.nextInt(150));
    }
  }
}
