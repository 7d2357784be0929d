package io.dataharness.spark.jobs;

import java.util.List;

/**
 * What a sync did.
 *
 * @param version the version that recorded the new states, or the latest version if nothing changed
 * @param sourcesSynced the sources whose state advanced
 * @param skipped sources left as they were because another job held their lock throughout
 */
public record SyncResult(long version, List<String> sourcesSynced, List<String> skipped) {}
