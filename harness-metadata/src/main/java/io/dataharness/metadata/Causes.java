package io.dataharness.metadata;

import java.util.Optional;
import java.util.function.Predicate;

/**
 * Looks through an exception's chain of causes, where Spark, Iceberg and JDBC drivers wrap the
 * failure that matters. Stops after {@value #MAX_DEPTH} links, so a chain that loops ends too.
 */
public final class Causes {
  private static final int MAX_DEPTH = 64;

  private Causes() {}

  /** The first throwable of {@code e}'s chain (e included) that is a {@code type} and matches. */
  public static <T extends Throwable> Optional<T> first(
      Throwable e, Class<T> type, Predicate<? super T> matches) {
    Throwable cause = e;
    for (int depth = 0; cause != null && depth < MAX_DEPTH; depth++) {
      if (type.isInstance(cause) && matches.test(type.cast(cause))) {
        return Optional.of(type.cast(cause));
      }
      cause = cause.getCause();
    }
    return Optional.empty();
  }

  /** The first throwable of {@code e}'s chain (e included) that is a {@code type}. */
  public static <T extends Throwable> Optional<T> first(Throwable e, Class<T> type) {
    return first(e, type, cause -> true);
  }
}
