package io.dataharness.metadata;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a commit did: when, which operation, under which idempotency key, a free-form summary (row
 * counts, job ids), every source it changed from what to what, and the external state keys it set
 * (a null value removed the key).
 */
public record CommitInfo(
    Instant committedAt,
    String operation,
    String idempotencyKey,
    Map<String, String> summary,
    List<SourceChange> sourceChanges,
    Map<String, String> externalStateChanges) {
  public CommitInfo {
    summary = Map.copyOf(summary == null ? Map.of() : summary);
    sourceChanges = List.copyOf(sourceChanges == null ? List.of() : sourceChanges);
    externalStateChanges =
        java.util.Collections.unmodifiableMap(
            new java.util.TreeMap<>(
                externalStateChanges == null ? Map.of() : externalStateChanges));
  }

  public Optional<String> idempotencyKeyIfAny() {
    return Optional.ofNullable(idempotencyKey);
  }
}
