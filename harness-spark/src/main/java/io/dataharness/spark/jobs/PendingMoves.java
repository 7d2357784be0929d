package io.dataharness.spark.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.Intent;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Moves out of a jdbc source that may have deleted their rows from the database but have not yet
 * recorded the move in a harness version: the store's open intents of kind {@value #KIND} whose
 * payload is a {@link PendingMove}.
 *
 * <p>A PostgreSQL to Iceberg move deletes its batch from PostgreSQL (committed) before it stages
 * the deleted images in Iceberg and its harness commit records the new PostgreSQL state together
 * with the Iceberg snapshot that holds the rows. Before deleting, the write protocol commits an
 * {@code intent} version that opens a store intent on both sources (see {@link
 * io.dataharness.metadata.Intent}); the move's own commit completes it. While it is open the store
 * refuses every other writer's commit to either source (a version that advanced the source past the
 * delete would lose the rows), and running the move again completes exactly that batch.
 *
 * <p>An operator who must abandon a pending move checks that its rows are still in PostgreSQL or
 * Iceberg (its delete's images are in the history table, by the transaction id recorded in {@code
 * harness_moves} for its intent id), then commits {@code completeIntent(<intent id>)} under the
 * sources' locks.
 */
public final class PendingMoves {
  /** The kind of the store intents that record pending moves. */
  public static final String KIND = "move";

  private static final ObjectMapper JSON = new ObjectMapper();

  private PendingMoves() {}

  /**
   * A move whose rows may already be deleted from {@code source} and that no version has recorded.
   *
   * @param source the jdbc source the rows leave
   * @param target the iceberg source the rows go to
   * @param baseVersion the version the move planned its batch at
   * @param intentId the move's id: its row in PostgreSQL's {@code harness_moves} table tells
   *     whether its delete committed
   * @param targetSnapshotId the target's snapshot at {@code baseVersion}
   * @param readTimestamp the source's read timestamp at {@code baseVersion}
   * @param olderThan the batch's age bound, if any
   * @param maxRows the batch's row bound, if any
   * @param idempotencyKey the key the move's own commit uses
   * @param owner the lock owner of the run that recorded the intent
   * @param catalog the Spark catalog name the move ran in (for the message telling how to resume)
   */
  public record PendingMove(
      String source,
      String target,
      long baseVersion,
      String intentId,
      OptionalLong targetSnapshotId,
      Instant readTimestamp,
      Optional<Instant> olderThan,
      OptionalLong maxRows,
      String idempotencyKey,
      String owner,
      String catalog) {

    /** The intent's payload: JSON. */
    public String toJson() {
      ObjectNode node = JSON.createObjectNode();
      node.put("source", source);
      node.put("target", target);
      node.put("base-version", baseVersion);
      node.put("intent-id", intentId);
      if (targetSnapshotId.isPresent()) {
        node.put("target-snapshot-id", targetSnapshotId.getAsLong());
      } else {
        node.putNull("target-snapshot-id");
      }
      node.put("read-timestamp", readTimestamp.toString());
      olderThan.ifPresentOrElse(
          bound -> node.put("older-than", bound.toString()), () -> node.putNull("older-than"));
      if (maxRows.isPresent()) {
        node.put("max-rows", maxRows.getAsLong());
      } else {
        node.putNull("max-rows");
      }
      node.put("idempotency-key", idempotencyKey);
      node.put("owner", owner);
      node.put("catalog", catalog);
      try {
        return JSON.writeValueAsString(node);
      } catch (JsonProcessingException e) {
        throw new IllegalStateException(e);
      }
    }

    /** The pending move an intent records (see {@link #isPendingMove}). */
    static PendingMove parse(TableIdentifier table, Intent intent) {
      return parse(table, intent.openedVersion(), intent.id(), intent.payload());
    }

    private static PendingMove parse(
        TableIdentifier table, long version, String intentId, String json) {
      try {
        JsonNode node = JSON.readTree(json);
        return new PendingMove(
            node.get("source").asText(),
            node.get("target").asText(),
            node.get("base-version").asLong(),
            node.get("intent-id").asText(),
            optionalLong(node, "target-snapshot-id"),
            Instant.parse(node.get("read-timestamp").asText()),
            node.hasNonNull("older-than")
                ? Optional.of(Instant.parse(node.get("older-than").asText()))
                : Optional.empty(),
            optionalLong(node, "max-rows"),
            node.get("idempotency-key").asText(),
            node.path("owner").asText(""),
            node.path("catalog").asText("harness"));
      } catch (JsonProcessingException | RuntimeException e) {
        throw new HarnessException(
            "Cannot read the pending move of %s: the payload of intent '%s' (opened at version %d)"
                + " is not a pending move (%s): %s",
            table, intentId, version, e.getMessage(), json);
      }
    }

    private static OptionalLong optionalLong(JsonNode node, String field) {
      return node.hasNonNull(field)
          ? OptionalLong.of(node.get(field).asLong())
          : OptionalLong.empty();
    }

    /** How to complete this move, as SQL. */
    public String resumeCall(TableVersion version) {
      return String.format(
          "CALL %s.system.move(table => '%s', source => '%s', target => '%s')",
          catalog, version.table(), source, target);
    }
  }

  /** The pending move out of {@code sourceId} at {@code version}, if any. */
  public static Optional<PendingMove> find(TableVersion version, String sourceId) {
    for (Intent intent : version.openIntents()) {
      if (isPendingMove(intent)
          && intent.covers(sourceId)
          && intent.sources().indexOf(sourceId) >= 0
          && sourceId.equals(parse(version, intent).source())) {
        return Optional.of(parse(version, intent));
      }
    }
    return Optional.empty();
  }

  /** Whether {@code intent} records a move out of a jdbc source (its payload a PendingMove). */
  static boolean isPendingMove(Intent intent) {
    return KIND.equals(intent.kind())
        && intent.payload() != null
        && intent.payload().contains("\"intent-id\"");
  }

  private static PendingMove parse(TableVersion version, Intent intent) {
    return PendingMove.parse(version.table(), intent);
  }

  /**
   * Refuses a change of {@code sourceId} while an open intent covers it at {@code version} (call it
   * with the latest version before writing to the source: the store would refuse the commit anyway,
   * but only after the write).
   *
   * @param action what the caller was about to do, e.g. {@code "advance the read timestamp of"}
   * @throws CommitConflictException naming the intent and how to complete it
   */
  public static void refuseIfPending(TableVersion version, String sourceId, String action) {
    for (Intent intent : version.openIntents()) {
      if (!intent.covers(sourceId)) {
        continue;
      }
      String resume =
          isPendingMove(intent)
              ? "run the move job again to complete it: "
                  + parse(version, intent).resumeCall(version)
              : "rerun the job that opened it (" + intent.kind() + ") to complete it";
      throw new CommitConflictException(
          "Cannot %s source '%s' of %s: the open intent %s covers it (a write whose side effects"
              + " no version records yet); %s",
          action, sourceId, version.table(), intent.describe(), resume);
    }
  }
}
