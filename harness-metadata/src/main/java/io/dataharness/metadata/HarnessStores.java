package io.dataharness.metadata;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Opens a harness metadata store from its URI.
 *
 * <ul>
 *   <li>{@code jdbc:postgresql://host:port/database}: the production store. Its tables are created
 *       and migrated on open.
 *   <li>{@code jdbc:h2:file:/path/to/harness}: the embedded store, a file that needs no server
 *       (several processes on one machine can share it). PostgreSQL compatibility settings are
 *       added to the URL.
 * </ul>
 */
public final class HarnessStores {
  /** Connections kept open per store. */
  public static final int DEFAULT_POOL_SIZE = 8;

  private HarnessStores() {}

  public static HarnessStore open(String uri, String user, String password) {
    return open(uri, user, password, DEFAULT_POOL_SIZE);
  }

  public static HarnessStore open(String uri, String user, String password, int poolSize) {
    if (uri == null || uri.isBlank()) {
      throw new ValidationException(
          "Missing metadata store URI: set the catalog option 'uri' to jdbc:postgresql://..."
              + " or jdbc:h2:file:/path/to/harness");
    }
    String url = uri.trim();
    if (url.startsWith("jdbc:h2:")) {
      url = embeddedUrl(url);
      user = user == null ? "sa" : user;
      password = password == null ? "" : password;
    }
    return new JdbcHarnessStore(url, user, password, poolSize);
  }

  /** The embedded store in a directory. */
  public static HarnessStore openEmbedded(Path directory) {
    return open("jdbc:h2:file:" + directory.toAbsolutePath().resolve("harness"), null, null);
  }

  private static String embeddedUrl(String url) {
    String upper = url.toUpperCase(Locale.ROOT);
    StringBuilder result = new StringBuilder(url);
    appendIfMissing(result, upper, "MODE", "PostgreSQL");
    appendIfMissing(result, upper, "DATABASE_TO_LOWER", "TRUE");
    appendIfMissing(result, upper, "DEFAULT_NULL_ORDERING", "HIGH");
    appendIfMissing(result, upper, "LOCK_TIMEOUT", "30000");
    if (upper.startsWith("JDBC:H2:FILE:")) {
      appendIfMissing(result, upper, "AUTO_SERVER", "TRUE");
    }
    return result.toString();
  }

  private static void appendIfMissing(
      StringBuilder url, String upper, String setting, String value) {
    if (!upper.contains(";" + setting + "=")) {
      url.append(';').append(setting).append('=').append(value);
    }
  }
}
