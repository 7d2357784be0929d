package io.dataharness.spark.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.TableVersion;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Moves out of a jdbc source that deleted their rows from the database but have not yet recorded
 * the move in a harness version.
 *
 * <p>A PostgreSQL to Iceberg move deletes the moved rows from PostgreSQL (committed) before its
 * harness commit records the new read timestamp together with the Iceberg snapshot that holds the
 * rows. Before deleting, it commits a {@code move-intent} version that sets the external state key
 * {@code pending-move.<source id>} to a description of the move (see {@link PendingMove}); the
 * move's own commit removes the key. While the key is set, the moved rows are only in the staged
 * Iceberg snapshot, which no version records yet: a version that advanced the source's read
 * timestamp past the delete would lose them from the union. So <strong>every writer that advances a
 * jdbc source's read timestamp (or changes the state of the move's target) must call {@link
 * #refuseIfPending} on the latest version before it commits</strong>: the sync job, the Kafka to
 * PostgreSQL mover, appends, and writers using the plain Java API. The store does not enforce it: a
 * raw commit that skips the check is accepted, and its version misses the moved rows until the move
 * completes. Running the move again completes the pending move (same batch, same staged snapshot)
 * and removes the key.
 *
 * <p>An operator who must abandon a pending move (its staged snapshot was lost) checks that its
 * rows are still in PostgreSQL or Iceberg, then commits {@code
 * setExternalState("pending-move.<source id>", null)}.
 */
public final class PendingMoves {
  /** The external state key prefix; the key is followed by the jdbc source's id. */
  public static final String KEY_PREFIX = "pending-move.";

  private static final ObjectMapper JSON = new ObjectMapper();

  private PendingMoves() {}

  /**
   * A move whose rows may already be deleted from {@code source} and that no version has recorded.
   *
   * @param source the jdbc source the rows leave
   * @param target the iceberg source the rows go to
   * @param baseVersion the version the move read its batch from
   * @param stagedSnapshotId the staged Iceberg snapshot holding the batch
   * @param targetSnapshotId the target's snapshot at {@code baseVersion} (the staged one's parent)
   * @param wapId the staged snapshot's write-audit-publish id
   * @param readTimestamp the source's read timestamp at {@code baseVersion} (defines the batch)
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
      long stagedSnapshotId,
      OptionalLong targetSnapshotId,
      String wapId,
      Instant readTimestamp,
      Optional<Instant> olderThan,
      OptionalLong maxRows,
      String idempotencyKey,
      String owner,
      String catalog) {

    /** The external state key holding this move. */
    public String key() {
      return PendingMoves.key(source);
    }

    /** The external state value: JSON. */
    public String toJson() {
      ObjectNode node = JSON.createObjectNode();
      node.put("source", source);
      node.put("target", target);
      node.put("base-version", baseVersion);
      node.put("staged-snapshot-id", stagedSnapshotId);
      if (targetSnapshotId.isPresent()) {
        node.put("target-snapshot-id", targetSnapshotId.getAsLong());
      } else {
        node.putNull("target-snapshot-id");
      }
      node.put("wap-id", wapId);
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

    static PendingMove parse(TableVersion version, String key, String json) {
      try {
        JsonNode node = JSON.readTree(json);
        return new PendingMove(
            node.get("source").asText(),
            node.get("target").asText(),
            node.get("base-version").asLong(),
            node.get("staged-snapshot-id").asLong(),
            optionalLong(node, "target-snapshot-id"),
            node.get("wap-id").asText(),
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
            "Cannot read the pending move of %s at version %d: external state '%s' is not a"
                + " pending move (%s): %s",
            version.table(), version.version(), key, e.getMessage(), json);
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

  /** The external state key of a pending move out of {@code sourceId}. */
  public static String key(String sourceId) {
    return KEY_PREFIX + sourceId;
  }

  /** The pending move out of {@code sourceId} at {@code version}, if any. */
  public static Optional<PendingMove> find(TableVersion version, String sourceId) {
    String key = key(sourceId);
    String json = version.externalState().get(key);
    return json == null ? Optional.empty() : Optional.of(PendingMove.parse(version, key, json));
  }

  /**
   * Refuses a change of {@code sourceId} while a move out of it, or into it, is pending at {@code
   * version} (call it with the latest version, before writing to the source and before committing).
   *
   * @param action what the caller was about to do, e.g. {@code "advance the read timestamp of"}
   * @throws CommitConflictException naming the pending move and how to complete it
   */
  public static void refuseIfPending(TableVersion version, String sourceId, String action) {
    Optional<PendingMove> out = find(version, sourceId);
    if (out.isPresent()) {
      PendingMove move = out.get();
      throw new CommitConflictException(
          "Cannot %s source '%s' of %s: a move to '%s' is pending since version %d (staged"
              + " Iceberg snapshot %d; the moved rows are deleted from '%s' but no version records"
              + " them in '%s' yet); run the move job again to complete it: %s",
          action,
          sourceId,
          version.table(),
          move.target(),
          move.baseVersion(),
          move.stagedSnapshotId(),
          sourceId,
          move.target(),
          move.resumeCall(version));
    }
    for (Map.Entry<String, String> entry : version.externalState().entrySet()) {
      if (!entry.getKey().startsWith(KEY_PREFIX)) {
        continue;
      }
      PendingMove move = PendingMove.parse(version, entry.getKey(), entry.getValue());
      if (move.target().equals(sourceId)) {
        throw new CommitConflictException(
            "Cannot %s source '%s' of %s: a move from '%s' into it is pending since version %d"
                + " (staged Iceberg snapshot %d, on top of the snapshot that version records);"
                + " run the move job again to complete it: %s",
            action,
            sourceId,
            version.table(),
            move.source(),
            move.baseVersion(),
            move.stagedSnapshotId(),
            move.resumeCall(version));
      }
    }
  }
}
