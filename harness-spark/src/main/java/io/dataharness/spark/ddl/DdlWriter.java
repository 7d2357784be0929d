package io.dataharness.spark.ddl;

import io.dataharness.metadata.Intent;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.txn.Writer;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * What the ALTER TABLE writers share: they lock every source of the table (no mover or append
 * writes meanwhile), wait for running ones like a user's statement should, and record no intent
 * (each source step is idempotent and invisible to the harness until the commit).
 */
abstract class DdlWriter<B, S> implements Writer<B, S> {
  /** How long ALTER TABLE waits for running movers and appends. */
  static final Duration LOCK_WAIT = Duration.ofMinutes(2);

  final TableIdentifier table;
  private final List<String> sources;

  DdlWriter(TableIdentifier table, TableVersion latest) {
    this.table = table;
    this.sources = List.copyOf(latest.sources().keySet());
  }

  @Override
  public final String operation() {
    return "alter";
  }

  @Override
  public final Duration lockWait() {
    return LOCK_WAIT;
  }

  @Override
  public final List<String> sources() {
    return sources;
  }

  @Override
  public final Optional<String> intentPayload(B batch) {
    return Optional.empty();
  }

  @Override
  public final B resume(Intent intent, TableVersion latest) {
    throw new IllegalStateException("ALTER TABLE records no intents: " + intent);
  }
}
