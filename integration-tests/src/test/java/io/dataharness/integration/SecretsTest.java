package io.dataharness.integration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.testing.TestingDatabase;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingPostgres;
import io.dataharness.testing.TestingRole;
import io.dataharness.testing.TestingSpark;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.SparkPlanInfo;
import org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Secrets planted in every setting that authenticates (the metadata store's password, a password
 * inside a source's JDBC URL, Kafka client keys and passwords, a JAAS config) reach the services
 * (the reads and moves work) and appear in none of the outputs a user or operator sees: logs,
 * EXPLAIN, DESCRIBE, SHOW TBLPROPERTIES, SHOW CREATE TABLE, the metadata tables, Spark job
 * descriptions and SQL plans (what the Spark UI shows), and exception messages. A wrong password is
 * refused naming the catalog or connection; a rotated password is used.
 */
class SecretsTest {
  private static final String HARNESS = "io.dataharness.spark.HarnessCatalog";

  private final SparkSession spark = TestingSpark.shared().session();
  private final TestingPostgres postgres = TestingPostgres.shared();
  private final TestingKafka kafka = TestingKafka.shared();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);

  // the planted secrets: none contains a word of Spark's own redaction rule (password, secret,
  // token), so only the harness's masking can hide them
  private final String metadataPassword = "MetaPw" + unique();
  private final String sourcePassword = "SrcPw" + unique();
  private final String keystoreKey = "KeystoreKey" + unique();
  private final String keyPassword = "KeyPw" + unique();
  private final String truststorePassword = "TrustPw" + unique();
  private final String jaasPassword = "JaasPw" + unique();
  private final String credential = "ClientCred" + unique();
  private final List<String> secrets =
      new ArrayList<>(
          List.of(
              metadataPassword,
              sourcePassword,
              keystoreKey,
              keyPassword,
              truststorePassword,
              jaasPassword,
              credential));

  private final List<String> logs = Collections.synchronizedList(new ArrayList<>());
  private final AbstractAppender logCapture =
      new AbstractAppender("secrets-test", null, null, true, Property.EMPTY_ARRAY) {
        @Override
        public void append(LogEvent event) {
          logs.add(
              event.getLoggerName()
                  + " "
                  + event.getMessage().getFormattedMessage()
                  + (event.getThrown() == null ? "" : "\n" + stackTrace(event.getThrown())));
        }
      };
  private Level rootLevel;
  private Level harnessLevel;

  // Spark shows each SQL query's changed session settings (the catalog's too) hidden by its own
  // rules, whose defaults miss kafka.ssl.keystore.key and the like: set as the README advises
  private static final String REDACTION = "spark.sql.redaction.options.regex";
  private String redaction;

  /**
   * What the Spark UI shows: job descriptions and groups, stage names, SQL plans and each SQL
   * query's changed settings.
   */
  private final List<String> sparkUi = Collections.synchronizedList(new ArrayList<>());

  private final List<String> jobDescriptions = Collections.synchronizedList(new ArrayList<>());
  private final SparkListener uiCapture =
      new SparkListener() {
        @Override
        public void onJobStart(SparkListenerJobStart jobStart) {
          if (jobStart.properties() != null) {
            for (String key :
                List.of(
                    "spark.job.description",
                    "spark.jobGroup.id",
                    "callSite.short",
                    "callSite.long")) {
              String value = jobStart.properties().getProperty(key);
              if (value != null) {
                sparkUi.add(key + ": " + value);
                if (key.equals("spark.job.description")) {
                  jobDescriptions.add(value);
                }
              }
            }
          }
        }

        @Override
        public void onStageSubmitted(SparkListenerStageSubmitted stage) {
          sparkUi.add(stage.stageInfo().name() + "\n" + stage.stageInfo().details());
        }

        @Override
        public void onOtherEvent(SparkListenerEvent event) {
          if (event instanceof SparkListenerSQLExecutionStart start) {
            sparkUi.add(
                start.modifiedConfigs()
                    + "\n"
                    + start.description()
                    + "\n"
                    + start.details()
                    + "\n"
                    + start.physicalPlanDescription()
                    + "\n"
                    + planInfo(start.sparkPlanInfo()));
          }
        }
      };

  private TestingRole metadataRole;
  private TestingRole sourceRole;
  private TestingDatabase metadataDatabase;
  private TestingDatabase sourceDatabase;
  private final List<String> catalogs = new ArrayList<>();

  private static String unique() {
    return UUID.randomUUID().toString().replace("-", "").substring(0, 12);
  }

  @BeforeEach
  void plantSecrets() throws Exception {
    metadataRole = postgres.createPasswordRole("harness_store", metadataPassword);
    sourceRole = postgres.createPasswordRole("harness_source", sourcePassword);
    metadataDatabase = postgres.createDatabase("secrets_metadata", metadataRole);
    sourceDatabase = postgres.createDatabase("secrets_sources", sourceRole);
    // a read timestamp needs to see other users' transactions (see the least-privilege docs)
    try (Connection connection =
            java.sql.DriverManager.getConnection(
                TestingSpark.shared().sourceDatabase().jdbcUrl(),
                TestingSpark.shared().sourceDatabase().user(),
                TestingSpark.shared().sourceDatabase().password());
        Statement statement = connection.createStatement()) {
      statement.execute("GRANT pg_read_all_stats TO " + sourceRole.name());
    }

    LoggerContext context = (LoggerContext) LogManager.getContext(false);
    Configuration configuration = context.getConfiguration();
    logCapture.start();
    LoggerConfig root = configuration.getRootLogger();
    rootLevel = root.getLevel();
    root.addAppender(logCapture, Level.ALL, null);
    root.setLevel(Level.INFO);
    LoggerConfig harness = configuration.getLoggerConfig("io.dataharness");
    if (!harness.getName().equals("io.dataharness")) {
      harness = new LoggerConfig("io.dataharness", Level.DEBUG, true);
      configuration.addLogger("io.dataharness", harness);
    }
    harnessLevel = harness.getLevel();
    harness.setLevel(Level.DEBUG);
    context.updateLoggers();
    redaction = spark.conf().get(REDACTION);
    spark.conf().set(REDACTION, "(?i)url|jaas|credential|[.]key$");
    spark.sparkContext().addSparkListener(uiCapture);
  }

  @AfterEach
  void stopCapturing() {
    spark.sparkContext().removeSparkListener(uiCapture);
    spark.conf().set(REDACTION, redaction);
    LoggerContext context = (LoggerContext) LogManager.getContext(false);
    Configuration configuration = context.getConfiguration();
    configuration.getRootLogger().removeAppender(logCapture.getName());
    configuration.getRootLogger().setLevel(rootLevel);
    configuration.getLoggerConfig("io.dataharness").setLevel(harnessLevel);
    context.updateLoggers();
    logCapture.stop();
    for (String catalog : catalogs) {
      for (String key :
          List.copyOf(
              scala.jdk.javaapi.CollectionConverters.asJava(spark.conf().getAll()).keySet())) {
        if (key.equals("spark.sql.catalog." + catalog)
            || key.startsWith("spark.sql.catalog." + catalog + ".")) {
          spark.conf().unset(key);
        }
      }
    }
  }

  /**
   * Configures a harness catalog on the shared session with the planted secrets (settings can be
   * overridden), and returns its name.
   */
  private String catalog(String name, Map<String, String> overrides) {
    String catalog = name + "_" + suffix;
    catalogs.add(catalog);
    String prefix = "spark.sql.catalog." + catalog;
    Map<String, String> settings = new LinkedHashMap<>();
    settings.put("", HARNESS);
    settings.put(".uri", metadataDatabase.jdbcUrl());
    settings.put(".user", metadataRole.name());
    settings.put(".password", metadataPassword);
    settings.put(".connection.pg.kind", "jdbc");
    settings.put(
        ".connection.pg.url",
        sourceDatabase.jdbcUrl() + "?password=" + sourcePassword + "&ApplicationName=secrets");
    settings.put(".connection.pg.user", sourceRole.name());
    settings.put(".connection.kafka.kind", "kafka");
    settings.put(".connection.kafka.bootstrap-servers", kafka.bootstrapServers());
    // client settings only SSL and SASL listeners use: the test broker's PLAINTEXT listener
    // ignores them, but they travel with every Kafka client the harness and Spark create
    settings.put(".connection.kafka.kafka.ssl.keystore.key", keystoreKey);
    settings.put(".connection.kafka.kafka.ssl.key.password", keyPassword);
    settings.put(".connection.kafka.kafka.ssl.truststore.password", truststorePassword);
    settings.put(
        ".connection.kafka.kafka.sasl.jaas.config",
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\""
            + " password=\""
            + jaasPassword
            + "\";");
    settings.put(".connection.kafka.kafka.sasl.client.callback.handler.credential", credential);
    settings.put(".connection.lake.kind", "iceberg");
    settings.put(".connection.lake.spark-catalog", "iceberg");
    settings.putAll(overrides);
    settings.forEach(
        (key, value) -> {
          if (value == null) {
            spark.conf().unset(prefix + key);
          } else {
            spark.conf().set(prefix + key, value);
          }
        });
    return catalog;
  }

  private String createTable(String catalog) {
    String topic = "secrets_" + suffix;
    kafka.createTopic(topic, 2);
    spark.sql("CREATE NAMESPACE " + catalog + ".ns");
    String table = catalog + ".ns.events";
    spark.sql(
        "CREATE TABLE "
            + table
            + " (id BIGINT NOT NULL, message STRING) TBLPROPERTIES ("
            + "'source.hot.kind' = 'kafka', 'source.hot.connection' = 'kafka',"
            + " 'source.hot.topic' = '"
            + topic
            + "', 'source.warm.kind' = 'jdbc', 'source.warm.connection' = 'pg',"
            + " 'source.warm.table' = 'public.events', 'source.cold.kind' = 'iceberg',"
            + " 'source.cold.connection' = 'lake', 'source.cold.table' = 'secrets_"
            + suffix
            + ".events', 'write.source' = 'hot', 'primary-key' = 'id')");
    for (int partition = 0; partition < 2; partition++) {
      List<String> values = new ArrayList<>();
      for (int id = partition; id < 20; id += 2) {
        values.add("{\"id\": " + id + ", \"message\": \"kafka " + id + "\"}");
      }
      kafka.produceJson(topic, partition, values);
    }
    try (Connection connection = sourceDatabase.connect();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "INSERT INTO public.events (id, message) SELECT g, 'postgres ' || g"
              + " FROM generate_series(100, 109) g");
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
    spark.sql("CALL " + catalog + ".system.sync(table => 'ns.events')").collect();
    return table;
  }

  @Test
  void plantedSecretsReachTheServicesAndNoOutput() throws Exception {
    String catalog = catalog("secrets", Map.of());
    String table = createTable(catalog);
    List<String> outputs = new ArrayList<>();

    // reads through every source (Kafka, the JDBC URL's password, Iceberg)
    assertEquals(20L, count(table + " WHERE _source = 'hot'"));
    assertEquals(10L, count(table + " WHERE _source = 'warm'"));
    outputs.add(text(spark.sql("EXPLAIN EXTENDED SELECT * FROM " + table)));
    outputs.add(text(spark.sql("EXPLAIN FORMATTED SELECT * FROM " + table + " WHERE id > 3")));
    outputs.add(spark.table(table).queryExecution().toString());

    // moves: Kafka -> Iceberg and PostgreSQL -> Iceberg
    List<Row> kafkaMove =
        spark
            .sql(
                "CALL "
                    + catalog
                    + ".system.move(table => 'ns.events', source => 'hot', target => 'cold',"
                    + " max_rows => 1000)")
            .collectAsList();
    List<Row> jdbcMove =
        spark
            .sql(
                "CALL "
                    + catalog
                    + ".system.move(table => 'ns.events', source => 'warm', target => 'cold',"
                    + " max_rows => 1000)")
            .collectAsList();
    outputs.add(kafkaMove.toString());
    outputs.add(jdbcMove.toString());
    assertEquals(30L, count(table), "the moves kept every row");
    assertEquals(30L, count(table + " WHERE _source = 'cold'"), "and moved them all");
    try {
      outputs.add(
          text(
              spark.sql(
                  "EXPLAIN EXTENDED CALL "
                      + catalog
                      + ".system.move(table => 'ns.events', source => 'hot', target => 'cold')")));
    } catch (RuntimeException e) {
      outputs.add(stackTrace(e)); // EXPLAIN of a CALL is not supported: its error is checked
    }

    outputs.add(text(spark.sql("DESCRIBE TABLE EXTENDED " + table)));
    outputs.add(text(spark.sql("SHOW TBLPROPERTIES " + table)));
    try {
      outputs.add(text(spark.sql("SHOW CREATE TABLE " + table)));
    } catch (RuntimeException e) {
      outputs.add(stackTrace(e)); // not supported for this table: the error is checked instead
    }
    outputs.add(text(spark.sql("DESCRIBE NAMESPACE EXTENDED " + catalog + ".ns")));
    for (String metadataTable : List.of("versions", "sources", "commits", "locks", "lag")) {
      outputs.add(text(spark.sql("SELECT * FROM " + table + "." + metadataTable)));
    }
    outputs.add(text(spark.sql("SHOW TABLES IN " + catalog + ".ns")));

    // an append through the Kafka connection (Spark's job descriptions name it)
    spark
        .sql("SELECT CAST(id + 1000 AS BIGINT) AS id, 'appended' AS message FROM range(5)")
        .writeTo(table)
        .append();
    assertEquals(35L, count(table));
    // a move into PostgreSQL (Spark's JDBC writer, the URL's password as a driver property)
    outputs.add(
        spark
            .sql(
                "CALL "
                    + catalog
                    + ".system.move(table => 'ns.events', source => 'hot', target => 'warm',"
                    + " max_rows => 1000)")
            .collectAsList()
            .toString());
    assertEquals(35L, count(table));
    assertEquals(5L, count(table + " WHERE _source = 'warm'"), "the appended rows moved");

    spark.sparkContext().listenerBus().waitUntilEmpty();
    assertTrue(
        jobDescriptions.stream().anyMatch(d -> d.startsWith("DataHarness move ns.events 'hot'")),
        "the Spark UI names the moves: " + jobDescriptions);
    assertTrue(
        logs.stream()
            .anyMatch(
                line ->
                    line.contains("Registering source 'warm'") && line.contains("password=***")),
        "CREATE TABLE logs the JDBC connection, masked: " + registering());
    assertTrue(
        logs.stream()
            .anyMatch(
                line ->
                    line.contains("Registering source 'hot'")
                        && line.contains("kafka.ssl.keystore.key=***")
                        && line.contains("kafka.sasl.jaas.config=***")),
        "CREATE TABLE logs the Kafka connection, masked: " + registering());

    assertNoSecret("statement outputs", outputs);
    assertNoSecret("Spark UI (job descriptions, stages, SQL plans)", sparkUi);
    assertNoSecret("logs", logs);
  }

  @Test
  void wrongPasswordsAreRefusedNamingTheCatalogOrConnectionAndRotatedOnesAreUsed()
      throws Exception {
    String catalog = catalog("rotation", Map.of());
    String table = createTable(catalog);
    assertEquals(30L, count(table));
    List<String> errors = new ArrayList<>();

    // the metadata store: a wrong password
    String wrongPassword = "WrongPw" + unique();
    secrets.add(wrongPassword);
    String wrongStore = catalog("wrong_store", Map.of(".password", wrongPassword));
    RuntimeException refused =
        assertThrows(RuntimeException.class, () -> spark.sql("SHOW NAMESPACES IN " + wrongStore));
    errors.add(stackTrace(refused));
    assertTrue(
        refused.getMessage().contains("Cannot start catalog " + wrongStore)
            && refused.getMessage().contains(metadataRole.name())
            && refused.getMessage().contains("refused the credentials"),
        refused.getMessage());

    // a source connection: a wrong password inside its URL; nothing is created
    String wrongSource =
        catalog(
            "wrong_source",
            Map.of(
                ".connection.pg.url",
                sourceDatabase.jdbcUrl() + "?password=" + wrongPassword + "&ApplicationName=x"));
    spark.sql("CREATE NAMESPACE " + wrongSource + ".other");
    RuntimeException sourceRefused =
        assertThrows(
            RuntimeException.class,
            () ->
                spark.sql(
                    "CREATE TABLE "
                        + wrongSource
                        + ".other.t (id BIGINT) TBLPROPERTIES ('source.w.kind' = 'jdbc',"
                        + " 'source.w.connection' = 'pg', 'source.w.table' = 'public.other')"));
    errors.add(stackTrace(sourceRefused));
    assertTrue(
        sourceRefused.getMessage().contains("connection 'pg'")
            && sourceRefused.getMessage().contains("password=***"),
        sourceRefused.getMessage());
    assertEquals(0, spark.sql("SHOW TABLES IN " + wrongSource + ".other").count());
    assertFalse(sourceTableExists("other"), "the refused CREATE TABLE created no source table");

    // a password in the user:password@host form of a URL
    String userInfoPassword = "UserInfoPw" + unique();
    secrets.add(userInfoPassword);
    String userInfo =
        catalog(
            "user_info",
            Map.of(
                ".connection.pg.url",
                sourceDatabase
                    .jdbcUrl()
                    .replace("//", "//" + sourceRole.name() + ":" + userInfoPassword + "@")));
    spark.sql("CREATE NAMESPACE " + userInfo + ".other_user_info");
    RuntimeException userInfoRefused =
        assertThrows(
            RuntimeException.class,
            () ->
                spark.sql(
                    "CREATE TABLE "
                        + userInfo
                        + ".other_user_info.t (id BIGINT) TBLPROPERTIES ('source.w.kind' = 'jdbc',"
                        + " 'source.w.connection' = 'pg', 'source.w.table' = 'public.other')"));
    errors.add(stackTrace(userInfoRefused));
    assertTrue(userInfoRefused.getMessage().contains("connection 'pg'"), userInfo);

    // rotation of the metadata store's password: the new one is used, the old one refused
    String rotatedMetadata = "MetaPwRotated" + unique();
    String rotatedSource = "SrcPwRotated" + unique();
    secrets.add(rotatedMetadata);
    secrets.add(rotatedSource);
    postgres.changePassword(metadataRole, rotatedMetadata);
    postgres.changePassword(sourceRole, rotatedSource);
    String rotated =
        catalog(
            "rotated",
            Map.of(
                ".password",
                rotatedMetadata,
                ".connection.pg.url",
                sourceDatabase.jdbcUrl() + "?password=" + rotatedSource));
    assertEquals(30L, count(rotated + ".ns.events"), "the rotated passwords are used");
    assertEquals(10L, count(rotated + ".ns.events WHERE _source = 'warm'"));
    // the old metadata password: refused, though a pool that logged in with it is still open
    String stale = catalog("stale", Map.of());
    RuntimeException staleRefused =
        assertThrows(RuntimeException.class, () -> spark.sql("SHOW NAMESPACES IN " + stale));
    errors.add(stackTrace(staleRefused));
    assertTrue(
        staleRefused.getMessage().contains("Cannot start catalog " + stale)
            && staleRefused.getMessage().contains("refused the credentials"),
        staleRefused.getMessage());
    // the old source password: the read fails naming the connection
    String staleSource = catalog("stale_source", Map.of(".password", rotatedMetadata));
    RuntimeException staleSourceRefused =
        assertThrows(
            RuntimeException.class, () -> count(staleSource + ".ns.events WHERE _source = 'warm'"));
    errors.add(stackTrace(staleSourceRefused));
    assertTrue(
        stackTrace(staleSourceRefused).contains("connection 'pg'"), stackTrace(staleSourceRefused));

    spark.sparkContext().listenerBus().waitUntilEmpty();
    assertNoSecret("exceptions", errors);
    assertNoSecret("Spark UI (job descriptions, stages, SQL plans)", sparkUi);
    assertNoSecret("logs", logs);
  }

  private boolean sourceTableExists(String name) {
    try (Connection connection = sourceDatabase.connect();
        Statement statement = connection.createStatement();
        var result = statement.executeQuery("SELECT to_regclass('public." + name + "')")) {
      result.next();
      return result.getString(1) != null;
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private long count(String relation) {
    return spark.sql("SELECT count(*) FROM " + relation).collectAsList().get(0).getLong(0);
  }

  private List<String> registering() {
    return logs.stream().filter(line -> line.contains("Registering source")).toList();
  }

  private void assertNoSecret(String where, List<String> texts) {
    assertFalse(texts.isEmpty(), where + ": nothing captured");
    List<String> copy;
    synchronized (texts) {
      copy = List.copyOf(texts);
    }
    for (String text : copy) {
      for (String secret : secrets) {
        if (text != null && text.contains(secret)) {
          throw new AssertionError(where + " show a secret (" + secret + "):\n" + text);
        }
      }
    }
  }

  private static String text(org.apache.spark.sql.Dataset<Row> rows) {
    StringBuilder text = new StringBuilder();
    for (Row row : rows.collectAsList()) {
      text.append(row.mkString(" | ")).append('\n');
    }
    return text.toString();
  }

  private static String stackTrace(Throwable error) {
    StringWriter writer = new StringWriter();
    error.printStackTrace(new PrintWriter(writer));
    return writer.toString();
  }

  private static String planInfo(SparkPlanInfo info) {
    StringBuilder text = new StringBuilder(info.nodeName()).append(' ').append(info.simpleString());
    text.append(' ').append(info.metadata());
    scala.jdk.javaapi.CollectionConverters.asJava(info.children())
        .forEach(child -> text.append('\n').append(planInfo(child)));
    return text.toString();
  }
}
