package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableVersion;
import io.dataharness.spark.audit.OpenIntent;
import io.dataharness.spark.audit.OpenIntents;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The intents of today's writers: the pending moves of jdbc to iceberg moves, each recorded as the
 * external state key {@code pending-move.<source>} (see {@link PendingMoves}). The version that
 * opened one is the latest version whose commit set the key.
 */
final class PendingMoveIntents implements OpenIntents {

  @Override
  public List<OpenIntent> open(TableVersion latest, List<TableVersion> history) {
    List<OpenIntent> open = new ArrayList<>();
    for (Map.Entry<String, String> entry : latest.externalState().entrySet()) {
      if (!entry.getKey().startsWith(PendingMoves.KEY_PREFIX)) {
        continue;
      }
      String source = entry.getKey().substring(PendingMoves.KEY_PREFIX.length());
      PendingMoves.PendingMove move = PendingMoves.find(latest, source).orElseThrow();
      TableVersion opened = openedBy(entry.getKey(), entry.getValue(), latest, history);
      open.add(
          new OpenIntent(
              entry.getKey(),
              "move " + move.source() + " -> " + move.target(),
              move.owner(),
              List.of(move.source(), move.target()),
              opened.version(),
              opened.commit() == null ? Instant.EPOCH : opened.commit().committedAt(),
              "the move job (" + move.resumeCall(latest) + ")"));
    }
    return open;
  }

  /** The latest version whose commit set the key to its value (or the oldest retained one). */
  private static TableVersion openedBy(
      String key, String value, TableVersion latest, List<TableVersion> history) {
    for (int i = history.size() - 1; i >= 0; i--) {
      TableVersion version = history.get(i);
      if (version.commit() != null
          && Objects.equals(version.commit().externalStateChanges().get(key), value)) {
        return version;
      }
    }
    return history.isEmpty() ? latest : history.get(0);
  }
}
