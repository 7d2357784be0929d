package io.dataharness.chaos;

import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The final check of a chaos run, after every job stopped: re-reads every version {@code 1..latest}
 * of the harness table through catalog {@link ChaosEnvironment#CHECK_CATALOG} (so a caching Iceberg
 * catalog cannot hide what is stored), compares the latest version with the ledger, and reads the
 * Iceberg table and the PostgreSQL table on their own.
 */
final class Verification {
  private static final int SAMPLE = 10;

  private Verification() {}

  /** What the final check found. */
  static final class Findings {
    long latestVersion;
    long versionsChecked;
    long rowsChecked;
    long duplicateRows;
    long versionsWithDuplicates;
    final Map<Long, Long> duplicatesByVersion = new TreeMap<>();
    final Map<Long, String> unreadableVersions = new TreeMap<>();

    long latestRows;
    long expectedRows;
    long gaps;
    final Map<String, Long> gapsByOrigin = new TreeMap<>();
    final List<Long> gapSample = new ArrayList<>();
    long applicationRowsChecked;
    long lostUpdates;
    final List<String> lostUpdateSample = new ArrayList<>();
    long deletedCameBack;
    final List<Long> deletedCameBackSample = new ArrayList<>();
    long partialAppends;
    final List<String> partialAppendSample = new ArrayList<>();
    long uncertainAppendsPresent;
    long uncertainAppendsAbsent;
    long unknownRows;

    long icebergRows;
    long icebergDuplicates;
    long postgresRows;
    long inPostgresAndIceberg;

    /** Sources whose state in the latest version is behind what they hold (sync skipped them). */
    final List<String> staleSources = new ArrayList<>();
  }

  private record Image(String message, long updatedAtMicros) {}

  static Findings run(ChaosEnvironment environment, Ledger ledger) throws SQLException {
    Findings findings = new Findings();
    SparkSession spark = environment.spark;
    String table = environment.qualified(ChaosEnvironment.CHECK_CATALOG);
    findings.latestVersion = environment.store().readLatest(environment.table).version();
    for (long version = 1; version <= findings.latestVersion; version++) {
      try {
        Row counts =
            spark
                .sql(
                    "SELECT count(*), count(DISTINCT id) FROM "
                        + table
                        + " VERSION AS OF "
                        + version)
                .collectAsList()
                .get(0);
        findings.versionsChecked++;
        findings.rowsChecked += counts.getLong(0);
        long extra = counts.getLong(0) - counts.getLong(1);
        if (extra > 0) {
          findings.duplicateRows += extra;
          findings.versionsWithDuplicates++;
          findings.duplicatesByVersion.put(version, extra);
        }
      } catch (RuntimeException e) {
        findings.unreadableVersions.put(version, ChaosReport.shorten(ChaosReport.describe(e)));
      }
    }

    checkStaleness(environment, ledger, findings);
    Map<Long, List<Image>> latest = new HashMap<>();
    for (Row row :
        spark
            .sql(
                "SELECT id, message, unix_micros(updated_at) FROM "
                    + table
                    + " VERSION AS OF "
                    + findings.latestVersion)
            .collectAsList()) {
      latest
          .computeIfAbsent(row.getLong(0), id -> new ArrayList<>())
          .add(new Image(row.getString(1), row.getLong(2)));
      findings.latestRows++;
    }

    Set<Long> expected = new HashSet<>();
    expect(findings, latest, ledger, expected, "kafka", 0, ledger.produced.get());
    expect(
        findings,
        latest,
        ledger,
        expected,
        "application",
        Ledger.APPLICATION_IDS,
        Ledger.APPLICATION_IDS + ledger.applicationInserts.get());
    for (Ledger.Append append : ledger.appends) {
      if (append.outcome == Ledger.Outcome.SUCCEEDED) {
        expect(findings, latest, ledger, expected, "append", append.from, append.to);
        continue;
      }
      // a killed or failed append: all of its rows or none
      long present = 0;
      long possible = 0;
      for (long id = append.from; id < append.to; id++) {
        if (!ledger.deleted.contains(id)) {
          possible++;
          if (latest.containsKey(id)) {
            present++;
            expected.add(id);
          }
        }
      }
      if (present == 0) {
        findings.uncertainAppendsAbsent++;
      } else if (present == possible) {
        findings.uncertainAppendsPresent++;
      } else {
        findings.partialAppends++;
        if (findings.partialAppendSample.size() < SAMPLE) {
          findings.partialAppendSample.add(
              "["
                  + append.from
                  + ", "
                  + append.to
                  + ") "
                  + append.outcome
                  + ": "
                  + present
                  + " of "
                  + possible
                  + " rows");
        }
      }
    }
    for (Map.Entry<Long, String> write : ledger.lastWrite.entrySet()) {
      List<Image> images = latest.get(write.getKey());
      if (images == null) {
        continue; // counted as a gap
      }
      findings.applicationRowsChecked++;
      Image newest = images.get(0);
      for (Image image : images) {
        if (image.updatedAtMicros() > newest.updatedAtMicros()) {
          newest = image;
        }
      }
      if (!newest.message().equals(write.getValue())) {
        findings.lostUpdates++;
        if (findings.lostUpdateSample.size() < SAMPLE) {
          findings.lostUpdateSample.add(
              "id "
                  + write.getKey()
                  + ": wrote '"
                  + write.getValue()
                  + "', version "
                  + findings.latestVersion
                  + " shows '"
                  + newest.message()
                  + "'"
                  + (images.size() > 1 ? " among " + images.size() + " images" : ""));
        }
      }
    }
    for (long id : ledger.deleted) {
      if (latest.containsKey(id)) {
        findings.deletedCameBack++;
        if (findings.deletedCameBackSample.size() < SAMPLE) {
          findings.deletedCameBackSample.add(id);
        }
      }
    }
    for (long id : latest.keySet()) {
      if (!expected.contains(id) && !ledger.deleted.contains(id)) {
        findings.unknownRows++;
      }
    }

    Row iceberg =
        spark
            .sql("SELECT count(*), count(DISTINCT id) FROM iceberg." + environment.icebergTable)
            .collectAsList()
            .get(0);
    findings.icebergRows = iceberg.getLong(0);
    findings.icebergDuplicates = iceberg.getLong(0) - iceberg.getLong(1);
    Set<Long> icebergIds = new HashSet<>();
    for (Row row :
        spark.sql("SELECT DISTINCT id FROM iceberg." + environment.icebergTable).collectAsList()) {
      icebergIds.add(row.getLong(0));
    }
    try (Connection connection = environment.sourceDatabase.connect();
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT id FROM " + environment.postgresTable)) {
      while (rows.next()) {
        findings.postgresRows++;
        if (icebergIds.contains(rows.getLong(1))) {
          findings.inPostgresAndIceberg++;
        }
      }
    }
    return findings;
  }

  /**
   * Whether the latest version covers what the sources hold: Kafka's committed end offsets and the
   * application's last write. When it does not (a sync skipped a locked source), gaps, lost updates
   * and deleted rows coming back in the latest version may come from that alone.
   */
  private static void checkStaleness(
      ChaosEnvironment environment, Ledger ledger, Findings findings) {
    TableVersion version = environment.store().readLatest(environment.table);
    SourceState.Kafka hot = (SourceState.Kafka) version.state("hot");
    Properties properties = new Properties();
    properties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, environment.kafka.bootstrapServers());
    properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    Map<Integer, Long> committedEnds = new TreeMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(properties, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (int partition = 0; partition < ChaosEnvironment.PARTITIONS; partition++) {
        partitions.add(new TopicPartition(environment.topic, partition));
      }
      consumer
          .endOffsets(partitions)
          .forEach((partition, end) -> committedEnds.put(partition.partition(), end));
    }
    Map<Integer, Long> recordedEnds = new TreeMap<>();
    hot.partitions().forEach((partition, range) -> recordedEnds.put(partition, range.end()));
    if (!recordedEnds.equals(committedEnds)) {
      findings.staleSources.add(
          "hot records end offsets "
              + recordedEnds
              + ", Kafka's committed ends are "
              + committedEnds);
    }
    Instant readTimestamp = ((SourceState.Jdbc) version.state("warm")).readTimestamp();
    if (readTimestamp.isBefore(ledger.lastApplicationWrite)) {
      findings.staleSources.add(
          "warm records read timestamp "
              + readTimestamp
              + ", before the application's last write at "
              + ledger.lastApplicationWrite);
    }
  }

  /** Ids [from, to) that were not deleted must be in the latest version. */
  private static void expect(
      Findings findings,
      Map<Long, List<Image>> latest,
      Ledger ledger,
      Set<Long> expected,
      String origin,
      long from,
      long to) {
    for (long id = from; id < to; id++) {
      if (ledger.deleted.contains(id)) {
        continue;
      }
      expected.add(id);
      findings.expectedRows++;
      if (!latest.containsKey(id)) {
        findings.gaps++;
        findings.gapsByOrigin.merge(origin, 1L, Long::sum);
        if (findings.gapSample.size() < SAMPLE) {
          findings.gapSample.add(id);
        }
      }
    }
  }
}
