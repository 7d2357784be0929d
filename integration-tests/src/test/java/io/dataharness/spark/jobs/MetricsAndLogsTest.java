package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.codahale.metrics.MetricRegistry;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.spark.metrics.HarnessMetrics;
import io.dataharness.spark.read.ReplaceHarnessRelations;
import io.dataharness.spark.read.ScanMetrics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.adaptive.AdaptiveSparkPlanExec;
import org.apache.spark.sql.execution.datasources.v2.BatchScanExec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What an operator sees of writes and reads: one JSON line per commit on {@code
 * io.dataharness.commits}, the {@code dataharness} Spark metrics source, and the SQL metrics of the
 * harness scan.
 */
class MetricsAndLogsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<String> commitLines = Collections.synchronizedList(new ArrayList<>());
  private final Logger commitLogger = (Logger) LogManager.getLogger("io.dataharness.commits");
  private final AbstractAppender capture =
      new AbstractAppender("commit-lines", null, null, true, Property.EMPTY_ARRAY) {
        @Override
        public void append(LogEvent event) {
          commitLines.add(event.getMessage().getFormattedMessage());
        }
      };

  @BeforeEach
  void captureCommitLines() {
    capture.start();
    commitLogger.addAppender(capture);
  }

  @AfterEach
  void stopCapturing() {
    commitLogger.removeAppender(capture);
    capture.stop();
  }

  private static Dataset<Row> rows(MoveFixture fixture, long from, long to) {
    return fixture.spark.sql(
        "SELECT id, concat('m', CAST(id AS STRING)) AS message, CAST(1 AS BIGINT) AS version"
            + " FROM range("
            + from
            + ", "
            + to
            + ")");
  }

  private static Map<String, Long> counts() {
    MetricRegistry registry = HarnessMetrics.get().metricRegistry();
    Map<String, Long> counts = new HashMap<>();
    registry.getCounters().forEach((name, counter) -> counts.put(name, counter.getCount()));
    registry.getHistograms().forEach((name, histogram) -> counts.put(name, histogram.getCount()));
    return counts;
  }

  private static long advanced(Map<String, Long> before, Map<String, Long> after, String name) {
    return after.getOrDefault(name, 0L) - before.getOrDefault(name, 0L);
  }

  /** The commit lines of {@code table} captured so far, parsed. */
  private List<JsonNode> commitsOf(MoveFixture fixture) throws Exception {
    List<JsonNode> lines = new ArrayList<>();
    for (String line : List.copyOf(commitLines)) {
      JsonNode node = JSON.readTree(line);
      if (fixture.table.toString().equals(node.path("table").asText())) {
        lines.add(node);
      }
    }
    return lines;
  }

  @Test
  void appendsAndMovesLogOneJsonLinePerCommitDescribeTheirJobsAndAdvanceTheMetricsSource()
      throws Exception {
    MoveFixture fixture = new MoveFixture(2, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    Map<String, Long> before = counts();

    rows(fixture, 0, 100).writeTo(fixture.qualified).append();
    List<String> descriptions = Collections.synchronizedList(new ArrayList<>());
    SparkListener listener =
        new SparkListener() {
          @Override
          public void onJobStart(SparkListenerJobStart jobStart) {
            if (jobStart.properties() != null) {
              String description = jobStart.properties().getProperty("spark.job.description");
              if (description != null) {
                descriptions.add(description);
              }
            }
          }
        };
    SparkContext context = fixture.spark.sparkContext();
    context.addSparkListener(listener);
    context.setJobGroup("my-notebook", "my cell", false);
    MoveResult moved;
    try {
      moved = fixture.move("hot", "cold", null);
      context.listenerBus().waitUntilEmpty();
    } finally {
      context.removeSparkListener(listener);
    }
    // the move's Spark jobs say what they do; the notebook's group and description come back
    assertEquals("my-notebook", context.getLocalProperty("spark.jobGroup.id"));
    assertEquals("my cell", context.getLocalProperty("spark.job.description"));
    context.clearJobGroup();
    String prefix = "DataHarness move " + fixture.table + " 'hot' -> 'cold'";
    assertTrue(
        descriptions.stream()
            .anyMatch(d -> d.startsWith(prefix) && d.endsWith(": staging in Iceberg")),
        descriptions.toString());
    assertTrue(descriptions.stream().allMatch(d -> d.startsWith(prefix)), descriptions.toString());
    assertEquals(100, moved.rowsMoved());

    List<JsonNode> lines = commitsOf(fixture);
    assertEquals(2, lines.size(), lines.toString());
    JsonNode append = lines.get(0);
    assertEquals("append", append.path("operation").asText());
    assertEquals(100, append.path("rows").asLong());
    assertEquals("[\"hot\"]", append.path("sources").toString());
    JsonNode move = lines.get(1);
    assertEquals("move", move.path("operation").asText());
    assertEquals(moved.version(), move.path("version").asLong());
    assertEquals(100, move.path("rows").asLong());
    assertEquals("[\"cold\",\"hot\"]", move.path("sources").toString());
    assertFalse(move.path("replayed").asBoolean());
    assertEquals(
        fixture.catalog().store().readLatest(fixture.table).commit().idempotencyKey(),
        move.path("idempotency-key").asText());
    for (JsonNode line : lines) {
      for (String field :
          List.of(
              "table",
              "version",
              "owner",
              "idempotency-key",
              "replayed",
              "lock-wait-ms",
              "stage-ms",
              "commit-ms",
              "publish-ms",
              "total-ms")) {
        assertTrue(line.has(field), field + " missing in " + line);
      }
    }

    Map<String, Long> after = counts();
    assertEquals(2, advanced(before, after, HarnessMetrics.COMMITS));
    assertEquals(2, advanced(before, after, HarnessMetrics.COMMIT_LATENCY));
    assertEquals(100, advanced(before, after, HarnessMetrics.ROWS_APPENDED));
    assertEquals(100, advanced(before, after, HarnessMetrics.ROWS_MOVED));
    assertEquals(0, advanced(before, after, HarnessMetrics.CONFLICTS));

    // a sync's commit logs its line too, and counts as a commit
    fixture.produce(1000, 1005);
    fixture.sync();
    List<JsonNode> withSync = commitsOf(fixture);
    assertEquals(3, withSync.size(), withSync.toString());
    assertEquals("sync", withSync.get(2).path("operation").asText());
    assertEquals("hot", withSync.get(2).path("sources").get(0).asText());
    assertEquals(3, advanced(before, counts(), HarnessMetrics.COMMITS));

    // the harness registered its source with Spark's metrics system
    assertFalse(
        SparkEnv.get().metricsSystem().getSourcesByName(HarnessMetrics.SOURCE_NAME).isEmpty(),
        "the dataharness metrics source is registered");
  }

  @Test
  void aMoveRefusedBecauseAnotherWriterHoldsTheLockCountsAConflict() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    rows(fixture, 0, 10).writeTo(fixture.qualified).append();
    Map<String, Long> before = counts();
    try (LeaseKeeper held =
        LeaseKeeper.acquire(
            fixture.catalog().store(),
            fixture.table,
            "someone-else",
            Duration.ofSeconds(30),
            Duration.ofSeconds(10),
            List.of("cold"))) {
      assertThrows(CommitConflictException.class, () -> fixture.move("hot", "cold", null));
    }
    Map<String, Long> after = counts();
    assertEquals(1, advanced(before, after, HarnessMetrics.CONFLICTS));
    assertEquals(1, advanced(before, after, HarnessMetrics.LOCK_WAITS));
    assertEquals(0, advanced(before, after, HarnessMetrics.COMMITS));
    assertTrue(
        commitsOf(fixture).stream().noneMatch(l -> "move".equals(l.path("operation").asText())));
  }

  @Test
  void theHarnessScanReportsRowsReadPerSourceKindAndMalformedKafkaRecords() throws Exception {
    MoveFixture fixture = new MoveFixture(1, ", 'write.source' = 'hot', 'primary-key' = 'id'");
    rows(fixture, 0, 100).writeTo(fixture.qualified).append();
    fixture.move("hot", "cold", null);
    rows(fixture, 100, 150).writeTo(fixture.qualified).append();
    fixture.move("hot", "warm", null);
    rows(fixture, 150, 170).writeTo(fixture.qualified).append();
    fixture.kafka.produceJson(fixture.topic, 0, List.of("not json"));

    String previous = fixture.spark.conf().get(ReplaceHarnessRelations.ENABLED, "true");
    fixture.spark.conf().set(ReplaceHarnessRelations.ENABLED, "false");
    try {
      Dataset<Row> read =
          fixture.spark.read().option("kafka.malformed", "PERMISSIVE").table(fixture.qualified);
      List<Row> all = read.collectAsList();
      BatchScanExec scan = harnessScan(read.queryExecution().executedPlan());
      long kafkaRows = metric(scan, ScanMetrics.KAFKA_ROWS);
      assertEquals(50, metric(scan, ScanMetrics.JDBC_ROWS));
      assertEquals(100, metric(scan, ScanMetrics.ICEBERG_ROWS));
      assertEquals(1, metric(scan, ScanMetrics.MALFORMED_KAFKA_RECORDS));
      // the latest read takes the topic up to its live end: 20 appended rows and the malformed one
      assertEquals(21, kafkaRows);
      assertEquals(171, all.size());
    } finally {
      fixture.spark.conf().set(ReplaceHarnessRelations.ENABLED, previous);
    }
  }

  private static long metric(BatchScanExec scan, String name) {
    return scan.metrics().apply(name).value();
  }

  private static BatchScanExec harnessScan(SparkPlan plan) {
    if (plan instanceof AdaptiveSparkPlanExec adaptive) {
      return harnessScan(adaptive.executedPlan());
    }
    if (plan instanceof BatchScanExec scan) {
      return scan;
    }
    for (SparkPlan child : scala.jdk.javaapi.CollectionConverters.asJava(plan.children())) {
      BatchScanExec found = harnessScan(child);
      if (found != null) {
        return found;
      }
    }
    return null;
  }
}
