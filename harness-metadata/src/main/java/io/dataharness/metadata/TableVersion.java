package io.dataharness.metadata;

import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An immutable, numbered record of a table: the schema id, every source's definition and state, the
 * external state, and the commit that produced it. A reader that reads every source at exactly
 * these states sees one consistent table.
 *
 * <p>{@link #openIntents()} are the write-ahead intents open at this version: writers that had
 * started side effects in those sources that no version recorded yet (see {@link Intent}).
 */
public record TableVersion(
    TableIdentifier table,
    long version,
    Schema schema,
    Map<String, SourceDefinition> sources,
    Map<String, SourceState> sourceStates,
    Map<String, String> externalState,
    CommitInfo commit,
    List<Intent> openIntents) {
  public TableVersion {
    sources = Collections.unmodifiableMap(new TreeMap<>(sources));
    sourceStates = Collections.unmodifiableMap(new TreeMap<>(sourceStates));
    externalState = Collections.unmodifiableMap(new TreeMap<>(externalState));
    openIntents =
        openIntents == null
            ? List.of()
            : openIntents.stream().sorted(Comparator.comparing(Intent::id)).toList();
  }

  /** A version without open intents. */
  public TableVersion(
      TableIdentifier table,
      long version,
      Schema schema,
      Map<String, SourceDefinition> sources,
      Map<String, SourceState> sourceStates,
      Map<String, String> externalState,
      CommitInfo commit) {
    this(table, version, schema, sources, sourceStates, externalState, commit, List.of());
  }

  /** The open intent covering {@code sourceId}, if any. */
  public java.util.Optional<Intent> openIntent(String sourceId) {
    return openIntents.stream().filter(intent -> intent.covers(sourceId)).findFirst();
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
