package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * The essay's expert layout on real services: one source per Kafka partition, per PostgreSQL shard
 * and per Iceberg table, each declaring with a partition filter which harness partition it holds.
 * Movers of different partitions run at the same time without a lock conflict (locks are per
 * source), and a query on one partition opens only that partition's sources.
 */
class ExpertLayoutTest {
  private final SparkSession spark = TestingSpark.shared().session();
  private final TestingKafka kafka = TestingKafka.shared();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "expert_" + suffix;
  private final String topic = "expert_" + suffix;
  private final TableIdentifier table = TableIdentifier.of(namespace, "events");
  private final String qualified = "harness." + namespace + ".events";

  private String sources() {
    String template =
        "'source.hotN.kind' = 'kafka', 'source.hotN.connection' = 'kafka',"
            + " 'source.hotN.topic' = 'TOPIC', 'source.hotN.partitions' = 'N',"
            + " 'source.hotN.partition-filter' = 'part = N',"
            + " 'source.warmN.kind' = 'jdbc', 'source.warmN.connection' = 'pg',"
            + " 'source.warmN.table' = 'public.expert_SUFFIX_N',"
            + " 'source.warmN.partition-filter' = 'part = N',"
            + " 'source.coldN.kind' = 'iceberg', 'source.coldN.connection' = 'lake',"
            + " 'source.coldN.table' = 'expert_SUFFIX.partN',"
            + " 'source.coldN.partition-filter' = 'part = N', ";
    StringBuilder properties = new StringBuilder();
    for (int part = 0; part < 2; part++) {
      properties.append(
          template
              .replace("TOPIC", topic)
              .replace("SUFFIX", suffix)
              .replace("N", String.valueOf(part)));
    }
    return properties.append("'primary-key' = 'id'").toString();
  }

  private HarnessContext catalog() {
    return JobArguments.catalog(spark, "harness");
  }

  private MoveResult move(String source, String target) {
    return MoveJob.run(
        spark,
        catalog(),
        new MoveRequest(
            table,
            source,
            target,
            OptionalLong.of(1_000_000),
            Optional.empty(),
            source + "-mover"));
  }

  private List<Long> ids(String sql) {
    return spark.sql(sql).collectAsList().stream().map(row -> row.getLong(0)).sorted().toList();
  }

  @Test
  void perPartitionMoversNeverContendAndAQueryOpensOnlyItsPartition() throws Exception {
    kafka.createTopic(topic, 2);
    for (int part = 0; part < 2; part++) {
      List<String> messages = new ArrayList<>();
      for (long id = part * 1000L; id < part * 1000L + 100; id++) {
        messages.add(
            String.format("{\"id\": %d, \"part\": %d, \"payload\": \"p%d\"}", id, part, id));
      }
      kafka.produceJson(topic, part, messages);
    }
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + qualified
            + " (id BIGINT NOT NULL, part INT, payload STRING) TBLPROPERTIES ("
            + sources()
            + ")");
    List<Long> all = new ArrayList<>(MoveFixture.range(0, 100));
    all.addAll(MoveFixture.range(1000, 1100));
    assertEquals(all, ids("SELECT id FROM " + qualified));

    // the movers of both partitions at once, Kafka -> PostgreSQL, then PostgreSQL -> Iceberg
    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      for (String[] step : new String[][] {{"hot", "warm"}, {"warm", "cold"}}) {
        List<Future<MoveResult>> moves = new ArrayList<>();
        for (int part = 0; part < 2; part++) {
          String source = step[0] + part;
          String target = step[1] + part;
          moves.add(threads.submit(() -> move(source, target)));
        }
        for (Future<MoveResult> move : moves) {
          assertEquals(100, move.get().rowsMoved(), "no lock conflict: every mover moved its rows");
        }
      }
    } finally {
      threads.shutdownNow();
    }
    TableVersion latest = catalog().store().readLatest(table);
    assertEquals(all, ids("SELECT id FROM " + qualified));
    for (long version = 1; version <= latest.version(); version++) {
      List<Long> seen = ids("SELECT id FROM " + qualified + " VERSION AS OF " + version);
      assertEquals(all, seen, "version " + version);
    }

    // a query on one partition opens only that partition's sources
    String query = "SELECT id FROM " + qualified + " WHERE part = 1";
    String plan = spark.sql(query).queryExecution().optimizedPlan().toString();
    assertTrue(plan.contains("expert_" + suffix + ".part1"), plan);
    assertFalse(plan.contains("expert_" + suffix + ".part0"), plan);
    assertFalse(plan.contains("expert_" + suffix + "_0"), plan);
    assertEquals(MoveFixture.range(1000, 1100), ids(query));
  }

  @Test
  void anAppendAndAMoverOfAnotherPartitionNeverContend() throws Exception {
    kafka.createTopic(topic, 2);
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + qualified
            + " (id BIGINT NOT NULL, part INT, payload STRING) TBLPROPERTIES ("
            + sources()
            + ", 'write.source' = 'hot0, hot1')");
    List<Long> partition0 = new ArrayList<>();
    List<Long> partition1 = new ArrayList<>();
    ExecutorService threads = Executors.newFixedThreadPool(2);
    try {
      for (int round = 0; round < 3; round++) {
        long from = round * 100L;
        List<String> messages = new ArrayList<>();
        for (long id = 1000 + from; id < 1000 + from + 50; id++) {
          messages.add(String.format("{\"id\": %d, \"part\": 1, \"payload\": \"p%d\"}", id, id));
          partition1.add(id);
        }
        kafka.produceJson(topic, 1, messages);
        partition0.addAll(MoveFixture.range(from, from + 100));
        // an append of partition 0 (it locks hot0 only) and the mover of partition 1 at once; the
        // mover waits for no lock: a conflict would fail it with LockHeldException
        Future<?> append =
            threads.submit(
                () -> {
                  spark
                      .sql(
                          "SELECT id, 0 AS part, concat('p', CAST(id AS STRING)) AS payload FROM"
                              + " range("
                              + from
                              + ", "
                              + (from + 100)
                              + ")")
                      .writeTo(qualified)
                      .append();
                  return null;
                });
        Future<MoveResult> move = threads.submit(() -> move("hot1", "warm1"));
        append.get();
        move.get();
      }
    } finally {
      threads.shutdownNow();
    }
    spark.sql("CALL harness.system.sync(table => '" + table + "')").collect();
    assertEquals(partition0, ids("SELECT id FROM " + qualified + " WHERE _source = 'hot0'"));
    List<Long> all = new ArrayList<>(partition0);
    all.addAll(partition1);
    assertEquals(all.stream().sorted().toList(), ids("SELECT id FROM " + qualified));
    TableVersion latest = catalog().store().readLatest(table);
    for (long version = 1; version <= latest.version(); version++) {
      List<Long> seen = ids("SELECT id FROM " + qualified + " VERSION AS OF " + version);
      assertEquals(seen.stream().distinct().count(), seen.size(), "version " + version);
      assertTrue(all.containsAll(seen), "version " + version);
    }
  }
}
