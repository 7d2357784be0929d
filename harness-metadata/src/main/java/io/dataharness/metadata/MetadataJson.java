package io.dataharness.metadata;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * The JSON forms of metadata, as stored and as shown to users (the {@code state} column of the
 * {@code sources} metadata table):
 *
 * <ul>
 *   <li>kafka: {@code {"kind":"kafka","partitions":{"0":{"start":0,"end":10}}}}
 *   <li>iceberg: {@code {"kind":"iceberg","snapshot-id":123}} ({@code null} when empty)
 *   <li>jdbc: {@code {"kind":"jdbc","read-timestamp":"2026-11-22T10:00:00.123456Z",
 *       "snapshot":"1000:1004:1001"}} ({@code snapshot} is absent in states written without one)
 * </ul>
 */
public final class MetadataJson {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);
  private static final TypeReference<Map<String, String>> STRING_MAP = new TypeReference<>() {};

  private MetadataJson() {}

  public static String stateJson(SourceState state) {
    return write(stateTree(state));
  }

  public static SourceState parseState(String json) {
    return stream(
        json,
        parser -> {
          parser.nextToken();
          return readState(parser, json);
        });
  }

  /** What is read from a JSON parser. */
  @FunctionalInterface
  private interface Streamed<T> {
    T read(JsonParser parser) throws IOException;
  }

  /** Reads metadata JSON as a stream of tokens (no tree: states are read by the thousand). */
  private static <T> T stream(String json, Streamed<T> reader) {
    try (JsonParser parser = MAPPER.createParser(json)) {
      return reader.read(parser);
    } catch (IOException e) {
      throw new MetadataStoreException(e, "Cannot read metadata JSON '%s'", json);
    }
  }

  static Map<String, Object> stateTree(SourceState state) {
    Map<String, Object> tree = new LinkedHashMap<>();
    tree.put("kind", state.kind().id());
    if (state instanceof SourceState.Kafka kafka) {
      Map<String, Object> partitions = new LinkedHashMap<>();
      kafka
          .partitions()
          .forEach(
              (partition, range) ->
                  partitions.put(
                      String.valueOf(partition),
                      Map.of("start", range.start(), "end", range.end())));
      tree.put("partitions", partitions);
    } else if (state instanceof SourceState.Iceberg iceberg) {
      tree.put(
          "snapshot-id",
          iceberg.snapshotId().isPresent() ? iceberg.snapshotId().getAsLong() : null);
    } else if (state instanceof SourceState.Jdbc jdbc) {
      tree.put("read-timestamp", jdbc.readTimestamp().toString());
      if (jdbc.snapshot() != null) {
        tree.put("snapshot", jdbc.snapshot());
      }
    }
    return tree;
  }

  static String sourceJson(SourceDefinition source) {
    return write(sourceTree(source));
  }

  static Map<String, Object> sourceTree(SourceDefinition source) {
    Map<String, Object> tree = new LinkedHashMap<>();
    tree.put("id", source.id());
    tree.put("kind", source.kind().id());
    tree.put("connection", source.connection());
    tree.put("options", new TreeMap<>(source.options()));
    tree.put("column-mapping", new TreeMap<>(source.columnMapping()));
    tree.put("partition-filter", source.partitionFilter());
    return tree;
  }

  static SourceDefinition parseSource(String json) {
    JsonNode node = read(json);
    JsonNode filter = node.get("partition-filter");
    return new SourceDefinition(
        node.path("id").asText(),
        SourceKind.parse(node.path("kind").asText()),
        node.path("connection").asText(),
        MAPPER.convertValue(node.path("options"), STRING_MAP),
        MAPPER.convertValue(node.path("column-mapping"), STRING_MAP),
        filter == null || filter.isNull() ? null : filter.asText());
  }

  static String fieldsJson(List<Field> fields) {
    return write(fieldsTree(fields));
  }

  static List<Object> fieldsTree(List<Field> fields) {
    List<Object> tree = new ArrayList<>();
    for (Field field : fields) {
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("id", field.id());
      entry.put("name", field.name());
      entry.put("type", field.type().name());
      entry.put("required", field.required());
      entry.put("doc", field.doc());
      if (field.defaultValue() != null) {
        entry.put("default", field.defaultValue());
      }
      tree.add(entry);
    }
    return tree;
  }

  static List<Field> parseFields(String json) {
    List<Field> fields = new ArrayList<>();
    for (JsonNode node : read(json)) {
      JsonNode doc = node.get("doc");
      JsonNode defaultValue = node.get("default");
      fields.add(
          new Field(
              node.path("id").asInt(),
              node.path("name").asText(),
              new FieldType(node.path("type").asText()),
              node.path("required").asBoolean(),
              doc == null || doc.isNull() ? null : doc.asText(),
              defaultValue == null || defaultValue.isNull() ? null : defaultValue.asText()));
    }
    return fields;
  }

  static String layoutJson(TableDefinition.Layout layout) {
    Map<String, Object> tree = new LinkedHashMap<>();
    tree.put("primary-key", layout.primaryKey());
    tree.put("ordering-column", layout.orderingColumn());
    tree.put("partition-columns", layout.partitionColumns());
    tree.put("properties", new TreeMap<>(layout.properties()));
    return write(tree);
  }

  static TableDefinition.Layout parseLayout(String json) {
    JsonNode node = read(json);
    JsonNode ordering = node.get("ordering-column");
    return new TableDefinition.Layout(
        MAPPER.convertValue(node.path("primary-key"), new TypeReference<List<String>>() {}),
        ordering == null || ordering.isNull() ? null : ordering.asText(),
        MAPPER.convertValue(node.path("partition-columns"), new TypeReference<List<String>>() {}),
        MAPPER.convertValue(node.path("properties"), STRING_MAP));
  }

  /** Source changes and external state changes of one commit. */
  static String changesJson(List<SourceChange> changes, Map<String, String> external) {
    List<Object> sources = new ArrayList<>();
    for (SourceChange change : changes) {
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("source", change.sourceId());
      entry.put("before", change.before() == null ? null : stateTree(change.before()));
      entry.put("after", change.after() == null ? null : stateTree(change.after()));
      entry.put("external-ids", new TreeMap<>(change.externalIds()));
      sources.add(entry);
    }
    Map<String, Object> tree = new LinkedHashMap<>();
    tree.put("sources", sources);
    tree.put("external-state", new TreeMap<>(external));
    return write(tree);
  }

  static List<SourceChange> parseSourceChanges(String json) {
    List<SourceChange> changes = new ArrayList<>();
    for (JsonNode node : read(json).path("sources")) {
      changes.add(
          new SourceChange(
              node.path("source").asText(),
              stateOrNull(node.get("before")),
              stateOrNull(node.get("after")),
              MAPPER.convertValue(node.path("external-ids"), STRING_MAP)));
    }
    return changes;
  }

  /**
   * A checkpoint of a version's source states: one JSON object, each source id to its state (as in
   * {@link #stateJson}).
   */
  static String checkpointJson(Map<String, SourceState> states) {
    Map<String, Object> tree = new TreeMap<>();
    states.forEach((source, state) -> tree.put(source, stateTree(state)));
    return write(tree);
  }

  /** The states of a {@link #checkpointJson checkpoint}, by source id. */
  static Map<String, SourceState> parseCheckpoint(String json) {
    return stream(
        json,
        parser -> {
          Map<String, SourceState> states = new HashMap<>();
          expect(parser, parser.nextToken(), JsonToken.START_OBJECT, json);
          while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String source = parser.currentName();
            parser.nextToken();
            states.put(source, readState(parser, json));
          }
          return states;
        });
  }

  /**
   * Adds to {@code latest} the state each source changed by a version's {@code changes} has after
   * it (null for a removed source), unless {@code latest} already has that source: given versions
   * newest first, {@code latest} ends with each source's last state. Reads the JSON as a stream and
   * parses only the states it adds (old versions are read with hundreds of these).
   */
  static void addStatesAfter(String changes, Map<String, SourceState> latest) {
    stream(
        changes,
        parser -> {
          expect(parser, parser.nextToken(), JsonToken.START_OBJECT, changes);
          while (parser.nextToken() == JsonToken.FIELD_NAME) {
            JsonToken value = parser.nextToken();
            if (!parser.currentName().equals("sources") || value != JsonToken.START_ARRAY) {
              parser.skipChildren();
              continue;
            }
            while (parser.nextToken() == JsonToken.START_OBJECT) {
              String source = null;
              SourceState after = null;
              while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String field = parser.currentName();
                parser.nextToken();
                if (field.equals("source")) {
                  source = parser.getText();
                } else if (field.equals("after")
                    && (source == null || !latest.containsKey(source))
                    && parser.currentToken() != JsonToken.VALUE_NULL) {
                  after = readState(parser, changes);
                } else {
                  parser.skipChildren();
                }
              }
              if (source != null && !latest.containsKey(source)) {
                latest.put(source, after);
              }
            }
          }
          return null;
        });
  }

  /** Reads the state object the parser is at (and leaves it at the object's end). */
  private static SourceState readState(JsonParser parser, String json) throws IOException {
    expect(parser, parser.currentToken(), JsonToken.START_OBJECT, json);
    String kind = null;
    TreeMap<Integer, SourceState.OffsetRange> partitions = new TreeMap<>();
    Long snapshotId = null;
    String readTimestamp = null;
    String snapshot = null;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String field = parser.currentName();
      JsonToken value = parser.nextToken();
      switch (field) {
        case "kind" -> kind = parser.getText();
        case "snapshot-id" ->
            snapshotId = value == JsonToken.VALUE_NULL ? null : parser.getLongValue();
        case "read-timestamp" -> readTimestamp = parser.getText();
        case "snapshot" -> snapshot = value == JsonToken.VALUE_NULL ? null : parser.getText();
        case "partitions" -> {
          expect(parser, value, JsonToken.START_OBJECT, json);
          while (parser.nextToken() == JsonToken.FIELD_NAME) {
            int partition = Integer.parseInt(parser.currentName());
            expect(parser, parser.nextToken(), JsonToken.START_OBJECT, json);
            long start = 0;
            long end = 0;
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
              String bound = parser.currentName();
              parser.nextToken();
              if (bound.equals("start")) {
                start = parser.getLongValue();
              } else if (bound.equals("end")) {
                end = parser.getLongValue();
              } else {
                parser.skipChildren();
              }
            }
            partitions.put(partition, new SourceState.OffsetRange(start, end));
          }
        }
        default -> parser.skipChildren();
      }
    }
    return switch (SourceKind.parse(kind)) {
      case KAFKA -> new SourceState.Kafka(partitions);
      case ICEBERG ->
          new SourceState.Iceberg(
              snapshotId == null ? OptionalLong.empty() : OptionalLong.of(snapshotId));
      case JDBC -> new SourceState.Jdbc(Instant.parse(readTimestamp), snapshot);
    };
  }

  private static void expect(JsonParser parser, JsonToken found, JsonToken wanted, String json)
      throws IOException {
    if (found != wanted) {
      throw new MetadataStoreException(
          null,
          "Cannot read metadata JSON '%s': expected %s at %s, found %s",
          json,
          wanted,
          parser.currentLocation(),
          found);
    }
  }

  static Map<String, String> parseExternalChanges(String json) {
    Map<String, String> changes = new TreeMap<>();
    read(json)
        .path("external-state")
        .fields()
        .forEachRemaining(
            entry ->
                changes.put(
                    entry.getKey(), entry.getValue().isNull() ? null : entry.getValue().asText()));
    return changes;
  }

  private static SourceState stateOrNull(JsonNode node) {
    return node == null || node.isNull() ? null : parseState(node.toString());
  }

  public static String mapJson(Map<String, String> map) {
    return write(new TreeMap<>(map));
  }

  public static Map<String, String> parseMap(String json) {
    return json == null ? Map.of() : MAPPER.convertValue(read(json), STRING_MAP);
  }

  /** SHA-256 of the canonical JSON of a value (maps with sorted keys). */
  static String listJson(List<String> values) {
    return write(values);
  }

  static List<String> parseList(String json) {
    List<String> values = new ArrayList<>();
    read(json).forEach(node -> values.add(node.asText()));
    return values;
  }

  static String tokensJson(Map<String, Long> tokens) {
    return write(new TreeMap<>(tokens));
  }

  static Map<String, Long> parseTokens(String json) {
    Map<String, Long> tokens = new TreeMap<>();
    read(json)
        .fields()
        .forEachRemaining(entry -> tokens.put(entry.getKey(), entry.getValue().asLong()));
    return tokens;
  }

  static String hash(Object value) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(write(value).getBytes(UTF8));
      return HexFormat.of().formatHex(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static final java.nio.charset.Charset UTF8 = java.nio.charset.StandardCharsets.UTF_8;

  static String write(Object value) {
    try {
      return MAPPER.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("Cannot write metadata JSON", e);
    }
  }

  private static JsonNode read(String json) {
    try {
      return MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new MetadataStoreException(e, "Cannot read metadata JSON '%s'", json);
    }
  }
}
