package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** A fresh harness table over a fresh topic and fresh target tables, for one test. */
final class MoveFixture {
  final SparkSession spark = TestingSpark.shared().session();
  final TestingKafka kafka = TestingKafka.shared();
  final String suffix = UUID.randomUUID().toString().substring(0, 8);
  final String namespace = "moves_" + suffix;
  final String topic = "events_" + suffix;
  final TableIdentifier table = TableIdentifier.of(namespace, "events");
  final String qualified = "harness." + namespace + ".events";
  final String icebergTable = "iceberg.lake_" + suffix + ".events";
  final String pgTable = "public.events_" + suffix;
  final int partitions;

  MoveFixture(int partitions, String extraProperties) {
    this.partitions = partitions;
    kafka.createTopic(topic, partitions);
    spark.sql("CREATE NAMESPACE harness." + namespace);
    spark.sql(
        "CREATE TABLE "
            + qualified
            + " (id BIGINT NOT NULL, message STRING, version BIGINT) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + topic
            + "', 'source.cold.kind' = 'iceberg', 'source.cold.connection' = 'lake',"
            + " 'source.cold.table' = 'lake_"
            + suffix
            + ".events', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = '"
            + pgTable
            + "'"
            + extraProperties
            + ")");
  }

  HarnessContext catalog() {
    return JobArguments.catalog(spark, "harness");
  }

  MoveRequest request(String source, String target, Long maxRows) {
    return new MoveRequest(
        table,
        source,
        target,
        maxRows == null ? OptionalLong.empty() : OptionalLong.of(maxRows),
        Optional.empty(),
        "test-" + UUID.randomUUID().toString().substring(0, 6));
  }

  MoveResult move(String source, String target, Long maxRows) {
    return MoveJob.run(spark, catalog(), request(source, target, maxRows));
  }

  static String event(long id, String message, long version) {
    return String.format(
        "{\"id\": %d, \"message\": \"%s\", \"version\": %d}", id, message, version);
  }

  /** Produces ids [from, to) round-robin over the partitions. */
  void produce(long from, long to) {
    for (int partition = 0; partition < partitions; partition++) {
      List<String> values = new ArrayList<>();
      for (long id = from; id < to; id++) {
        if (id % partitions == partition) {
          values.add(event(id, "m" + id, 1));
        }
      }
      if (!values.isEmpty()) {
        kafka.produceJson(topic, partition, values);
      }
    }
  }

  /** Records the sources' current ends ({@code CALL harness.system.sync}). */
  void sync() {
    spark.sql("CALL harness.system.sync(table => '" + table + "')").collect();
  }

  /** Every id the harness table returns now (latest version), sorted, duplicates kept. */
  List<Long> ids() {
    return ids("SELECT id FROM " + qualified);
  }

  List<Long> ids(String sql) {
    return spark.sql(sql).collectAsList().stream()
        .map(row -> row.getLong(0))
        .sorted()
        .collect(Collectors.toList());
  }

  List<String> rows(String sql) {
    return spark.sql(sql).collectAsList().stream()
        .map(Row::toString)
        .sorted()
        .collect(Collectors.toList());
  }

  static List<Long> range(long from, long to) {
    List<Long> ids = new ArrayList<>();
    for (long id = from; id < to; id++) {
      ids.add(id);
    }
    return ids;
  }

  /** Every id the harness table returns at {@code version}, sorted, duplicates kept. */
  List<Long> idsAt(long version) {
    return ids("SELECT id FROM " + qualified + " VERSION AS OF " + version);
  }

  /** The state of the Kafka source {@code hot} at {@code version}. */
  io.dataharness.metadata.SourceState.Kafka kafkaState(long version) {
    return (io.dataharness.metadata.SourceState.Kafka)
        catalog().store().readVersion(table, version).state("hot");
  }

  /** Rows on the Iceberg table's main branch, as plain Iceberg readers see them. */
  long icebergMainCount() {
    return spark.sql("SELECT count(*) FROM " + icebergTable).collectAsList().get(0).getLong(0);
  }
}
