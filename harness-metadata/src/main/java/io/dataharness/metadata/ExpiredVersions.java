package io.dataharness.metadata;

/**
 * What {@link HarnessStore#expireVersions} removed from the metadata store.
 *
 * @param oldestVersion the first version the table keeps now
 * @param versionsRemoved versions removed by this call (0 when a previous call already did)
 * @param statesRemoved source and external state records no kept version reads
 * @param sourcesRemoved sources retired before {@code oldestVersion}, with their records
 * @param schemasRemoved schemas no kept version uses
 * @param intentsRemoved intents completed before {@code oldestVersion}
 */
public record ExpiredVersions(
    TableIdentifier table,
    long oldestVersion,
    long versionsRemoved,
    long statesRemoved,
    int sourcesRemoved,
    int schemasRemoved,
    int intentsRemoved) {}
