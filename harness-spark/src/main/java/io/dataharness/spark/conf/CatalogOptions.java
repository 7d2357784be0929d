package io.dataharness.spark.conf;

import io.dataharness.spark.errors.InvalidParameterException;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The options of a harness catalog ({@code spark.sql.catalog.<name>.<option>}) other than its
 * connections ({@code connection.<name>.<setting>}, see {@link ConnectionConfig}). The reference
 * (docs/configuration.md) lists exactly these; {@code DocsReferenceTest} checks it. Any other
 * option is refused ({@link #check}): a misspelt one would otherwise be ignored silently.
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

  private static final List<String> OPTIONS = List.of(URI, USER, PASSWORD);

  private CatalogOptions() {}

  /**
   * Refuses an option of catalog {@code catalog} that is neither one of {@link #URI}, {@link
   * #USER}, {@link #PASSWORD} nor a connection setting, naming it and the closest known one.
   *
   * @throws InvalidParameterException naming the option
   */
  public static void check(String catalog, Map<String, String> options) {
    for (String key : new java.util.TreeSet<>(options.keySet())) {
      String lower = key.toLowerCase(Locale.ROOT);
      if (OPTIONS.contains(lower) || lower.startsWith(CONNECTION_PREFIX)) {
        continue;
      }
      int dot = key.indexOf('.');
      Optional<String> meant =
          dot < 0
              ? closest(key, OPTIONS)
              : closest(key.substring(0, dot + 1), List.of(CONNECTION_PREFIX))
                  .map(prefix -> prefix + key.substring(dot + 1));
      String suggestion =
          meant
              .map(known -> "did you mean spark.sql.catalog." + catalog + "." + known + "? ")
              .orElse("");
      throw new InvalidParameterException(
          "spark.sql.catalog." + catalog + "." + key,
          "Cannot start catalog %s: spark.sql.catalog.%s.%s is not an option of a harness catalog;"
              + " %sits options are uri, user, password and connection.<conn>.<setting> (see"
              + " docs/configuration.md)",
          catalog,
          catalog,
          key,
          suggestion);
    }
  }

  /**
   * The known key closest to a misspelt one (edit distance at most a third of its length, at least
   * 2), compared without case.
   */
  public static Optional<String> closest(String key, Collection<String> known) {
    String lower = key.toLowerCase(Locale.ROOT);
    return known.stream()
        .filter(
            candidate ->
                distance(lower, candidate.toLowerCase(Locale.ROOT))
                    <= Math.max(2, candidate.length() / 3))
        .min(
            Comparator.comparingInt(
                candidate -> distance(lower, candidate.toLowerCase(Locale.ROOT))));
  }

  private static int distance(String a, String b) {
    int[] previous = new int[b.length() + 1];
    int[] current = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      previous[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      current[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
      }
      int[] swap = previous;
      previous = current;
      current = swap;
    }
    return previous[b.length()];
  }
}
