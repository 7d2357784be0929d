package io.dataharness.metadata;

import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * Idempotency keys (and intent ids) of a fixed size, whatever they are derived from.
 *
 * <p>A commit's key must name exactly what it covers (a batch's partitions and offsets, a snapshot
 * id, a read timestamp), which grows with the partition count; {@link Transaction#idempotencyKey}
 * accepts at most 512 characters. {@link #of} keeps a readable prefix and replaces the rest by a
 * SHA-256 hash of every part, so keys stay under {@link #MAX_LENGTH} characters.
 */
public final class IdempotencyKeys {
  /** Every key {@link #of} returns is shorter than this. */
  public static final int MAX_LENGTH = 128;

  /** How much of the prefix is kept readable; the hash covers all of it. */
  static final int PREFIX_LENGTH = 56;

  private IdempotencyKeys() {}

  /**
   * {@code prefix + ":" + sha256(prefix, parts...)} in hex, with the prefix cut to {@value
   * #PREFIX_LENGTH} characters. Equal inputs give equal keys; the parts are length-delimited, so
   * {@code ("ab", "c")} and {@code ("a", "bc")} differ, and a null part differs from "null".
   *
   * @param prefix a readable label such as {@code move:ns.t:hot:cold} (1 or more characters)
   * @param parts what the commit covers, in a stable order
   */
  public static String of(String prefix, String... parts) {
    if (prefix == null || prefix.isBlank() || prefix.indexOf('\0') >= 0) {
      throw new ValidationException(
          "Invalid idempotency key prefix '%s': use a readable label without NUL characters, such"
              + " as move:<table>:<source>",
          prefix);
    }
    MessageDigest digest = Digests.sha256();
    Digests.update(digest, prefix);
    for (String part : parts) {
      Digests.update(digest, part);
    }
    String readable = prefix.length() > PREFIX_LENGTH ? prefix.substring(0, PREFIX_LENGTH) : prefix;
    return readable + ":" + HexFormat.of().formatHex(digest.digest());
  }
}
