package io.dataharness.spark.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.TableVersion;
import java.util.Map;
import java.util.Optional;

/**
 * Kafka to PostgreSQL moves that may have upserted their batch into PostgreSQL but have not yet
 * recorded it in a harness version: a write-ahead intent in the version's external state.
 *
 * <p>Before its upsert, a {@link KafkaToPostgresMover} commits a {@code move-intent} version that
 * sets the external state key {@code pending-upsert.<jdbc target id>} to the batch (its exact Kafka
 * offsets and idempotency key); the move's own commit removes the key in the version that records
 * the batch. While the key is set, the upserted rows may be in PostgreSQL while the Kafka source's
 * range still holds them: a version that advanced the target's read timestamp would show them
 * twice, and a move of the same offsets elsewhere would copy them twice. So while it is set: the
 * sync job leaves the target alone, appends and moves into or out of the target are refused ({@link
 * PendingMoves#refuseIfPending} and the PostgreSQL to Iceberg mover check it), moves out of the
 * Kafka source to another target are refused, and running the same move again completes exactly
 * that batch (same offsets, same key) whatever happened since.
 *
 * <p>This is the existing external-state mechanism of {@link PendingMoves}; the store does not
 * enforce it (a Java API writer must check it). It is meant to become a store-enforced intent.
 */
final class PendingUpserts {
  /** The external state key prefix; the key is followed by the jdbc target's id. */
  static final String KEY_PREFIX = "pending-upsert.";

  private static final ObjectMapper JSON = new ObjectMapper();

  private PendingUpserts() {}

  /**
   * An upsert of a Kafka batch into a jdbc source that no version has recorded yet.
   *
   * @param source the Kafka source the rows leave
   * @param target the jdbc source the rows are upserted into
   * @param baseVersion the version the batch was planned from
   * @param batch the exact offsets of the batch
   * @param idempotencyKey the key of the move's own commit (and of its PostgreSQL staging table)
   * @param owner the lock owner of the run that recorded the intent
   * @param catalog the Spark catalog name the move ran in (for the message telling how to resume)
   */
  record PendingUpsert(
      String source,
      String target,
      long baseVersion,
      KafkaBatch batch,
      String idempotencyKey,
      String owner,
      String catalog) {

    String key() {
      return PendingUpserts.key(target);
    }

    String toJson() {
      ObjectNode node = JSON.createObjectNode();
      node.put("kind", "kafka-to-jdbc");
      node.put("source", source);
      node.put("target", target);
      node.put("base-version", baseVersion);
      node.put("offsets", batch.describe());
      node.put("idempotency-key", idempotencyKey);
      node.put("owner", owner);
      node.put("catalog", catalog);
      try {
        return JSON.writeValueAsString(node);
      } catch (JsonProcessingException e) {
        throw new IllegalStateException(e);
      }
    }

    static PendingUpsert parse(TableVersion version, String key, String json) {
      try {
        JsonNode node = JSON.readTree(json);
        return new PendingUpsert(
            node.get("source").asText(),
            node.get("target").asText(),
            node.get("base-version").asLong(),
            KafkaBatch.parse(node.get("offsets").asText()),
            node.get("idempotency-key").asText(),
            node.path("owner").asText(""),
            node.path("catalog").asText("harness"));
      } catch (JsonProcessingException | RuntimeException e) {
        throw new HarnessException(
            "Cannot read the pending upsert of %s at version %d: external state '%s' is not a"
                + " pending upsert (%s): %s",
            version.table(), version.version(), key, e.getMessage(), json);
      }
    }

    /** How to complete this upsert, as SQL. */
    String resumeCall(TableVersion version) {
      return String.format(
          "CALL %s.system.move(table => '%s', source => '%s', target => '%s')",
          catalog, version.table(), source, target);
    }

    String describe(TableVersion version) {
      return String.format(
          "an upsert from '%s' offsets %s into '%s' is pending since version %d (owner %s; the"
              + " rows may be in PostgreSQL already, but no version records them there)",
          source, batch.describe(), target, baseVersion, owner);
    }
  }

  /** The external state key of a pending upsert into {@code targetId}. */
  static String key(String targetId) {
    return KEY_PREFIX + targetId;
  }

  /** The pending upsert into the jdbc source {@code targetId} at {@code version}, if any. */
  static Optional<PendingUpsert> into(TableVersion version, String targetId) {
    String key = key(targetId);
    String json = version.externalState().get(key);
    return json == null ? Optional.empty() : Optional.of(PendingUpsert.parse(version, key, json));
  }

  /** The pending upsert out of the Kafka source {@code sourceId} at {@code version}, if any. */
  static Optional<PendingUpsert> outOf(TableVersion version, String sourceId) {
    for (Map.Entry<String, String> entry : version.externalState().entrySet()) {
      if (entry.getKey().startsWith(KEY_PREFIX)) {
        PendingUpsert upsert = PendingUpsert.parse(version, entry.getKey(), entry.getValue());
        if (upsert.source().equals(sourceId)) {
          return Optional.of(upsert);
        }
      }
    }
    return Optional.empty();
  }

  /**
   * Refuses a change of the jdbc source {@code sourceId} (its read timestamp, its rows) while an
   * upsert into it is pending at {@code version} (call it with the latest version, before writing).
   *
   * @throws CommitConflictException naming the pending upsert and how to complete it
   */
  static void refuseIfPending(TableVersion version, String sourceId, String action) {
    Optional<PendingUpsert> pending = into(version, sourceId);
    if (pending.isPresent()) {
      throw new CommitConflictException(
          "Cannot %s source '%s' of %s: %s; run the move again to complete it: %s",
          action,
          sourceId,
          version.table(),
          pending.get().describe(version),
          pending.get().resumeCall(version));
    }
  }

  /**
   * Refuses a move out of the Kafka source {@code sourceId} to {@code targetId} while an upsert of
   * its offsets into another target is pending at {@code version}.
   */
  static void refuseMovesOutOf(TableVersion version, String sourceId, String targetId) {
    Optional<PendingUpsert> pending = outOf(version, sourceId);
    if (pending.isPresent() && !pending.get().target().equals(targetId)) {
      throw new CommitConflictException(
          "Cannot move rows of %s from '%s' to '%s': %s; run that move again to complete it"
              + " first: %s",
          version.table(),
          sourceId,
          targetId,
          pending.get().describe(version),
          pending.get().resumeCall(version));
    }
  }
}
