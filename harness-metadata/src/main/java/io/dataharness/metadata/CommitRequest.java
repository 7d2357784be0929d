package io.dataharness.metadata;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Everything one commit asks for, as collected by a {@link Transaction}. Package-private: built
 * only through {@link Transaction}.
 */
record CommitRequest(
    TableIdentifier table,
    String operation,
    String idempotencyKey,
    Map<String, SourceUpdate> sourceUpdates,
    Map<String, SourceDefinition> addedSources,
    Set<String> removedSources,
    SchemaChange schemaChange,
    Map<String, String> externalState,
    Map<String, String> summary,
    Map<String, Map<String, String>> externalIds,
    List<SourceLock> locks) {

  /** A new state for a source, with the state the writer expects it to have now (or null). */
  record SourceUpdate(SourceState expected, SourceState next) {}

  /** A new schema, derived from the schema with id {@code expectedSchemaId}. */
  record SchemaChange(int expectedSchemaId, List<Field> fields) {}

  CommitRequest {
    sourceUpdates = Collections.unmodifiableMap(new TreeMap<>(sourceUpdates));
    addedSources = Collections.unmodifiableMap(new TreeMap<>(addedSources));
    removedSources = Collections.unmodifiableSet(new TreeSet<>(removedSources));
    externalState = Collections.unmodifiableMap(new TreeMap<>(externalState));
    summary = Collections.unmodifiableMap(new TreeMap<>(summary));
    externalIds = Collections.unmodifiableMap(new TreeMap<>(externalIds));
    locks = List.copyOf(locks);
  }

  /** Every source this commit changes, in a stable order (locks are taken in this order). */
  List<String> touchedSources() {
    TreeSet<String> touched = new TreeSet<>(sourceUpdates.keySet());
    touched.addAll(addedSources.keySet());
    touched.addAll(removedSources);
    return new ArrayList<>(touched);
  }

  boolean isEmpty() {
    return sourceUpdates.isEmpty()
        && addedSources.isEmpty()
        && removedSources.isEmpty()
        && schemaChange == null
        && externalState.isEmpty();
  }

  /**
   * What makes two commits "the same change" for idempotency: the resulting states, sources, schema
   * and external state. Expected states and lock tokens are left out: a retried job re-reads them.
   */
  Map<String, Object> identity() {
    Map<String, Object> identity = new LinkedHashMap<>();
    identity.put("operation", operation);
    Map<String, Object> states = new TreeMap<>();
    sourceUpdates.forEach((id, update) -> states.put(id, MetadataJson.stateTree(update.next())));
    identity.put("states", states);
    Map<String, Object> added = new TreeMap<>();
    addedSources.forEach((id, source) -> added.put(id, MetadataJson.sourceTree(source)));
    identity.put("added", added);
    identity.put("removed", new ArrayList<>(removedSources));
    identity.put(
        "schema", schemaChange == null ? null : MetadataJson.fieldsTree(schemaChange.fields()));
    identity.put("external", externalState);
    return identity;
  }
}
