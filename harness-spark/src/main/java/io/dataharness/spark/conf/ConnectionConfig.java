package io.dataharness.spark.conf;

import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.ValidationException;
import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A named connection from the catalog options {@code connection.<name>.*}. Sources refer to it by
 * name; its secrets stay in Spark's configuration and never reach the metadata store.
 *
 * <ul>
 *   <li>kafka: {@code bootstrap-servers}, and any {@code kafka.<client property>}
 *   <li>jdbc: {@code url}, {@code user}, {@code password}
 *   <li>iceberg: {@code spark-catalog}, the name of a Spark catalog configured for Iceberg
 * </ul>
 */
public record ConnectionConfig(String name, SourceKind kind, Map<String, String> options)
    implements Serializable {
  public ConnectionConfig {
    options = Map.copyOf(new TreeMap<>(options));
    for (String key : requiredKeys(kind)) {
      if (!options.containsKey(key) || options.get(key).isBlank()) {
        throw new ValidationException(
            "Invalid connection '%s': a %s connection needs spark.sql.catalog.<catalog>.connection.%s.%s",
            name, kind.id(), name, key);
      }
    }
  }

  private static String[] requiredKeys(SourceKind kind) {
    switch (kind) {
      case KAFKA:
        return new String[] {"bootstrap-servers"};
      case JDBC:
        return new String[] {"url"};
      default:
        return new String[] {"spark-catalog"};
    }
  }

  /** Parses every {@code connection.<name>.*} option of a catalog. */
  public static Map<String, ConnectionConfig> parseAll(Map<String, String> catalogOptions) {
    Map<String, Map<String, String>> grouped = new TreeMap<>();
    catalogOptions.forEach(
        (key, value) -> {
          if (key.toLowerCase(Locale.ROOT).startsWith("connection.")) {
            String rest = key.substring("connection.".length());
            int dot = rest.indexOf('.');
            if (dot <= 0) {
              throw new ValidationException(
                  "Invalid catalog option '%s': use connection.<name>.<setting>", key);
            }
            grouped
                .computeIfAbsent(rest.substring(0, dot), name -> new TreeMap<>())
                .put(rest.substring(dot + 1), value);
          }
        });
    Map<String, ConnectionConfig> connections = new TreeMap<>();
    grouped.forEach(
        (name, settings) -> {
          String kind = settings.remove("kind");
          if (kind == null) {
            throw new ValidationException(
                "Invalid connection '%s': set connection.%s.kind to kafka, jdbc or iceberg",
                name, name);
          }
          connections.put(name, new ConnectionConfig(name, SourceKind.parse(kind), settings));
        });
    return connections;
  }

  public Optional<String> option(String key) {
    return Optional.ofNullable(options.get(key));
  }

  public String bootstrapServers() {
    return options.get("bootstrap-servers");
  }

  /** Kafka client properties ({@code kafka.} prefix removed), plus {@code bootstrap.servers}. */
  public Map<String, String> kafkaClientProperties() {
    Map<String, String> properties = new TreeMap<>();
    options.forEach(
        (key, value) -> {
          if (key.startsWith("kafka.")) {
            properties.put(key.substring("kafka.".length()), value);
          }
        });
    properties.put("bootstrap.servers", bootstrapServers());
    return properties;
  }

  public String jdbcUrl() {
    return options.get("url");
  }

  public String jdbcUser() {
    return options.get("user");
  }

  public String jdbcPassword() {
    return options.get("password");
  }

  /**
   * The options of Spark's JDBC reader and writer for this connection: url, user, password, and the
   * driver class, named so that Spark loads it from {@code spark.jars} too (DriverManager alone
   * does not see drivers of jars added at run time).
   */
  public Map<String, String> sparkJdbcOptions() {
    Map<String, String> jdbc = new TreeMap<>();
    jdbc.put("url", jdbcUrl());
    if (jdbcUrl().startsWith("jdbc:postgresql:")) {
      jdbc.put("driver", "org.postgresql.Driver");
    }
    if (jdbcUser() != null) {
      jdbc.put("user", jdbcUser());
    }
    if (jdbcPassword() != null) {
      jdbc.put("password", jdbcPassword());
    }
    return jdbc;
  }

  public String sparkCatalog() {
    return options.get("spark-catalog");
  }

  /** The settings with secrets hidden, for messages and logs. */
  @Override
  public String toString() {
    Map<String, String> shown = new TreeMap<>(options);
    shown.replaceAll(
        (key, value) ->
            key.toLowerCase(Locale.ROOT).contains("password")
                    || key.toLowerCase(Locale.ROOT).contains("secret")
                    || key.toLowerCase(Locale.ROOT).contains("jaas")
                ? "***"
                : value);
    return "connection '" + name + "' (" + kind.id() + ") " + shown;
  }
}
