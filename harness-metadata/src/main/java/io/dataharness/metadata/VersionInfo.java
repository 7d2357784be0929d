package io.dataharness.metadata;

/**
 * A version's number, schema and commit record, without the source states (for history listings).
 */
public record VersionInfo(long version, int schemaId, CommitInfo commit) {}
