package io.dataharness.spark.audit;

import io.dataharness.metadata.Intent;
import io.dataharness.metadata.TableVersion;
import java.util.List;

/**
 * The write-ahead intents the store records ({@link TableVersion#openIntents()}), opened through
 * {@code Transaction.openIntent} by the write protocol or by a Java API writer.
 */
public final class StoreIntents implements OpenIntents {

  @Override
  public List<OpenIntent> open(TableVersion latest, List<TableVersion> history) {
    return latest.openIntents().stream().map(StoreIntents::toOpenIntent).toList();
  }

  private static OpenIntent toOpenIntent(Intent intent) {
    return new OpenIntent(
        intent.id(),
        intent.kind(),
        intent.owner(),
        intent.sources(),
        intent.openedVersion(),
        intent.openedAt(),
        "the "
            + intent.kind()
            + " job on sources "
            + intent.sources()
            + " (payload "
            + intent.payload()
            + ")");
  }
}
