package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** {@code df.writeTo("harness.ns.t").append()} to each kind of write source, on real services. */
class HarnessAppendTest {

  private static Dataset<Row> rows(MoveFixture fixture, long from, long to, String prefix) {
    return fixture.spark.sql(
        "SELECT id, concat('"
            + prefix
            + "', CAST(id AS STRING)) AS message, CAST(1 AS BIGINT) AS version FROM range("
            + from
            + ", "
            + to
            + ")");
  }

  @Test
  void appendsToAKafkaWriteSourceRecordTheProducedOffsets() throws Exception {
    MoveFixture fixture = new MoveFixture(3, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    rows(fixture, 0, 100, "k").writeTo(fixture.qualified).append();
    TableVersion appended = fixture.catalog().store().readLatest(fixture.table);
    assertEquals("append", appended.commit().operation());
    assertEquals("100", appended.commit().summary().get("rows"));
    // each append task commits its own Kafka transaction, whose commit markers take offsets of
    // their
    // own: a task that commits before another finishes leaves markers inside the recorded ranges
    long offsets = ((SourceState.Kafka) appended.state("hot")).offsetCount();
    int markers = 3 * rows(fixture, 0, 100, "k").rdd().getNumPartitions();
    assertTrue(
        offsets >= 100 && offsets <= 100 + markers,
        offsets + " offsets recorded for 100 messages and at most " + markers + " markers");
    // pinned to the version: exactly the rows the append recorded
    assertEquals(
        MoveFixture.range(0, 100),
        fixture.ids(
            "SELECT id FROM " + fixture.qualified + " VERSION AS OF " + appended.version()));
    assertEquals(
        java.util.List.of("[7,k7,1]"),
        fixture.rows("SELECT id, message, version FROM " + fixture.qualified + " WHERE id = 7"));

    fixture.move("hot", "cold", null);
    rows(fixture, 100, 150, "k").writeTo(fixture.qualified).append();
    assertEquals(MoveFixture.range(0, 150), fixture.ids());
  }

  @Test
  void aKafkaAppendThatFailsHalfwayLeavesNoneOfItsRows() throws Exception {
    MoveFixture fixture = new MoveFixture(3, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    rows(fixture, 0, 20, "k").writeTo(fixture.qualified).append();
    // the second Spark partition fails after the first one's rows were produced
    org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> failing =
        fixture.spark.sql(
            "SELECT id, CASE WHEN id = 150 THEN raise_error('injected failure') ELSE"
                + " concat('f', CAST(id AS STRING)) END AS message, CAST(1 AS BIGINT) AS version"
                + " FROM range(100, 200, 1, 2)");
    Exception failed =
        org.junit.jupiter.api.Assertions.assertThrows(
            Exception.class, () -> failing.writeTo(fixture.qualified).append());
    assertTrue(String.valueOf(failed.getMessage()).contains("injected failure"), failed.toString());
    assertEquals(MoveFixture.range(0, 20), fixture.ids());
    // the next append completes the failed one's intent; none of its rows ever shows
    rows(fixture, 20, 30, "k").writeTo(fixture.qualified).append();
    fixture.sync();
    assertEquals(MoveFixture.range(0, 30), fixture.ids());
    TableVersion latest = fixture.catalog().store().readLatest(fixture.table);
    assertEquals(List.of(), latest.openIntents());
    for (long version = 1; version <= latest.version(); version++) {
      assertTrue(fixture.idsAt(version).stream().noneMatch(id -> id >= 100), "version " + version);
    }
  }

  @Test
  void appendsToAnIcebergWriteSourceAreStagedThenPublished() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'cold'");
    rows(fixture, 0, 50, "i").writeTo(fixture.qualified).append();
    TableVersion appended = fixture.catalog().store().readLatest(fixture.table);
    assertEquals("append", appended.commit().operation());
    assertEquals(MoveFixture.range(0, 50), fixture.ids());
    assertEquals(50, fixture.icebergMainCount());
    rows(fixture, 50, 80, "i").writeTo(fixture.qualified).append();
    assertEquals(MoveFixture.range(0, 80), fixture.ids());
    assertEquals(80, fixture.icebergMainCount());
  }

  @Test
  void appendsToAPostgresWriteSourceUpsertByPrimaryKey() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'warm', 'primary-key' = 'id'");
    rows(fixture, 0, 30, "p").writeTo(fixture.qualified).append();
    assertEquals(MoveFixture.range(0, 30), fixture.ids());
    fixture
        .spark
        .sql(
            "SELECT id, concat('updated', CAST(id AS STRING)) AS message, CAST(2 AS BIGINT) AS"
                + " version FROM range(0, 10)")
        .writeTo(fixture.qualified)
        .append();
    assertEquals(MoveFixture.range(0, 30), fixture.ids());
    assertEquals(
        java.util.List.of("[25,p25,1]", "[3,updated3,2]"),
        fixture.rows(
            "SELECT id, message, version FROM " + fixture.qualified + " WHERE id IN (3, 25)"));
  }

  @Test
  void aKafkaAppendNeverRecordsOffsetsBehindAnOpenTransaction() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    try (KafkaProducer<String, String> other = transactionalProducer(fixture)) {
      other.initTransactions();
      other.beginTransaction();
      other.send(new ProducerRecord<>(fixture.topic, 0, null, MoveFixture.event(1000, "t", 1)));
      other.flush();
      rows(fixture, 0, 50, "k")
          .writeTo(fixture.qualified)
          .option("stable-offset-timeout-ms", "500")
          .append();
      // the transaction opened first holds the last stable offset below every appended message
      assertEndsAtMostStable(fixture);
      for (long version = 1; version <= latest(fixture).version(); version++) {
        assertEquals(List.of(), fixture.idsAt(version));
      }
      other.commitTransaction();
    }
    // once both committed, every row exactly once
    rows(fixture, 50, 60, "k").writeTo(fixture.qualified).append();
    assertEndsAtMostStable(fixture);
    List<Long> expected = new ArrayList<>(MoveFixture.range(0, 60));
    expected.add(1000L);
    assertEquals(expected, fixture.idsAt(latest(fixture).version()));
    for (long version = 1; version <= latest(fixture).version(); version++) {
      List<Long> ids = fixture.idsAt(version);
      assertEquals(new TreeSet<>(ids).size(), ids.size(), "duplicates at version " + version);
    }
  }

  @Test
  void concurrentKafkaAppendsRecordEveryRowOnceAndOnlyStableOffsets() throws Exception {
    MoveFixture fixture = new MoveFixture(2, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      List<Future<?>> appends = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        long from = i * 1000L;
        appends.add(
            threads.submit(
                () -> {
                  rows(fixture, from, from + 200, "c").writeTo(fixture.qualified).append();
                  return null;
                }));
      }
      for (Future<?> append : appends) {
        append.get(5, TimeUnit.MINUTES);
      }
    } finally {
      threads.shutdownNow();
    }
    assertEndsAtMostStable(fixture);
    List<Long> expected = new ArrayList<>(MoveFixture.range(0, 200));
    expected.addAll(MoveFixture.range(1000, 1200));
    assertEquals(expected, fixture.idsAt(latest(fixture).version()));
    for (long version = 1; version <= latest(fixture).version(); version++) {
      List<Long> ids = fixture.idsAt(version);
      assertEquals(new TreeSet<>(ids).size(), ids.size(), "duplicates at version " + version);
    }
  }

  private static TableVersion latest(MoveFixture fixture) {
    return fixture.catalog().store().readLatest(fixture.table);
  }

  private static void assertEndsAtMostStable(MoveFixture fixture) {
    Map<Integer, Long> stable = fixture.kafka.stableEndOffsets(fixture.topic);
    for (long version = 1; version <= latest(fixture).version(); version++) {
      SourceState.Kafka state = fixture.kafkaState(version);
      for (var range : state.partitions().entrySet()) {
        assertTrue(
            range.getValue().end() <= stable.get(range.getKey()),
            "version " + version + " records " + state + " past the last stable offsets " + stable);
      }
    }
  }

  private static KafkaProducer<String, String> transactionalProducer(MoveFixture fixture) {
    Properties properties = new Properties();
    properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, fixture.kafka.bootstrapServers());
    properties.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "harness-test-" + fixture.suffix);
    properties.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    properties.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    return new KafkaProducer<>(properties);
  }
}
