package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SecretsTest {
  @Test
  void keysThatHoldSecrets() {
    for (String key :
        List.of(
            "password",
            "kafka.ssl.keystore.key",
            "kafka.ssl.key.password",
            "kafka.ssl.truststore.password",
            "kafka.sasl.jaas.config",
            "kafka.sasl.oauthbearer.token.endpoint.url",
            "client-secret",
            "aws.credentials.provider",
            "private-key",
            "api_key",
            "basic.auth.user.info",
            "PASSWORD")) {
      assertTrue(Secrets.isSecretKey(key), key);
    }
    for (String key :
        List.of(
            "url",
            "user",
            "bootstrap-servers",
            "kafka.ssl.keystore.location",
            "kafka.ssl.keystore.type",
            "kafka.security.protocol",
            "kafka.sasl.mechanism",
            "spark-catalog",
            "keyspace")) {
      assertFalse(Secrets.isSecretKey(key), key);
    }
  }

  @Test
  void urlsLoseTheirPasswords() {
    assertEquals(
        "jdbc:postgresql://h:5432/db?user=u&password=***&ssl=true",
        Secrets.maskUrl("jdbc:postgresql://h:5432/db?user=u&password=hunter22&ssl=true"));
    assertEquals(
        "jdbc:postgresql://h/db?password=***",
        Secrets.maskUrl("jdbc:postgresql://h/db?password=x"));
    assertEquals(
        "jdbc:postgresql://alice:***@h:5432/db",
        Secrets.maskUrl("jdbc:postgresql://alice:s3cr3t@h:5432/db"));
    assertEquals(
        "jdbc:h2:file:/tmp/h;MODE=PostgreSQL;PASSWORD=***;USER=sa",
        Secrets.maskUrl("jdbc:h2:file:/tmp/h;MODE=PostgreSQL;PASSWORD=pw;USER=sa"));
    assertEquals(
        "jdbc:postgresql://h/db?sslpassword=***&sslkey=/k.pk8",
        Secrets.maskUrl("jdbc:postgresql://h/db?sslpassword=kp&sslkey=/k.pk8"));
    String plain = "jdbc:postgresql://localhost:5432/db?ApplicationName=x";
    assertEquals(plain, Secrets.maskUrl(plain));
    assertEquals("localhost:9092,other:9093", Secrets.maskUrl("localhost:9092,other:9093"));
  }

  @Test
  void settingsAreMaskedByKeyAndUrlValue() {
    Map<String, String> settings = new HashMap<>();
    settings.put("url", "jdbc:postgresql://u:pw1234@h/db?password=pw5678");
    settings.put("user", "u");
    settings.put("password", "pw0000");
    settings.put("kafka.ssl.keystore.key", "-----BEGIN PRIVATE KEY-----");
    settings.put("kafka.ssl.keystore.location", "/etc/keystore.jks");
    Map<String, String> masked = Secrets.masked(settings);
    assertEquals("jdbc:postgresql://u:***@h/db?password=***", masked.get("url"));
    assertEquals("u", masked.get("user"));
    assertEquals("***", masked.get("password"));
    assertEquals("***", masked.get("kafka.ssl.keystore.key"));
    assertEquals("/etc/keystore.jks", masked.get("kafka.ssl.keystore.location"));
    List<String> values = Secrets.values(settings);
    assertTrue(values.containsAll(List.of("pw1234", "pw5678", "pw0000")), values.toString());
    assertEquals(
        "FATAL: no *** for you at jdbc:postgresql://u:***@h/db",
        Secrets.scrub("FATAL: no pw0000 for you at jdbc:postgresql://u:pw1234@h/db", values));
  }

  @Test
  void exceptionChainsShowingASecretAreCopiedWithoutIt() {
    java.sql.SQLException driver =
        new java.sql.SQLException(
            "cannot reach u:hunter2222@host",
            "08001",
            new java.net.UnknownHostException("u:hunter2222@host"));
    Throwable scrubbed = Secrets.scrub(driver, List.of("hunter2222"));
    assertTrue(scrubbed instanceof java.sql.SQLException);
    assertEquals("08001", ((java.sql.SQLException) scrubbed).getSQLState());
    assertArrayEquals(driver.getStackTrace(), scrubbed.getStackTrace());
    java.io.StringWriter trace = new java.io.StringWriter();
    scrubbed.printStackTrace(new java.io.PrintWriter(trace));
    assertFalse(trace.toString().contains("hunter2222"), trace.toString());
    assertTrue(
        trace.toString().contains("java.net.UnknownHostException: u:***@host"), trace.toString());
    RuntimeException clean = new RuntimeException("nothing to hide");
    assertSame(clean, Secrets.scrub(clean, List.of("hunter2222")));
  }

  @Test
  void fingerprintsDifferWhenAnySettingDiffers() {
    Map<String, String> settings = Map.of("url", "jdbc:postgresql://h/db", "password", "one");
    String fingerprint = Secrets.fingerprint(settings);
    assertEquals(fingerprint, Secrets.fingerprint(new HashMap<>(settings)));
    assertNotEquals(
        fingerprint,
        Secrets.fingerprint(Map.of("url", "jdbc:postgresql://h/db", "password", "two")));
    assertFalse(fingerprint.contains("one"));
    assertEquals(64, fingerprint.length());
    assertNotEquals(Secrets.fingerprint("ab", "c"), Secrets.fingerprint("a", "bc"));
    assertNotEquals(Secrets.fingerprint("a", null), Secrets.fingerprint("a", ""));
  }
}
