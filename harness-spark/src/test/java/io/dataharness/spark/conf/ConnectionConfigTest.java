package io.dataharness.spark.conf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ConnectionConfigTest {
  private static ConnectionConfig connection(String password) {
    return ConnectionConfig.parseAll(
            Map.of(
                "connection.pg.kind", "jdbc",
                "connection.pg.url", "jdbc:postgresql://db:5432/app?password=UrlPw1234&ssl=true",
                "connection.pg.user", "app",
                "connection.pg.password", password,
                "connection.pg.kafka.ssl.keystore.key", "KeystoreKey5678"))
        .get("pg");
  }

  @Test
  void showsNoSecret() {
    String shown = connection("OptionPw9999").toString();
    assertTrue(shown.startsWith("connection 'pg' (jdbc) {"), shown);
    assertTrue(shown.contains("url=jdbc:postgresql://db:5432/app?password=***&ssl=true"), shown);
    assertTrue(shown.contains("user=app"), shown);
    for (String secret : new String[] {"UrlPw1234", "OptionPw9999", "KeystoreKey5678"}) {
      assertFalse(shown.contains(secret), shown);
    }
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
