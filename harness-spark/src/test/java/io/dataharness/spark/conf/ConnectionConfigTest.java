package io.dataharness.spark.conf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dataharness.spark.errors.InvalidParameterException;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConnectionConfigTest {
  private static ConnectionConfig connection(String password) {
    return ConnectionConfig.parseAll(
            Map.of(
                "connection.pg.kind", "jdbc",
                "connection.pg.url", "jdbc:postgresql://db:5432/app?password=UrlPw1234&ssl=true",
                "connection.pg.user", "app",
                "connection.pg.password", password))
        .get("pg");
  }

  private static ConnectionConfig kafka(Map<String, String> settings) {
    Map<String, String> options = new java.util.TreeMap<>();
    options.put("connection.events.kind", "kafka");
    options.put("connection.events.bootstrap-servers", "broker:9092");
    settings.forEach((key, value) -> options.put("connection.events." + key, value));
    return ConnectionConfig.parseAll(options).get("events");
  }

  @Test
  void unknownSettingsAreRefusedNamingTheClosestKnownOne() {
    InvalidParameterException misspelt =
        assertThrows(
            InvalidParameterException.class,
            () ->
                ConnectionConfig.parseAll(
                    Map.of(
                        "connection.pg.kind", "jdbc",
                        "connection.pg.url", "jdbc:postgresql://db:5432/app",
                        "connection.pg.pasword", "secret")));
    assertEquals("connection.pg.pasword", misspelt.parameter());
    assertEquals(
        "Invalid connection 'pg': spark.sql.catalog.<catalog>.connection.pg.pasword is not a"
            + " setting of a jdbc connection; did you mean 'password'? its settings are kind,"
            + " url, user, password",
        misspelt.getMessage());

    // a setting of another kind, with nothing close to it
    InvalidParameterException otherKind =
        assertThrows(
            InvalidParameterException.class, () -> kafka(Map.of("spark-catalog", "iceberg")));
    assertEquals(
        "Invalid connection 'events': spark.sql.catalog.<catalog>.connection.events.spark-catalog"
            + " is not a setting of a kafka connection; its settings are kind, bootstrap-servers,"
            + " kafka.<client property>",
        otherKind.getMessage());

    // Kafka client properties stay open
    assertEquals("all", kafka(Map.of("kafka.acks", "all")).kafkaClientProperties().get("acks"));
  }

  @Test
  void unknownCatalogOptionsAreRefusedNamingTheClosestKnownOne() {
    InvalidParameterException option =
        assertThrows(
            InvalidParameterException.class,
            () -> CatalogOptions.check("lake", Map.of("uri", "jdbc:h2:mem:x", "usr", "me")));
    assertEquals("spark.sql.catalog.lake.usr", option.parameter());
    assertTrue(
        option
            .getMessage()
            .startsWith(
                "Cannot start catalog lake: spark.sql.catalog.lake.usr is not an option of a"
                    + " harness catalog; did you mean spark.sql.catalog.lake.user? its options"
                    + " are uri, user, password and connection.<conn>.<setting>"),
        option.getMessage());
    InvalidParameterException connection =
        assertThrows(
            InvalidParameterException.class,
            () -> CatalogOptions.check("lake", Map.of("connections.pg.url", "jdbc:x")));
    assertTrue(
        connection.getMessage().contains("did you mean spark.sql.catalog.lake.connection.pg.url?"),
        connection.getMessage());
    assertTrue(
        CatalogOptions.closest("warehouse", java.util.List.of("uri", "user")).isEmpty(),
        "nothing close: no suggestion");
    CatalogOptions.check("lake", Map.of("URI", "x", "connection.pg.url", "y"));
  }

  @Test
  void showsNoSecret() {
    String shown = connection("OptionPw9999").toString();
    assertTrue(shown.startsWith("connection 'pg' (jdbc) {"), shown);
    assertTrue(shown.contains("url=jdbc:postgresql://db:5432/app?password=***&ssl=true"), shown);
    assertTrue(shown.contains("user=app"), shown);
    for (String secret : new String[] {"UrlPw1234", "OptionPw9999"}) {
      assertFalse(shown.contains(secret), shown);
    }
    String kafka = kafka(Map.of("kafka.ssl.keystore.key", "KeystoreKey5678")).toString();
    assertFalse(kafka.contains("KeystoreKey5678"), kafka);
    assertEquals(
        "failed for *** and ***",
        connection("OptionPw9999").scrub("failed for UrlPw1234 and OptionPw9999"));
  }

  @Test
  void theUrlsPasswordTravelsAsADriverProperty() {
    ConnectionConfig connection = connection("OptionPw9999");
    Map<String, String> options = connection.sparkJdbcOptions();
    assertEquals("jdbc:postgresql://db:5432/app?ssl=true", options.get("url"));
    // the URL's own password wins over the password option, as it would inside the URL
    assertEquals("UrlPw1234", options.get("password"));
    assertEquals("app", options.get("user"));
    assertEquals("jdbc:postgresql://db:5432/app?ssl=true", connection.jdbcUrlWithoutSecrets());
    assertEquals("UrlPw1234", connection.jdbcProperties().getProperty("password"));
  }

  @Test
  void fingerprintChangesWithThePassword() {
    assertEquals(connection("one-pw").fingerprint(), connection("one-pw").fingerprint());
    assertNotEquals(connection("one-pw").fingerprint(), connection("two-pw").fingerprint());
  }
}
