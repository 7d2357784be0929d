package io.dataharness.spark.jobs;

import static io.dataharness.spark.jobs.TestSql.postgres;
import static io.dataharness.spark.jobs.TestSql.postgresCount;
import static io.dataharness.spark.jobs.TestSql.postgresStrings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.testing.TestingKafka;
import io.dataharness.testing.TestingSpark;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.TableCatalog;
import org.junit.jupiter.api.Test;

/**
 * SPEC 10, bad input to DDL: CREATE TABLE checks every source before it changes any (Kafka topic,
 * column types of existing PostgreSQL and Iceberg tables, properties), and undoes what earlier
 * sources installed when a later one fails; a bad ALTER TABLE leaves the versions as they were.
 */
class CreateTableBadInputTest {
  private final SparkSession spark = TestingSpark.shared().session();
  private final String suffix = UUID.randomUUID().toString().substring(0, 8);
  private final String namespace = "bad_" + suffix;
  private final TableIdentifier table = TableIdentifier.of(namespace, "t");
  private final String icebergNamespace = "lake_bad_" + suffix;
  private final String existingPg = "existing_" + suffix;
  private final String newPg = "created_" + suffix;
  private final String topic = "bad_events_" + suffix;

  CreateTableBadInputTest() throws Exception {
    TestingKafka.shared().createTopic(topic, 1);
    spark.sql("CREATE NAMESPACE harness." + namespace);
    postgres(
        "CREATE TABLE public." + existingPg + " (id bigint NOT NULL, message text, version bigint)",
        "INSERT INTO public." + existingPg + " VALUES (1, 'one', 1), (2, 'two', 1)");
  }

  private static String source(String id, String kind, String connection, String key, String v) {
    return String.format(
        "'source.%s.kind' = '%s', 'source.%s.connection' = '%s', 'source.%s.%s' = '%s'",
        id, kind, id, connection, id, key, v);
  }

  private String createSql(String catalog, String columns, String... sources) {
    return "CREATE TABLE "
        + catalog
        + "."
        + namespace
        + ".t ("
        + columns
        + ") TBLPROPERTIES ("
        + String.join(", ", sources)
        + ")";
  }

  private static final String COLUMNS = "id BIGINT NOT NULL, message STRING, version BIGINT";

  private String icebergSource(String id) {
    return source(id, "iceberg", "lake", "table", icebergNamespace + ".t");
  }

  private String throwsMessage(String sql) {
    Throwable error = assertThrows(Throwable.class, () -> spark.sql(sql), sql);
    StringBuilder messages = new StringBuilder();
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      messages.append(cause.getMessage()).append(" | ");
      for (Throwable suppressed : cause.getSuppressed()) {
        messages.append("suppressed: ").append(suppressed.getMessage()).append(" | ");
      }
    }
    return messages.toString();
  }

  private static final String INVALID = "INVALID_PARAMETER_VALUE.PATTERN";
  private static final String TYPE_MISMATCH = "DATATYPE_MISMATCH.TYPE_CHECK_FAILURE_WITH_HINT";

  /**
   * What PySpark users get for bad input: Spark's AnalysisException with an error condition and a
   * SQLSTATE, the harness's message in its message and the harness exception as its cause.
   */
  private AnalysisException analysisError(String sql, String condition, String sqlState) {
    Throwable error = assertThrows(Throwable.class, () -> spark.sql(sql).collect(), sql);
    assertTrue(
        error instanceof AnalysisException,
        sql + " -> " + error.getClass().getName() + ": " + error.getMessage());
    AnalysisException analysis = (AnalysisException) error;
    assertEquals(condition, analysis.getCondition(), sql + " -> " + analysis.getMessage());
    if (sqlState != null) {
      assertEquals(sqlState, analysis.getSqlState(), sql + " -> " + analysis.getMessage());
      assertTrue(
          analysis.getCause() instanceof ValidationException,
          sql + " -> cause " + analysis.getCause());
      assertTrue(
          analysis.getMessage().contains(analysis.getCause().getMessage()),
          "the harness message is in Spark's: " + analysis.getMessage());
    }
    return analysis;
  }

  /** Spark's message for an invalid parameter of a statement on the table. */
  private String invalidParameter(String statement, String parameter) {
    return "The value of parameter(s) `"
        + parameter
        + "` in "
        + statement
        + " `harness`.`"
        + namespace
        + "`.`t` is invalid: ";
  }

  private boolean icebergTableExists() {
    TableCatalog iceberg =
        (TableCatalog)
            ((org.apache.spark.sql.classic.SparkSession) spark)
                .sessionState()
                .catalogManager()
                .catalog("iceberg");
    Identifier identifier = Identifier.of(new String[] {icebergNamespace}, "t");
    iceberg.invalidateTable(identifier);
    return iceberg.tableExists(identifier);
  }

  private static long relations(String name) throws Exception {
    return postgresCount("SELECT count(*) FROM pg_class WHERE relname = '" + name + "'");
  }

  /** The existing PostgreSQL table as an application sees it: columns, trigger, history, rows. */
  private void assertExistingTableUntouched() throws Exception {
    assertEquals(
        List.of("id", "message", "version"),
        postgresStrings(
            "SELECT column_name FROM information_schema.columns WHERE table_name = '"
                + existingPg
                + "' ORDER BY ordinal_position"),
        "no harness system columns left on the existing table");
    assertEquals(
        0,
        postgresCount(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                + " WHERE c.relname = '"
                + existingPg
                + "'"),
        "no trigger left on the existing table");
    assertEquals(0, relations(existingPg + "_harness_history"), "no history table left");
    assertEquals(
        0,
        postgresCount(
            "SELECT count(*) FROM pg_proc WHERE proname IN ('"
                + existingPg
                + "_harness_versioning', '"
                + existingPg
                + "_harness_deletes')"),
        "no trigger function left");
    assertEquals(
        List.of("1 one", "2 two"),
        postgresStrings("SELECT id || ' ' || message FROM public." + existingPg + " ORDER BY id"),
        "the application's rows are as they were");
  }

  @Test
  void aLaterSourceFailingUndoesWhatTheEarlierSourcesInstalled() throws Exception {
    // a second harness catalog with an iceberg connection whose warehouse cannot be created (its
    // parent is a regular file): registering that source fails after the others were set up
    Path file = Files.createTempFile("not-a-directory-", ".txt");
    String broken = "broken_lake_" + suffix;
    spark.conf().set("spark.sql.catalog." + broken, "org.apache.iceberg.spark.SparkCatalog");
    spark.conf().set("spark.sql.catalog." + broken + ".type", "hadoop");
    spark.conf().set("spark.sql.catalog." + broken + ".warehouse", file.toUri() + "/warehouse");
    String harness =
        catalogWith(
            "undo",
            ".connection.broken.kind",
            "iceberg",
            ".connection.broken.spark-catalog",
            broken);

    // sources register in the order of their ids
    String sql =
        createSql(
            harness,
            COLUMNS,
            icebergSource("a_cold"),
            source("b_warm", "jdbc", "pg", "table", "public." + newPg),
            source("c_existing", "jdbc", "pg", "table", "public." + existingPg),
            source("d_hot", "kafka", "kafka", "topic", topic),
            source("e_broken", "iceberg", "broken", "table", "lake.t"));
    String message = throwsMessage(sql);
    assertTrue(
        message.contains("Cannot create Iceberg table") && message.contains("'e_broken'"), message);

    assertFalse(
        JobArguments.catalog(spark, "harness").store().tableExists(table),
        "the metadata store holds no table");
    assertFalse(icebergTableExists(), "the Iceberg table the harness created is dropped");
    assertEquals(0, relations(newPg), "the PostgreSQL table the harness created is dropped");
    assertEquals(0, relations(newPg + "_harness_history"));
    assertExistingTableUntouched();

    // nothing left in the way: the same table without the broken source is created and reads
    spark.sql(
        createSql(
            "harness",
            COLUMNS,
            icebergSource("a_cold"),
            source("b_warm", "jdbc", "pg", "table", "public." + newPg),
            source("c_existing", "jdbc", "pg", "table", "public." + existingPg),
            source("d_hot", "kafka", "kafka", "topic", topic)));
    assertEquals(
        List.of(1L, 2L),
        spark.sql("SELECT id FROM harness." + namespace + ".t ORDER BY id").collectAsList().stream()
            .map(row -> row.getLong(0))
            .toList());
  }

  /**
   * A catalog configured like {@code harness}, with {@code extra} options added (keys relative to
   * {@code spark.sql.catalog.<name>}); returns its name.
   */
  private String catalogWith(String label, String... extra) {
    String catalog = "harness_" + label + "_" + suffix;
    String prefix = "spark.sql.catalog." + catalog;
    for (String key :
        List.of(
            "",
            ".uri",
            ".user",
            ".password",
            ".connection.kafka.kind",
            ".connection.kafka.bootstrap-servers",
            ".connection.pg.kind",
            ".connection.pg.url",
            ".connection.pg.user",
            ".connection.pg.password",
            ".connection.lake.kind",
            ".connection.lake.spark-catalog")) {
      spark.conf().set(prefix + key, spark.conf().get("spark.sql.catalog.harness" + key));
    }
    for (int i = 0; i < extra.length; i += 2) {
      spark.conf().set(prefix + extra[i], extra[i + 1]);
    }
    return catalog;
  }

  @Test
  void misspeltCatalogOptionsAndConnectionSettingsAreRefusedNamingTheOneMeant() throws Exception {
    List<String> namespaces = JobArguments.catalog(spark, "harness").store().listNamespaces();
    String pgUrl = spark.conf().get("spark.sql.catalog.harness.connection.pg.url");
    // {label, key, value, the option Spark's message names, the harness message}
    String[][] cases = {
      {"uir", ".uir", "x", ".uir", "is not an option of a harness catalog; did you mean"},
      {
        "conection",
        ".conection.pg2.url",
        pgUrl,
        ".conection.pg2.url",
        "is not an option of a harness catalog; did you mean spark.sql.catalog.%s.connection.pg2.url?"
      },
      {
        "ulr",
        ".connection.pg.ulr",
        pgUrl,
        "connection.pg.ulr",
        "Invalid connection 'pg': spark.sql.catalog.<catalog>.connection.pg.ulr is not a setting of"
            + " a jdbc connection; did you mean 'url'? its settings are kind, url, user, password"
      },
      {
        "kafka_on_jdbc",
        ".connection.pg.kafka.acks",
        "all",
        "connection.pg.kafka.acks",
        "connection.pg.kafka.acks is not a setting of a jdbc connection; its settings are kind,"
            + " url, user, password"
      },
      {
        "bootstrap",
        ".connection.kafka.bootstrap.servers",
        "localhost:1",
        "connection.kafka.bootstrap.servers",
        "is not a setting of a kafka connection; did you mean 'bootstrap-servers'? its settings"
            + " are kind, bootstrap-servers, kafka.<client property>"
      }
    };
    for (String[] bad : cases) {
      String catalog = catalogWith(bad[0], bad[1], bad[2]);
      String parameter = bad[3].startsWith(".") ? "spark.sql.catalog." + catalog + bad[3] : bad[3];
      for (String sql :
          List.of("SHOW NAMESPACES IN " + catalog, "CREATE NAMESPACE " + catalog + ".created")) {
        String message = analysisError(sql, INVALID, "22023").getMessage();
        assertTrue(
            message.contains(
                "The value of parameter(s) `"
                    + parameter
                    + "` in catalog `"
                    + catalog
                    + "` is invalid: "),
            sql + " -> " + message);
        assertTrue(message.contains(bad[4].replace("%s", catalog)), sql + " -> " + message);
      }
    }
    assertEquals(
        namespaces,
        JobArguments.catalog(spark, "harness").store().listNamespaces(),
        "no refused catalog created a namespace");

    // Kafka client properties stay open
    String open = catalogWith("open", ".connection.kafka.kafka.client.id", "harness-test");
    assertTrue(
        spark.sql("SHOW NAMESPACES IN " + open).collectAsList().stream()
            .anyMatch(row -> row.getString(0).equals(namespace)));
  }

  @Test
  void aMissingTopicIsRefusedBeforeAnySourceChanges() throws Exception {
    String message =
        analysisError(
                createSql(
                    "harness",
                    COLUMNS,
                    icebergSource("a_cold"),
                    source("b_existing", "jdbc", "pg", "table", "public." + existingPg),
                    source("c_hot", "kafka", "kafka", "topic", "missing_" + suffix)),
                INVALID,
                "22023")
            .getMessage();
    assertTrue(
        message.contains(invalidParameter("CREATE TABLE", "source.c_hot.topic"))
            && message.contains("Cannot read Kafka topic missing_" + suffix)
            && message.contains("the topic does not exist"),
        message);
    assertFalse(spark.catalog().tableExists("harness." + namespace + ".t"));
    assertFalse(icebergTableExists(), "no Iceberg table was created");
    assertExistingTableUntouched();
  }

  @Test
  void columnTypesAnExistingTableCannotHoldAreRefusedBeforeAnySourceChanges() throws Exception {
    // the existing PostgreSQL table's message is text: a harness INT column cannot read it
    String message =
        analysisError(
                createSql(
                    "harness",
                    "id BIGINT NOT NULL, message INT, version BIGINT",
                    icebergSource("a_cold"),
                    source("b_existing", "jdbc", "pg", "table", "public." + existingPg)),
                TYPE_MISMATCH,
                "42K09")
            .getMessage();
    assertTrue(
        message.contains(
            "Cannot resolve \"message\" due to data type mismatch: Cannot create "
                + table
                + ": column 'message' is int, but PostgreSQL table public."
                + existingPg
                + " of source 'b_existing' has column message of type text"),
        message);
    assertTrue(message.contains("source.b_existing.column.message"), message);
    assertFalse(icebergTableExists(), "no Iceberg table was created");
    assertExistingTableUntouched();

    // a harness INT cannot hold the existing bigint id either (narrower whole number)
    message =
        analysisError(
                createSql(
                    "harness",
                    "id INT NOT NULL, message STRING, version BIGINT",
                    icebergSource("a_cold"),
                    source("b_existing", "jdbc", "pg", "table", "public." + existingPg)),
                TYPE_MISMATCH,
                "42K09")
            .getMessage();
    assertTrue(message.contains("column 'id' is int") && message.contains("bigint"), message);
    assertExistingTableUntouched();

    // an existing Iceberg table with a string id
    spark.sql("CREATE NAMESPACE IF NOT EXISTS iceberg." + icebergNamespace);
    spark.sql(
        "CREATE TABLE iceberg." + icebergNamespace + ".t (id STRING, message STRING, version INT)");
    message =
        analysisError(
                createSql(
                    "harness",
                    COLUMNS,
                    source("a_existing", "jdbc", "pg", "table", "public." + existingPg),
                    icebergSource("b_cold")),
                TYPE_MISMATCH,
                "42K09")
            .getMessage();
    assertTrue(
        message.contains("column 'id' is long, but Iceberg table lake.")
            || message.contains("column 'id' is long, but Iceberg table iceberg."),
        message);
    assertTrue(message.contains("type string"), message);
    assertExistingTableUntouched();
    assertFalse(spark.catalog().tableExists("harness." + namespace + ".t"));
  }

  @Test
  void badPropertiesAndSchemaChangesLeaveTheVersionsAsTheyWere() throws Exception {
    String property = "Cannot use table property '%s' of " + table + ": ";
    String jdbc = "'source.a.kind' = 'jdbc', 'source.a.table' = 'public." + existingPg + "'";
    // {columns, properties, condition, parameter (or column), message}
    String[][] cases = {
      {
        COLUMNS,
        "'source.a.kind' = 'kafka', 'source.a.connection' = 'nope', 'source.a.topic' = 'x'",
        INVALID,
        "source.a.connection",
        property.formatted("source.a.connection") + "there is no kafka connection 'nope'; configure"
      },
      {
        COLUMNS,
        "'source.a.kind' = 'parquet', 'source.a.connection' = 'kafka'",
        INVALID,
        "source.a.kind",
        property.formatted("source.a.kind") + "'parquet' is not a source kind; set it to kafka"
      },
      {
        COLUMNS,
        "'source.a.kind' = 'kafka', 'source.a.connection' = 'kafka', 'source.a.topic' = 'x',"
            + " 'source.a.bogus' = '1'",
        INVALID,
        "source.a.bogus",
        property.formatted("source.a.bogus") + "it is not a setting of a kafka source; use kind"
      },
      {
        // a misspelt setting is refused naming the one meant
        COLUMNS,
        jdbc + ", 'source.a.connection' = 'pg', 'source.a.conection' = 'pg'",
        INVALID,
        "source.a.conection",
        property.formatted("source.a.conection")
            + "it is not a setting of a jdbc source; did you mean 'source.a.connection'? use"
      },
      {
        COLUMNS,
        jdbc + ", 'source.a.connection' = 'pg', 'primary_key' = 'id'",
        INVALID,
        "primary_key",
        property.formatted("primary_key")
            + "it is not a harness table property; did you mean 'primary-key'? use one of"
      },
      {
        COLUMNS,
        "'source.a.kind' = 'kafka', 'source.a.connection' = 'kafka'",
        INVALID,
        "source.a.topic",
        property.formatted("source.a.topic") + "it is missing; a kafka source needs it"
      },
      {
        COLUMNS,
        "'source.a.kind' = 'kafka', 'source.a.connection' = 'kafka', 'source.a.topic' = '"
            + topic
            + "', 'source.a.start' = 'middle'",
        INVALID,
        "source.a.start",
        property.formatted("source.a.start") + "'middle' is not supported; use earliest or latest"
      },
      {
        COLUMNS,
        icebergSource("a_cold") + ", 'write.source' = 'nope'",
        INVALID,
        "write.source",
        "Cannot create " + table + ": table property write.source = 'nope': 'nope' is not one of"
      },
      {
        COLUMNS,
        icebergSource("a_cold") + ", 'source.a_cold.partition-filter' = 'nope > 1'",
        INVALID,
        "source.a_cold.partition-filter",
        "Cannot create table " + table + ": source 'a_cold' partition-filter 'nope > 1' is invalid"
      },
      {
        "id BIGINT NOT NULL, tags MAP<STRING, STRING>",
        icebergSource("a_cold"),
        TYPE_MISMATCH,
        "tags",
        "Unsupported type map<string,string> for column 'tags': harness tables hold boolean"
      }
    };
    for (String[] bad : cases) {
      String sql = createSql("harness", bad[0], bad[1]);
      String message =
          analysisError(sql, bad[2], INVALID.equals(bad[2]) ? "22023" : "42K09").getMessage();
      String expected =
          INVALID.equals(bad[2])
              ? invalidParameter("CREATE TABLE", bad[3])
              : "Cannot resolve \"" + bad[3] + "\" due to data type mismatch: ";
      assertTrue(message.contains(expected + bad[4]), sql + " -> " + message);
      assertFalse(spark.catalog().tableExists("harness." + namespace + ".t"), bad[1]);
      assertFalse(icebergTableExists(), bad[1]);
      assertExistingTableUntouched();
    }

    var partitioned =
        analysisError(
            "CREATE TABLE harness."
                + namespace
                + ".t (id BIGINT, day DATE) PARTITIONED BY (day) TBLPROPERTIES ("
                + icebergSource("a_cold")
                + ")",
            INVALID,
            "22023");
    assertTrue(
        partitioned
            .getMessage()
            .contains(
                invalidParameter("CREATE TABLE", "PARTITIONED BY")
                    + "Cannot create "
                    + table
                    + ": PARTITIONED BY is not supported"),
        partitioned.getMessage());
    assertFalse(spark.catalog().tableExists("harness." + namespace + ".t"));
    assertFalse(icebergTableExists());

    spark.sql(
        createSql(
            "harness",
            COLUMNS,
            source("hot", "kafka", "kafka", "topic", topic),
            source("warm", "jdbc", "pg", "table", "public." + existingPg)));
    TestingKafka.shared()
        .produceJson(topic, 0, List.of("{\"id\": 10, \"message\": \"ten\", \"version\": 1}"));
    spark.sql("CALL harness.system.sync(table => '" + table + "')").collect();
    var store = JobArguments.catalog(spark, "harness").store();
    TableVersion before = store.readLatest(table);
    int versions = store.history(table, 0, 1000).size();
    String qualified = "harness." + namespace + ".t";
    // {change, condition, message}: Spark's own conditions for what it refuses itself
    String alterTable = "ALTER TABLE";
    String[][] alters = {
      {"ALTER COLUMN id TYPE INT", "NOT_SUPPORTED_CHANGE_COLUMN", "NOT_SUPPORTED_CHANGE_COLUMN"},
      {
        "SET TBLPROPERTIES (" + source("x", "kafka", "kafka", "topic", "missing_" + suffix) + ")",
        INVALID,
        invalidParameter(alterTable, "source.x.topic") + "Cannot read Kafka topic missing_" + suffix
      },
      {
        // both added sources are checked before the first (a new Iceberg table) is registered
        "SET TBLPROPERTIES ("
            + icebergSource("a_cold")
            + ", "
            + source("b_hot", "kafka", "kafka", "topic", "missing_" + suffix)
            + ")",
        INVALID,
        invalidParameter(alterTable, "source.b_hot.topic")
            + "Cannot read Kafka topic missing_"
            + suffix
      },
      {
        "SET TBLPROPERTIES ("
            + source("a_cold", "jdbc", "pg", "table", "public." + existingPg)
            + ", 'source.a_cold.column.id' = 'message')",
        TYPE_MISMATCH,
        "Cannot resolve \"id\" due to data type mismatch: Cannot create "
            + table
            + ": column 'id' is long, but PostgreSQL table public."
            + existingPg
            + " of source 'a_cold' has column message of type text"
      },
      {
        "SET TBLPROPERTIES ('source.warm.bogus' = '1')",
        INVALID,
        invalidParameter(alterTable, "source.warm.bogus")
            + "Cannot alter "
            + table
            + ": table property 'source.warm.bogus'"
      },
      {
        "SET TBLPROPERTIES ('ordering_column' = 'version')",
        INVALID,
        invalidParameter(alterTable, "ordering_column")
            + "Cannot alter "
            + table
            + ": table property 'ordering_column': it is not a harness table property; did you"
            + " mean 'ordering-column'?"
      },
      {
        "SET TBLPROPERTIES ('write.source' = 'nope')",
        INVALID,
        invalidParameter(alterTable, "write.source")
            + "Cannot alter "
            + table
            + ": table property write.source = 'nope'"
      },
      {
        "UNSET TBLPROPERTIES ('source.nope.kind')",
        INVALID,
        invalidParameter(alterTable, "source.nope.kind")
            + "Cannot alter "
            + table
            + ": table property 'source.nope.kind': the table has no source"
      },
      {
        "ADD COLUMN tags MAP<STRING, STRING>",
        TYPE_MISMATCH,
        "Cannot resolve \"tags\" due to data type mismatch: Unsupported type map<string,string>"
      },
      {
        "ADD COLUMN late STRING FIRST",
        INVALID,
        invalidParameter(alterTable, "COLUMNS") + "Cannot add column 'late' to " + table
      },
      {
        "RENAME TO latest",
        INVALID,
        invalidParameter(alterTable, "RENAME TO") + "Cannot rename table " + table + " to "
      },
      {"ADD COLUMN id STRING", "FIELD_ALREADY_EXISTS", "FIELD_ALREADY_EXISTS"}
    };
    for (String[] change : alters) {
      String alter = "ALTER TABLE " + qualified + " " + change[0];
      boolean ours = change[1].equals(INVALID) || change[1].equals(TYPE_MISMATCH);
      String message =
          analysisError(
                  alter, change[1], !ours ? null : change[1].equals(INVALID) ? "22023" : "42K09")
              .getMessage();
      assertTrue(message.contains(change[2]), alter + " -> " + message);
      assertFalse(icebergTableExists(), alter);
      TableVersion after = store.readLatest(table);
      assertEquals(before.version(), after.version(), alter + " -> " + message);
      assertEquals(before.sourceStates(), after.sourceStates(), alter);
      assertEquals(before.schema(), after.schema(), alter);
      assertEquals(versions, store.history(table, 0, 1000).size(), alter);
      assertEquals(
          List.of(1L, 2L, 10L),
          spark.sql("SELECT id FROM " + qualified + " ORDER BY id").collectAsList().stream()
              .map(row -> row.getLong(0))
              .toList(),
          alter);
    }
  }
}
