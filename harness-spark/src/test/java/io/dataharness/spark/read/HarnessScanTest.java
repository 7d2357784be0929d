package io.dataharness.spark.read;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.SourceState.OffsetRange;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import io.dataharness.testing.TestingSpark;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The plain DataSource V2 scan against a real broker, PostgreSQL and Iceberg catalog. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HarnessScanTest {
  private static final TableIdentifier TABLE = TableIdentifier.of("logs", "events");
  private static final long VERSION = 7;
  private static final StructType SCHEMA =
      new StructType()
          .add("id", DataTypes.IntegerType)
          .add("amount", DataTypes.createDecimalType(10, 2))
          .add("name", DataTypes.StringType)
          .add("score", DataTypes.DoubleType)
          .add("ok", DataTypes.BooleanType)
          .add("day", DataTypes.DateType)
          .add("at", DataTypes.TimestampType)
          .add("local", DataTypes.TimestampNTZType)
          .add("big", DataTypes.LongType)
          .add("ratio", DataTypes.FloatType)
          .add("payload", DataTypes.BinaryType);

  /** Every data column as text, so that rows compare as strings. */
  private static final String COLUMNS =
      "id, amount, name, score, ok, day, CAST(at AS STRING) AS at, CAST(local AS STRING) AS local,"
          + " big, ratio, base64(payload) AS payload";

  private static final Map<String, String> NAME_MAPPING = Map.of("name", "user_name");
  private static final AtomicInteger NAMES = new AtomicInteger();

  private SparkSession spark;
  private TestingKafka kafka;
  private ConnectionConfig kafkaConnection;
  private ConnectionConfig jdbcConnection;
  private ConnectionConfig icebergConnection;
  private long firstSnapshot;
  private long secondSnapshot;

  @BeforeAll
  void startServices() throws Exception {
    spark = TestingSpark.shared().session();
    spark.conf().set("spark.sql.catalog." + ScanTestCatalog.NAME, ScanTestCatalog.class.getName());
    kafka = TestingKafka.shared();
    kafkaConnection =
        new ConnectionConfig(
            "kafka", SourceKind.KAFKA, Map.of("bootstrap-servers", kafka.bootstrapServers()));

    TestingDatabase database = TestingPostgres.shared().createDatabase("scan_sources");
    jdbcConnection =
        new ConnectionConfig(
            "pg",
            SourceKind.JDBC,
            Map.of(
                "url", database.jdbcUrl(),
                "user", database.user(),
                "password", database.password()));
    try (Connection connection = database.connect();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE public.events (id int, amount numeric(10,2), user_name text, score double"
              + " precision, ok boolean, day date, at timestamptz, local timestamp, big bigint,"
              + " ratio real, payload bytea)");
      statement.execute(
          "INSERT INTO public.events VALUES (10, 99.5, 'pg', -1.25, false, '2026-05-06',"
              + " '2026-05-06 07:08:09.123456+02', '2026-05-06 07:08:09.5', -3, 1.5,"
              + " '\\x6869'), (11, null, null, null, null, null, null, null, null, null, null)");
    }

    icebergConnection =
        new ConnectionConfig(
            "lake", SourceKind.ICEBERG, Map.of("spark-catalog", TestingIceberg.CATALOG_NAME));
    spark.sql("CREATE NAMESPACE IF NOT EXISTS iceberg.scan_ns");
    spark.sql(
        "CREATE TABLE iceberg.scan_ns.events (id INT, amount DECIMAL(10,2), user_name STRING,"
            + " score DOUBLE, ok BOOLEAN, day DATE, at TIMESTAMP, local TIMESTAMP_NTZ, big BIGINT,"
            + " ratio FLOAT, payload BINARY) USING iceberg");
    spark.sql(
        "INSERT INTO iceberg.scan_ns.events VALUES (20, 1.50, 'ice', 2.5, true, DATE'2026-03-04',"
            + " TIMESTAMP'2026-03-04 05:06:07', TIMESTAMP_NTZ'2026-03-04 05:06:07', 7, 0.5,"
            + " X'6869'), (21, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
    spark.sql(
        "INSERT INTO iceberg.scan_ns.events (id, user_name) VALUES (22, 'after the version')");
    List<Row> snapshots =
        spark
            .sql("SELECT snapshot_id FROM iceberg.scan_ns.events.snapshots ORDER BY committed_at")
            .collectAsList();
    firstSnapshot = snapshots.get(0).getLong(0);
    secondSnapshot = snapshots.get(1).getLong(0);
  }

  @Test
  void readsKafkaRowsOfTheVersionWithTypesNullsAndMetadataColumns() {
    String topic = topic(3);
    kafka.produceJson(
        topic, 0, List.of("{\"id\": 0, \"user_name\": \"moved out\"}", FULL, "{\"id\": 2}"));
    kafka.produceJson(
        topic,
        List.of(
            new ProducerRecord<>(
                topic,
                1,
                "key-3",
                "{\"id\": 3, \"user_name\": \"cy\", \"at\": \"2026-01-02 03:04:05\", \"extra\": 1}"),
            new ProducerRecord<>(topic, 1, null, "{\"id\": 4, \"user_name\": null}")));
    kafka.produceJson(topic, 2, List.of("{\"id\": 99}"));
    // partition 0 from offset 1 (offset 0 was moved out), partition 1 up to offset 2, partition 2
    // not part of this source (a subset of the topic's partitions)
    String table =
        register(
            kafkaRead(
                topic,
                SourceState.Kafka.of(Map.of(0, new OffsetRange(1, 3), 1, new OffsetRange(0, 2)))));

    assertEquals(
        List.of(
            "[1,12.34,ann,1.5,true,2026-01-02,2026-01-02 03:04:05.123456,2026-01-02 03:04:05,9000000000,0.25,aGk=,hot,0,1,null,null]",
            "[2,null,null,null,null,null,null,null,null,null,null,hot,0,2,null,null]",
            "[3,null,cy,null,null,null,2026-01-02 03:04:05,null,null,null,null,hot,1,0,key-3,null]",
            "[4,null,null,null,null,null,null,null,null,null,null,hot,1,1,null,null]"),
        rows(
            "SELECT "
                + COLUMNS
                + ", _source, _kafka_partition, _kafka_offset, _kafka_key, _corrupt_record FROM "
                + table
                + " ORDER BY id"));
    assertEquals(
        4,
        spark
            .sql("SELECT count(*) FROM " + table + " WHERE _kafka_timestamp IS NOT NULL")
            .first()
            .getLong(0));
  }

  @Test
  void failsOnMalformedKafkaMessageNamingWhereAndHowToReadIt() {
    String topic = topic(1);
    kafka.produceJson(
        topic, 0, List.of("{\"id\": 1}", "{\"id\": 2, \"user_name\": ", "{\"id\": 3}"));
    String table =
        register(kafkaRead(topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 3)))));

    Exception error =
        assertThrows(Exception.class, () -> spark.sql("SELECT id FROM " + table).collectAsList());
    String message = messages(error);
    assertTrue(
        message.contains(
            "Cannot read source 'hot' (kafka) of logs.events at version 7: the message at topic "
                + topic
                + ", partition 0, offset 1 is malformed"),
        message);
    assertTrue(message.contains("set the read option kafka.malformed=PERMISSIVE"), message);
  }

  @Test
  void failsOnKafkaValueOfWrongType() {
    String topic = topic(1);
    kafka.produceJson(topic, 0, List.of("{\"id\": \"one\"}"));
    String table =
        register(kafkaRead(topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 1)))));

    String message =
        messages(
            assertThrows(
                Exception.class, () -> spark.sql("SELECT id FROM " + table).collectAsList()));
    assertTrue(
        message.contains("offset 0 is malformed (field 'id': cannot read \"one\" as int)"),
        message);
  }

  @Test
  void permissiveReadPutsMalformedMessagesInCorruptRecord() {
    String topic = topic(1);
    kafka.produceJson(
        topic,
        0,
        List.of("{\"id\": 1}", "{\"id\": 2, \"user_name\": ", "{\"id\": \"three\"}", "[1]"));
    String table =
        register(kafkaRead(topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 4)))));

    Dataset<Row> rows =
        spark
            .read()
            .option("kafka.malformed", "PERMISSIVE")
            .table(table)
            .selectExpr("_kafka_offset", "id", "name", "_corrupt_record")
            .orderBy("_kafka_offset");
    assertEquals(
        List.of(
            "[0,1,null,null]",
            "[1,null,null,{\"id\": 2, \"user_name\": ]",
            "[2,null,null,{\"id\": \"three\"}]",
            "[3,null,null,[1]]"),
        rows.collectAsList().stream().map(Row::toString).collect(Collectors.toList()));
  }

  @Test
  void readsOnlyCommittedKafkaMessagesAcrossTransactionMarkers() {
    String topic = topic(1);
    Properties properties = new Properties();
    properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    properties.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "scan-test-" + topic);
    properties.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    properties.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(properties)) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, null, "{\"id\": 1}"));
      producer.send(new ProducerRecord<>(topic, 0, null, "{\"id\": 2}"));
      producer.commitTransaction();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(topic, 0, null, "{\"id\": 3}"));
      producer.flush();
      producer.abortTransaction();
    }
    long end = kafka.endOffsets(topic).get(0);
    // 2 committed messages, a commit marker, 1 aborted message, an abort marker
    assertEquals(5, end);
    String table =
        register(kafkaRead(topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(0, end)))));

    assertEquals(
        List.of("[1,0]", "[2,1]"), rows("SELECT id, _kafka_offset FROM " + table + " ORDER BY id"));
  }

  @Test
  void failsWhenKafkaNoLongerHoldsOffsetsOfTheVersion() {
    String topic = topic(1);
    kafka.produceJson(topic, 0, List.of("{\"id\": 1}", "{\"id\": 2}", "{\"id\": 3}"));
    kafka.deleteRecordsBefore(topic, 0, 2);
    String table =
        register(kafkaRead(topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 3)))));

    String message =
        messages(
            assertThrows(
                Exception.class, () -> spark.sql("SELECT id FROM " + table).collectAsList()));
    assertTrue(
        message.contains(
            "Cannot read source 'hot' (kafka) of logs.events at version 7: Kafka topic "
                + topic
                + " partition 0 no longer retains offsets [0, 2)"),
        message);
  }

  @Test
  void failsWhenIcebergSnapshotOfTheVersionIsGone() {
    String table = register(icebergRead(SourceState.Iceberg.of(123456789L)));

    String message =
        messages(
            assertThrows(
                Exception.class, () -> spark.sql("SELECT id FROM " + table).collectAsList()));
    assertTrue(
        message.contains(
            "Cannot read source 'cold' (iceberg) of logs.events at version 7: Iceberg table"
                + " scan_ns.events no longer has snapshot 123456789 (expired?)"),
        message);
  }

  @Test
  void readsJdbcRowsWithTypesAndNulls() {
    String table = register(jdbcRead());

    assertEquals(
        List.of(
            "[10,99.50,pg,-1.25,false,2026-05-06,2026-05-06 05:08:09.123456,2026-05-06 07:08:09.5,-3,1.5,aGk=,warm,null,null]",
            "[11,null,null,null,null,null,null,null,null,null,null,warm,null,null]"),
        rows(
            "SELECT "
                + COLUMNS
                + ", _source, _kafka_offset, _corrupt_record FROM "
                + table
                + " ORDER BY id"));
  }

  @Test
  void readsIcebergAtTheVersionsSnapshot() {
    String table = register(icebergRead(SourceState.Iceberg.of(firstSnapshot)));

    assertEquals(
        List.of(
            "[20,1.50,ice,2.5,true,2026-03-04,2026-03-04 05:06:07,2026-03-04 05:06:07,7,0.5,aGk=,cold,null]",
            "[21,null,null,null,null,null,null,null,null,null,null,cold,null]"),
        rows("SELECT " + COLUMNS + ", _source, _kafka_partition FROM " + table + " ORDER BY id"));
    assertEquals(List.of("[21,cold]"), rows("SELECT id, _source FROM " + table + " WHERE id = 21"));
    assertEquals(List.of("[20]"), rows("SELECT id FROM " + table + " WHERE name = 'ice'"));
    String later = register(icebergRead(SourceState.Iceberg.of(secondSnapshot)));
    assertEquals(
        List.of("[20,ice]", "[21,null]", "[22,after the version]"),
        rows("SELECT id, name FROM " + later + " ORDER BY id"));
  }

  @Test
  void readsNothingFromIcebergSourceWithoutSnapshot() {
    String table = register(icebergRead(SourceState.Iceberg.empty()));

    assertEquals(List.of(), rows("SELECT * FROM " + table));
    assertTrue(
        explain("SELECT * FROM " + table).contains("cold iceberg iceberg.scan_ns.events empty"));
  }

  @Test
  void readsAllSourcesAsOneTableAndSaysWhichPathItTook() {
    String topic = topic(2);
    kafka.produceJson(topic, 0, List.of("{\"id\": 1}", "{\"id\": 2}"));
    kafka.produceJson(topic, 1, List.of("{\"id\": 3}"));
    SourceRead hot =
        kafkaRead(
            topic,
            SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 2), 1, new OffsetRange(0, 1))));
    String table = register(hot, jdbcRead(), icebergRead(SourceState.Iceberg.of(firstSnapshot)));

    assertEquals(
        List.of(
            "[1,hot]", "[2,hot]", "[3,hot]", "[10,warm]", "[11,warm]", "[20,cold]", "[21,cold]"),
        rows("SELECT id, _source FROM " + table + " ORDER BY id"));
    assertEquals(7, spark.table(table).count());
    assertEquals(
        List.of("[cold,2]", "[hot,3]", "[warm,2]"),
        rows("SELECT _source, count(*) FROM " + table + " GROUP BY _source ORDER BY _source"));
    assertEquals(
        List.of("[warm,pg]"), rows("SELECT _source, name FROM " + table + " WHERE score < 0"));

    String plan = explain("SELECT id FROM " + table);
    assertTrue(
        plan.contains(
            "DataHarness scan (DataSource V2 fallback: no session extension) of logs.events version"
                + " 7: hot kafka "
                + topic
                + "[0:0-2,1:0-1] (latest), warm jdbc public.events as of 2026-01-01T00:00:00Z,"
                + " cold iceberg iceberg.scan_ns.events snapshot "
                + firstSnapshot),
        plan);
  }

  @Test
  void producesOnlyTheRequiredColumnsInTheOrderAsked() {
    String topic = topic(1);
    kafka.produceJson(topic, 0, List.of(FULL));
    HarnessScanBuilder builder =
        builder(
            List.of(
                kafkaRead(topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 1)))),
                jdbcRead(),
                icebergRead(SourceState.Iceberg.of(firstSnapshot))));
    StructType required =
        new StructType()
            .add("_kafka_offset", DataTypes.LongType)
            .add("name", DataTypes.StringType)
            .add("_source", DataTypes.StringType)
            .add("id", DataTypes.IntegerType);
    builder.pruneColumns(required);
    Scan scan = builder.build();
    assertEquals(required, scan.readSchema());
    Batch batch = scan.toBatch();
    InputPartition[] partitions = batch.planInputPartitions();
    // one Kafka partition, one jdbc source, Iceberg's one data file
    assertEquals(3, partitions.length);

    String table =
        register(
            kafkaRead(topic, SourceState.Kafka.of(Map.of(0, new OffsetRange(0, 1)))),
            jdbcRead(),
            icebergRead(SourceState.Iceberg.of(firstSnapshot)));
    assertEquals(
        List.of(
            "[0,ann,hot,1]",
            "[null,pg,warm,10]",
            "[null,null,warm,11]",
            "[null,ice,cold,20]",
            "[null,null,cold,21]"),
        rows("SELECT _kafka_offset, name, _source, id FROM " + table + " ORDER BY id"));
  }

  @Test
  void keepsHarnessFieldIdsWhenBuildingTheSchemaForJdbcQueries() {
    StructType columns =
        io.dataharness.spark.conf.SparkSchemas.toSpark(
            new io.dataharness.metadata.Schema(
                3,
                List.of(
                    new io.dataharness.metadata.Field(
                        4, "id", io.dataharness.metadata.FieldType.INT, true, null),
                    new io.dataharness.metadata.Field(
                        9, "name", io.dataharness.metadata.FieldType.STRING, false, "who"))));

    assertEquals(
        List.of(4, 9),
        HarnessScanBuilder.harnessSchema(columns).fields().stream()
            .map(io.dataharness.metadata.Field::id)
            .collect(Collectors.toList()));
  }

  private static final String FULL =
      "{\"id\": 1, \"amount\": 12.34, \"user_name\": \"ann\", \"score\": 1.5, \"ok\": true,"
          + " \"day\": \"2026-01-02\", \"at\": \"2026-01-02T05:04:05.123456+02:00\", \"local\":"
          + " \"2026-01-02T03:04:05\", \"big\": 9000000000, \"ratio\": 0.25, \"payload\": \"aGk=\"}";

  private String topic(int partitions) {
    String topic = "scan_" + NAMES.incrementAndGet() + "_" + System.nanoTime();
    kafka.createTopic(topic, partitions);
    return topic;
  }

  private SourceRead kafkaRead(String topic, SourceState.Kafka state) {
    return new SourceRead(
        TABLE,
        VERSION,
        new SourceDefinition(
            "hot", SourceKind.KAFKA, "kafka", Map.of("topic", topic), NAME_MAPPING, null),
        state,
        kafkaConnection,
        SCHEMA,
        ReadOptions.parse(Map.of(), false));
  }

  private SourceRead jdbcRead() {
    return new SourceRead(
        TABLE,
        VERSION,
        new SourceDefinition(
            "warm", SourceKind.JDBC, "pg", Map.of("table", "public.events"), NAME_MAPPING, null),
        new SourceState.Jdbc(Instant.parse("2026-01-01T00:00:00Z")),
        jdbcConnection,
        SCHEMA,
        ReadOptions.parse(Map.of(), false));
  }

  private SourceRead icebergRead(SourceState.Iceberg state) {
    return new SourceRead(
        TABLE,
        VERSION,
        new SourceDefinition(
            "cold",
            SourceKind.ICEBERG,
            "lake",
            Map.of("table", "scan_ns.events"),
            NAME_MAPPING,
            null),
        state,
        icebergConnection,
        SCHEMA,
        ReadOptions.parse(Map.of(), false));
  }

  /** PostgresSources.asOfQuery belongs to another change: read the plain table, mapped. */
  private static String plainQuery(SourceRead read) {
    return "SELECT id, amount, user_name AS name, score, ok, day, at, local, big, ratio, payload"
        + " FROM "
        + read.source().option("table").orElseThrow();
  }

  private static HarnessScanBuilder builder(List<SourceRead> reads) {
    return new HarnessScanBuilder(TABLE, VERSION, SCHEMA, reads, HarnessScanTest::plainQuery);
  }

  private String register(SourceRead... reads) {
    return ScanTestCatalog.register(
        "t" + NAMES.incrementAndGet(),
        SCHEMA,
        options -> {
          ReadOptions readOptions = ReadOptions.parse(options.asCaseSensitiveMap(), false);
          List<SourceRead> withOptions = new ArrayList<>();
          for (SourceRead read : reads) {
            withOptions.add(
                new SourceRead(
                    read.table(),
                    read.version(),
                    read.source(),
                    read.state(),
                    read.connection(),
                    read.schema(),
                    readOptions));
          }
          return builder(withOptions);
        });
  }

  private List<String> rows(String sql) {
    return spark.sql(sql).collectAsList().stream().map(Row::toString).collect(Collectors.toList());
  }

  private String explain(String sql) {
    return spark.sql(sql).queryExecution().executedPlan().toString();
  }

  private static String messages(Throwable error) {
    StringBuilder text = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      text.append(cause.getMessage()).append('\n');
    }
    return text.toString();
  }
}
