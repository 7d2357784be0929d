package io.dataharness.metadata;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one place that decides what is a secret and hides it. Every message, log line, plan string
 * and property that shows a connection's settings or a JDBC URL goes through here.
 *
 * <p>A setting is a secret when its key, lower-cased, contains {@code password}, {@code secret},
 * {@code token}, {@code credential}, {@code jaas} or {@code userinfo} / {@code user.info}, or has a
 * segment {@code key} (segments split at {@code .}, {@code -} and {@code _}: {@code
 * ssl.keystore.key}, {@code private-key}, {@code api_key}; not {@code ssl.keystore.location}). In a
 * URL, the password of {@code user:password@host} and every parameter whose name is a secret key
 * ({@code ?password=...}, {@code ;password=...}) are secrets.
 */
public final class Secrets {
  /** What a hidden value reads as. */
  public static final String MASK = "***";

  private static final List<String> SECRET_WORDS =
      List.of("password", "secret", "token", "credential", "jaas", "userinfo", "user.info");
  private static final Pattern SEGMENTS = Pattern.compile("[._-]");
  // user:password@ after the scheme's // (jdbc:postgresql://u:p@host/db, http://u:p@host)
  private static final Pattern USER_INFO = Pattern.compile("(//[^/?#@:;&]*:)([^/?#@]*)(@)");
  // name=value after ?, & or ; (value up to the next &, ; or #)
  private static final Pattern PARAMETER = Pattern.compile("([?&;])([^=&;?#]+)=([^&;#]*)");
  // values shorter than this are not searched for in free text: they would mangle the message
  private static final int MIN_SCRUBBED_LENGTH = 4;

  private Secrets() {}

  /** Whether a setting with this key holds a secret (see the class comment). */
  public static boolean isSecretKey(String key) {
    if (key == null) {
      return false;
    }
    String lower = key.toLowerCase(Locale.ROOT);
    for (String word : SECRET_WORDS) {
      if (lower.contains(word)) {
        return true;
      }
    }
    for (String segment : SEGMENTS.split(lower)) {
      if (segment.equals("key")) {
        return true;
      }
    }
    return false;
  }

  /**
   * The value as it may be shown: {@link #MASK} for a secret key, a URL with its secrets hidden.
   */
  public static String maskValue(String key, String value) {
    if (value == null) {
      return null;
    }
    return isSecretKey(key) ? MASK : maskUrl(value);
  }

  /** The settings as they may be shown, sorted by key. */
  public static Map<String, String> masked(Map<String, String> settings) {
    Map<String, String> shown = new TreeMap<>();
    settings.forEach((key, value) -> shown.put(key, maskValue(key, value)));
    return shown;
  }

  /**
   * A URL (or any text holding URLs) with the password of {@code user:password@} and the values of
   * secret parameters ({@code password=}, {@code sslpassword=}, {@code token=}...) replaced by
   * {@link #MASK}. Text with no such parts is returned unchanged.
   */
  public static String maskUrl(String url) {
    if (url == null) {
      return null;
    }
    String masked = USER_INFO.matcher(url).replaceAll("$1" + Matcher.quoteReplacement(MASK) + "$3");
    Matcher parameter = PARAMETER.matcher(masked);
    StringBuilder result = new StringBuilder();
    while (parameter.find()) {
      String replacement =
          isSecretKey(parameter.group(2))
              ? parameter.group(1) + parameter.group(2) + "=" + MASK
              : parameter.group();
      parameter.appendReplacement(result, Matcher.quoteReplacement(replacement));
    }
    parameter.appendTail(result);
    return result.toString();
  }

  /**
   * A URL without its secret query parameters, and those parameters (values URL-decoded): the
   * parameters go to the driver as connection properties instead, so that the URL a library shows
   * or puts into its own messages (Spark's JDBC errors do) holds no secret. Only for drivers that
   * take every URL parameter as a property as well ({@code jdbc:postgresql:}); other URLs are
   * returned whole.
   */
  public static SplitUrl splitSecretParameters(String url) {
    int query = url == null ? -1 : url.indexOf('?');
    if (query < 0 || !url.startsWith("jdbc:postgresql:")) {
      return new SplitUrl(url, Map.of());
    }
    Map<String, String> secrets = new TreeMap<>();
    List<String> kept = new java.util.ArrayList<>();
    for (String parameter : url.substring(query + 1).split("&")) {
      int equals = parameter.indexOf('=');
      String name = equals < 0 ? parameter : parameter.substring(0, equals);
      if (equals > 0 && isSecretKey(name)) {
        secrets.put(
            name,
            java.net.URLDecoder.decode(parameter.substring(equals + 1), StandardCharsets.UTF_8));
      } else if (!parameter.isEmpty()) {
        kept.add(parameter);
      }
    }
    String base = url.substring(0, query);
    return new SplitUrl(kept.isEmpty() ? base : base + "?" + String.join("&", kept), secrets);
  }

  /** A URL without secrets, and the secret parameters taken out of it. */
  public record SplitUrl(String url, Map<String, String> secretParameters) {
    public SplitUrl {
      secretParameters = Map.copyOf(secretParameters);
    }

    @Override
    public String toString() {
      return url + " (and secret parameters " + secretParameters.keySet() + ")";
    }
  }

  /**
   * The secret values held by some settings: the values of secret keys and the secrets inside URL
   * values, for {@link #scrub}.
   */
  public static List<String> values(Map<String, String> settings) {
    List<String> values = new java.util.ArrayList<>();
    settings.forEach(
        (key, value) -> {
          if (value == null) {
            return;
          }
          if (isSecretKey(key)) {
            values.add(value);
          } else {
            values.addAll(urlSecrets(value));
          }
        });
    return values;
  }

  /** The secrets inside a URL: the password of {@code user:password@}, secret parameters. */
  public static List<String> urlSecrets(String url) {
    List<String> values = new java.util.ArrayList<>();
    Matcher userInfo = USER_INFO.matcher(url);
    while (userInfo.find()) {
      values.add(userInfo.group(2));
    }
    Matcher parameter = PARAMETER.matcher(url);
    while (parameter.find()) {
      if (isSecretKey(parameter.group(2))) {
        values.add(parameter.group(3));
      }
    }
    return values;
  }

  /**
   * Free text (a driver's or a client's exception message) with every occurrence of the given
   * secret values, and any secrets of URLs in it, replaced by {@link #MASK}. Values shorter than 4
   * characters are not searched for.
   */
  public static String scrub(String text, Collection<String> secretValues) {
    if (text == null) {
      return null;
    }
    String scrubbed = text;
    for (String secret : secretValues) {
      if (secret != null && secret.length() >= MIN_SCRUBBED_LENGTH) {
        scrubbed = scrubbed.replace(secret, MASK);
      }
    }
    return maskUrl(scrubbed);
  }

  /**
   * An exception chain fit to attach as the cause of a harness exception: the error itself when no
   * message in its chain shows a secret, otherwise a copy of the chain whose messages are {@link
   * #scrub scrubbed} (same stack traces, SQL states kept; each copy names the original class). A
   * driver's message can quote the URL it was given ({@code UnknownHostException:
   * user:password@host}), and stack traces of causes reach logs.
   */
  public static Throwable scrub(Throwable error, Collection<String> secretValues) {
    boolean shows = false;
    for (Throwable cause = error; cause != null && !shows; cause = next(cause)) {
      String message = cause.getMessage();
      shows = message != null && !message.equals(scrub(message, secretValues));
    }
    return shows ? copy(error, secretValues) : error;
  }

  private static Throwable next(Throwable error) {
    return error.getCause() == error ? null : error.getCause();
  }

  private static Throwable copy(Throwable error, Collection<String> secretValues) {
    if (error == null) {
      return null;
    }
    Throwable cause = copy(next(error), secretValues);
    String message = scrub(error.getMessage(), secretValues);
    Throwable copy;
    if (error instanceof java.sql.SQLException sql) {
      copy =
          new java.sql.SQLException(
              error.getClass().getName() + ": " + message,
              sql.getSQLState(),
              sql.getErrorCode(),
              cause);
    } else {
      copy = new ScrubbedException(error.getClass().getName() + ": " + message, cause);
    }
    copy.setStackTrace(error.getStackTrace());
    return copy;
  }

  /**
   * A copy of an exception whose message showed a secret (see {@link #scrub(Throwable,
   * Collection)}).
   */
  public static final class ScrubbedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ScrubbedException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * A SHA-256 fingerprint of settings (sorted by key, each key and value length-prefixed, null
   * distinct from empty): equal for equal settings, different when any of them differs, and
   * revealing none of them. Caches of connections and clients use it as their key, so a changed
   * password opens a new connection and no plaintext secret lives in a long-lived map key.
   */
  public static String fingerprint(Map<String, ?> settings) {
    MessageDigest digest = Digests.sha256();
    new TreeMap<>(settings)
        .forEach(
            (key, value) -> {
              Digests.update(digest, key);
              Digests.update(digest, value == null ? null : value.toString());
            });
    return HexFormat.of().formatHex(digest.digest());
  }

  /** {@link #fingerprint(Map)} of values in order (null distinct from empty). */
  public static String fingerprint(String... values) {
    MessageDigest digest = Digests.sha256();
    for (String value : values) {
      Digests.update(digest, value);
    }
    return HexFormat.of().formatHex(digest.digest());
  }
}
