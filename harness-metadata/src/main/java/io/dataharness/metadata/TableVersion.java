package io.dataharness.metadata;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * An immutable, numbered record of a table: the schema id, every source's definition and state, the
 * external state, and the commit that produced it. A reader that reads every source at exactly
 * these states sees one consistent table.
 */
public record TableVersion(
    TableIdentifier table,
    long version,
    Schema schema,
    Map<String, SourceDefinition> sources,
    Map<String, SourceState> sourceStates,
    Map<String, String> externalState,
    CommitInfo commit) {
  public TableVersion {
    sources = Collections.unmodifiableMap(new TreeMap<>(sources));
    sourceStates = Collections.unmodifiableMap(new TreeMap<>(sourceStates));
    externalState = Collections.unmodifiableMap(new TreeMap<>(externalState));
  }

  /** The state of one source, or a {@link NoSuchSourceException} naming the table and version. */
  public SourceState state(String sourceId) {
    SourceState state = sourceStates.get(sourceId);
    if (state == null) {
      throw new NoSuchSourceException(
          "Cannot find source '%s' in table %s at version %d: its sources are %s",
          sourceId, table, version, sourceStates.keySet());
    }
    return state;
  }

  public SourceDefinition source(String sourceId) {
    state(sourceId);
    return sources.get(sourceId);
  }

  public VersionInfo info() {
    return new VersionInfo(version, schema.schemaId(), commit);
  }
}
