package io.dataharness.spark.source;

import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.spark.ConnectionConfig;
import java.time.Instant;

/**
 * PostgreSQL sources are system-versioned: registering one installs a history table beside it and a
 * PL/pgSQL trigger that keeps every old row image with its validity range, so a scan at a read
 * timestamp returns exactly the rows valid then.
 */
public final class PostgresSources {
  /** System column added to a registered table: when its row image became valid. */
  public static final String VALID_FROM = "harness_valid_from";

  /** Column of the history table: when an old row image stopped being valid. */
  public static final String VALID_TO = "harness_valid_to";

  private PostgresSources() {}

  /**
   * Registers a jdbc source: creates the table from the harness schema if it is missing, installs the
   * history table and trigger (idempotently), and returns the state the source starts at.
   */
  public static SourceState.Jdbc register(
      ConnectionConfig connection, SourceDefinition source, Schema schema) {
    throw new UnsupportedOperationException("TODO");
  }

  /**
   * The read timestamp a commit may record now: every row image valid at it belongs to a committed
   * transaction, so reads at it never change later.
   */
  public static Instant safeReadTimestamp(ConnectionConfig connection) {
    throw new UnsupportedOperationException("TODO");
  }

  /**
   * The SQL that returns the source's rows valid at {@code readTimestamp}, with one column per
   * harness field (named by the harness field, read from the mapped source column; a field the
   * source lacks reads as NULL).
   */
  public static String asOfQuery(SourceDefinition source, Schema schema, Instant readTimestamp) {
    throw new UnsupportedOperationException("TODO");
  }
}
