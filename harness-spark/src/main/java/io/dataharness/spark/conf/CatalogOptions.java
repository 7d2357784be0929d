package io.dataharness.spark.conf;

/**
 * The options of a harness catalog ({@code spark.sql.catalog.<name>.<option>}) other than its
 * connections ({@code connection.<name>.<setting>}, see {@link ConnectionConfig}). The reference
 * (docs/configuration.md) lists exactly these; {@code DocsReferenceTest} checks it.
 */
public final class CatalogOptions {
  /** The metadata store's JDBC URI. */
  public static final String URI = "uri";

  /** The metadata store's user. */
  public static final String USER = "user";

  /** The metadata store's password. */
  public static final String PASSWORD = "password";

  /** The prefix of the connection settings. */
  public static final String CONNECTION_PREFIX = "connection.";

  private CatalogOptions() {}
}
