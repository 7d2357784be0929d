package io.dataharness.spark.conf;

import io.dataharness.metadata.Secrets;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.errors.InvalidParameterException;
import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A named connection from the catalog options {@code connection.<name>.*}. Sources refer to it by
 * name; its secrets stay in Spark's configuration and never reach the metadata store, a message, a
 * log line or a plan: whatever shows its settings shows them through {@link Secrets} ({@link
 * #toString}, {@link #scrub}).
 *
 * <ul>
 *   <li>kafka: {@code bootstrap-servers}, and any {@code kafka.<client property>}
 *   <li>jdbc: {@code url}, {@code user}, {@code password}
 *   <li>iceberg: {@code spark-catalog}, the name of a Spark catalog configured for Iceberg
 * </ul>
 *
 * Any other setting is refused, naming it and the closest known one: a misspelt setting would
 * otherwise be ignored silently. Kafka client properties ({@code kafka.*}) stay open: the Kafka
 * client checks them.
 */
public record ConnectionConfig(String name, SourceKind kind, Map<String, String> options)
    implements Serializable {
  /** Every connection: kafka, jdbc or iceberg. */
  public static final String KIND = "kind";

  /** kafka: the bootstrap servers. */
  public static final String BOOTSTRAP_SERVERS = "bootstrap-servers";

  /** kafka: the prefix of any Kafka client property. */
  public static final String KAFKA_PREFIX = "kafka.";

  /** jdbc: the database URL. */
  public static final String URL = "url";

  /** jdbc: the database user. */
  public static final String USER = "user";

  /** jdbc: the database password. */
  public static final String PASSWORD = "password";

  /** iceberg: the name of a Spark catalog configured for Iceberg. */
  public static final String SPARK_CATALOG = "spark-catalog";

  public ConnectionConfig {
    options = Map.copyOf(new TreeMap<>(options));
    for (String key : new TreeMap<>(options).keySet()) {
      if (!settings(kind).contains(key)
          && !(kind == SourceKind.KAFKA && key.startsWith(KAFKA_PREFIX))) {
        java.util.List<String> known = new java.util.ArrayList<>(settings(kind));
        if (kind == SourceKind.KAFKA) {
          known.add(KAFKA_PREFIX + "<client property>");
        }
        String suggestion = TableProperties.didYouMean("", key, settings(kind));
        throw new InvalidParameterException(
            CatalogOptions.CONNECTION_PREFIX + name + "." + key,
            "Invalid connection '%s': spark.sql.catalog.<catalog>.connection.%s.%s is not a setting"
                + " of a %s connection; %sits settings are %s, %s",
            name,
            name,
            key,
            kind.id(),
            suggestion,
            KIND,
            String.join(", ", known));
      }
    }
    for (String key : requiredKeys(kind)) {
      if (!options.containsKey(key) || options.get(key).isBlank()) {
        throw new InvalidParameterException(
            CatalogOptions.CONNECTION_PREFIX + name + "." + key,
            "Invalid connection '%s': a %s connection needs spark.sql.catalog.<catalog>.connection.%s.%s",
            name,
            kind.id(),
            name,
            key);
      }
    }
  }

  /** The settings a connection of {@code kind} takes besides {@link #KIND}. */
  private static java.util.List<String> settings(SourceKind kind) {
    switch (kind) {
      case KAFKA:
        return java.util.List.of(BOOTSTRAP_SERVERS);
      case JDBC:
        return java.util.List.of(URL, USER, PASSWORD);
      default:
        return java.util.List.of(SPARK_CATALOG);
    }
  }

  private static String[] requiredKeys(SourceKind kind) {
    switch (kind) {
      case KAFKA:
        return new String[] {BOOTSTRAP_SERVERS};
      case JDBC:
        return new String[] {URL};
      default:
        return new String[] {SPARK_CATALOG};
    }
  }

  /** Parses every {@code connection.<name>.*} option of a catalog. */
  public static Map<String, ConnectionConfig> parseAll(Map<String, String> catalogOptions) {
    Map<String, Map<String, String>> grouped = new TreeMap<>();
    catalogOptions.forEach(
        (key, value) -> {
          if (key.toLowerCase(Locale.ROOT).startsWith(CatalogOptions.CONNECTION_PREFIX)) {
            String rest = key.substring(CatalogOptions.CONNECTION_PREFIX.length());
            int dot = rest.indexOf('.');
            if (dot <= 0) {
              throw new InvalidParameterException(
                  key, "Invalid catalog option '%s': use connection.<name>.<setting>", key);
            }
            grouped
                .computeIfAbsent(rest.substring(0, dot), name -> new TreeMap<>())
                .put(rest.substring(dot + 1), value);
          }
        });
    Map<String, ConnectionConfig> connections = new TreeMap<>();
    grouped.forEach(
        (name, settings) -> {
          String kind = settings.remove(KIND);
          if (kind == null) {
            throw new InvalidParameterException(
                CatalogOptions.CONNECTION_PREFIX + name + "." + KIND,
                "Invalid connection '%s': set connection.%s.kind to kafka, jdbc or iceberg",
                name,
                name);
          }
          SourceKind parsed;
          try {
            parsed = SourceKind.parse(kind);
          } catch (ValidationException e) {
            throw new InvalidParameterException(
                CatalogOptions.CONNECTION_PREFIX + name + "." + KIND,
                "Invalid connection '%s': connection.%s.kind is '%s'; set it to kafka, jdbc or"
                    + " iceberg",
                name,
                name,
                kind);
          }
          connections.put(name, new ConnectionConfig(name, parsed, settings));
        });
    return connections;
  }

  public Optional<String> option(String key) {
    return Optional.ofNullable(options.get(key));
  }

  public String bootstrapServers() {
    return options.get(BOOTSTRAP_SERVERS);
  }

  /** Kafka client properties ({@code kafka.} prefix removed), plus {@code bootstrap.servers}. */
  public Map<String, String> kafkaClientProperties() {
    Map<String, String> properties = new TreeMap<>();
    options.forEach(
        (key, value) -> {
          if (key.startsWith(KAFKA_PREFIX)) {
            properties.put(key.substring(KAFKA_PREFIX.length()), value);
          }
        });
    properties.put("bootstrap.servers", bootstrapServers());
    // Kafka's admin client refuses a default.api.timeout.ms below request.timeout.ms (default 30
    // s):
    // a shorter api timeout shortens the request timeout too, for every client built from these
    String apiTimeout = properties.get("default.api.timeout.ms");
    if (apiTimeout != null && !properties.containsKey("request.timeout.ms")) {
      try {
        long millis = Long.parseLong(apiTimeout.trim());
        if (millis > 0 && millis < 30_000) {
          properties.put("request.timeout.ms", String.valueOf(millis));
        }
      } catch (NumberFormatException e) {
        // left to the Kafka client, whose error names the property
      }
    }
    return properties;
  }

  public String jdbcUrl() {
    return options.get(URL);
  }

  public String jdbcUser() {
    return options.get(USER);
  }

  public String jdbcPassword() {
    return options.get(PASSWORD);
  }

  /**
   * The options of Spark's JDBC reader and writer for this connection: url, user, password, and the
   * driver class, named so that Spark loads it from {@code spark.jars} too (DriverManager alone
   * does not see drivers of jars added at run time). Secret parameters of a PostgreSQL URL ({@code
   * ?password=...}) travel as options instead, so that the URL Spark shows and puts into its errors
   * holds none.
   */
  public Map<String, String> sparkJdbcOptions() {
    Map<String, String> jdbc = new TreeMap<>();
    Secrets.SplitUrl url = Secrets.splitSecretParameters(jdbcUrl());
    jdbc.put("url", url.url());
    if (jdbcUrl().startsWith("jdbc:postgresql:")) {
      jdbc.put("driver", "org.postgresql.Driver");
    }
    if (jdbcUser() != null) {
      jdbc.put("user", jdbcUser());
    }
    if (jdbcPassword() != null) {
      jdbc.put("password", jdbcPassword());
    }
    jdbc.putAll(url.secretParameters()); // the URL's own win, as they would in the URL
    return jdbc;
  }

  /** The JDBC URL without secret parameters, to connect with {@link #jdbcProperties}. */
  public String jdbcUrlWithoutSecrets() {
    return Secrets.splitSecretParameters(jdbcUrl()).url();
  }

  /** The driver properties of {@link #jdbcUrlWithoutSecrets}: user, password, the URL's secrets. */
  public java.util.Properties jdbcProperties() {
    java.util.Properties properties = new java.util.Properties();
    if (jdbcUser() != null) {
      properties.setProperty("user", jdbcUser());
    }
    if (jdbcPassword() != null) {
      properties.setProperty("password", jdbcPassword());
    }
    Secrets.splitSecretParameters(jdbcUrl()).secretParameters().forEach(properties::setProperty);
    return properties;
  }

  /** The JDBC URL as it may be shown: its password and secret parameters hidden. */
  public String maskedJdbcUrl() {
    return Secrets.maskUrl(jdbcUrl());
  }

  /**
   * Text that may quote this connection's settings (a driver's or client's exception message) with
   * every secret value of the connection hidden.
   */
  public String scrub(String text) {
    return Secrets.scrub(text, Secrets.values(options));
  }

  /**
   * An exception chain fit to attach as a cause: the error, or a copy without this connection's
   * secret values ({@link Secrets#scrub(Throwable, java.util.Collection)}).
   */
  public Throwable scrub(Throwable error) {
    return Secrets.scrub(error, Secrets.values(options));
  }

  /**
   * A fingerprint of everything that reaches the service (kind and every setting, secrets
   * included), for caches of clients: see {@link Secrets#fingerprint}.
   */
  public String fingerprint() {
    Map<String, String> settings = new TreeMap<>(options);
    settings.put("\u0000kind", kind.id());
    return Secrets.fingerprint(settings);
  }

  public String sparkCatalog() {
    return options.get(SPARK_CATALOG);
  }

  /** The settings with secrets hidden ({@link Secrets#masked}), for messages and logs. */
  @Override
  public String toString() {
    return "connection '" + name + "' (" + kind.id() + ") " + Secrets.masked(options);
  }
}
