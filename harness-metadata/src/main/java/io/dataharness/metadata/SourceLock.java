package io.dataharness.metadata;

import java.time.Instant;

/**
 * A lease on one source of a table. The fencing token grows with every acquisition of the lock, so
 * a commit presenting an older token (a holder whose lease expired and was taken over) is rejected.
 */
public record SourceLock(
    TableIdentifier table,
    String sourceId,
    String owner,
    long fencingToken,
    Instant acquiredAt,
    Instant expiresAt) {

  @Override
  public String toString() {
    return "lock on "
        + table
        + " source '"
        + sourceId
        + "' owned by '"
        + owner
        + "' (fencing token "
        + fencingToken
        + ", expires "
        + expiresAt
        + ")";
  }
}
