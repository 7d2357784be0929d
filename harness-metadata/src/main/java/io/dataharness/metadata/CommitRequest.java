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
    Map<String, SourceDefinition> redefinedSources,
    SchemaChange schemaChange,
    TableDefinition.Layout layout,
    Map<String, String> externalState,
    Map<String, String> summary,
    Map<String, Map<String, String>> externalIds,
    List<SourceLock> locks,
    Map<String, IntentRequest> openedIntents,
    Set<String> completedIntents,
    Long rollbackTo) {

  /** A new state for a source, with the state the writer expects it to have now (or null). */
  record SourceUpdate(SourceState expected, SourceState next) {}

  /** A new schema, derived from the schema with id {@code expectedSchemaId}. */
  record SchemaChange(int expectedSchemaId, List<Field> fields) {}

  /** An intent to open: see {@link Transaction#openIntent}. */
  record IntentRequest(String id, String kind, List<String> sources, String payload) {
    IntentRequest {
      sources = List.copyOf(new TreeSet<>(sources));
    }
  }

  CommitRequest {
    sourceUpdates = Collections.unmodifiableMap(new TreeMap<>(sourceUpdates));
    addedSources = Collections.unmodifiableMap(new TreeMap<>(addedSources));
    removedSources = Collections.unmodifiableSet(new TreeSet<>(removedSources));
    redefinedSources = Collections.unmodifiableMap(new TreeMap<>(redefinedSources));
    externalState = Collections.unmodifiableMap(new TreeMap<>(externalState));
    summary = Collections.unmodifiableMap(new TreeMap<>(summary));
    externalIds = Collections.unmodifiableMap(new TreeMap<>(externalIds));
    locks = List.copyOf(locks);
    openedIntents = Collections.unmodifiableMap(new TreeMap<>(openedIntents));
    completedIntents = Collections.unmodifiableSet(new TreeSet<>(completedIntents));
  }

  /** Every source this commit changes, in a stable order (locks are taken in this order). */
  List<String> touchedSources() {
    TreeSet<String> touched = new TreeSet<>(sourceUpdates.keySet());
    touched.addAll(addedSources.keySet());
    touched.addAll(removedSources);
    touched.addAll(redefinedSources.keySet());
    return new ArrayList<>(touched);
  }

  /**
   * Every source whose rows the commit locks: those it changes, those whose locks it presents and
   * those of the intents it opens, in source id order.
   */
  List<String> lockedSources() {
    TreeSet<String> locked = new TreeSet<>(touchedSources());
    locks.forEach(lock -> locked.add(lock.sourceId()));
    openedIntents.values().forEach(intent -> locked.addAll(intent.sources()));
    return new ArrayList<>(locked);
  }

  boolean isEmpty() {
    return sourceUpdates.isEmpty()
        && addedSources.isEmpty()
        && removedSources.isEmpty()
        && redefinedSources.isEmpty()
        && schemaChange == null
        && layout == null
        && externalState.isEmpty()
        && openedIntents.isEmpty()
        && completedIntents.isEmpty();
  }

  /**
   * What makes two commits "the same change" for idempotency: the resulting states, sources, schema
   * external state and the intents opened and completed. Expected states and lock tokens are left
   * out: a retried job re-reads them.
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
    if (!redefinedSources.isEmpty()) {
      // only when used, so the hashes of commits recorded before redefinitions existed stay the
      // same
      Map<String, Object> redefined = new TreeMap<>();
      redefinedSources.forEach((id, source) -> redefined.put(id, MetadataJson.sourceTree(source)));
      identity.put("redefined", redefined);
    }
    identity.put(
        "schema", schemaChange == null ? null : MetadataJson.fieldsTree(schemaChange.fields()));
    identity.put("external", externalState);
    if (layout != null) {
      identity.put("layout", MetadataJson.layoutJson(layout));
    }
    if (!openedIntents.isEmpty() || !completedIntents.isEmpty()) {
      // only when used, so the hashes of commits recorded before intents existed stay the same
      Map<String, Object> opened = new TreeMap<>();
      openedIntents.forEach(
          (id, intent) -> {
            Map<String, Object> tree = new LinkedHashMap<>();
            tree.put("kind", intent.kind());
            tree.put("sources", intent.sources());
            tree.put("payload", intent.payload());
            opened.put(id, tree);
          });
      identity.put("opened-intents", opened);
      identity.put("completed-intents", new ArrayList<>(completedIntents));
    }
    return identity;
  }
}
