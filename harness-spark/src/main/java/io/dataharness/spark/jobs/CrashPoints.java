package io.dataharness.spark.jobs;

import java.util.function.Consumer;

/**
 * A test seam for failure injection: movers call {@link #reach} at each step where a crash must
 * neither lose nor duplicate rows, and a test's hook can throw there. Does nothing in production.
 */
final class CrashPoints {
  /** Rows are read and the locks are held; nothing was written. */
  static final String BEFORE_TARGET_WRITE = "before target write";

  /** Rows are in the target (staged, or committed to PostgreSQL); the harness knows nothing. */
  static final String AFTER_TARGET_WRITE = "after target write before harness commit";

  /** The harness version is committed; an Iceberg target is not yet published or tagged. */
  static final String AFTER_HARNESS_COMMIT = "after harness commit before publish";

  static volatile Consumer<String> hook = point -> {};

  private CrashPoints() {}

  /** The crash point of a write protocol step. */
  static String of(io.dataharness.spark.txn.WriteProtocol.Step step) {
    return switch (step) {
      case BEFORE_STAGE -> BEFORE_TARGET_WRITE;
      case STAGED -> AFTER_TARGET_WRITE;
      case COMMITTED -> AFTER_HARNESS_COMMIT;
    };
  }

  static void reach(String point) {
    hook.accept(point);
  }
}
