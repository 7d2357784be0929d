package io.dataharness.spark.source;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.ValidationException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A PostgreSQL table named by a jdbc source's {@code table} option, and the names of the objects
 * the harness keeps beside it. Names are read as PostgreSQL reads them: unquoted parts are folded
 * to lower case, {@code "quoted"} parts are taken as written; without a schema the table is in
 * {@code public}.
 */
record PostgresTableName(String schema, String table) {
  /** PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes. */
  private static final int MAX_IDENTIFIER_BYTES = 63;

  static final String HISTORY_SUFFIX = "_harness_history";
  static final String FUNCTION_SUFFIX = "_harness_versioning";
  static final String DELETES_FUNCTION_SUFFIX = "_harness_deletes";
  static final String UNSEEN_MOVES_FUNCTION_SUFFIX = "_harness_unseen_moves";

  /**
   * The B-tree index on ({@value PostgresSources#VALID_TO}, {@value PostgresSources#VALID_FROM})
   * that earlier harnesses kept: dropped on registration (its name is the longest derived one).
   */
  static final String LEGACY_INDEX_SUFFIX = "_harness_history_as_of";

  static final String VALID_TO_INDEX_SUFFIX = "_harness_history_to";

  /**
   * The B-tree index on {@value PostgresSources#DELETED_XID} over every image that earlier
   * harnesses kept: replaced on registration by {@link #ENDED_INDEX_SUFFIX}.
   */
  static final String LEGACY_DELETED_BY_INDEX_SUFFIX = "_harness_history_xid";

  /**
   * The partial B-tree index on {@value PostgresSources#DELETED_XID} over the images that
   * statements other than moves ended ({@value PostgresSources#MOVED} null).
   */
  static final String ENDED_INDEX_SUFFIX = "_harness_history_ended";

  /** The trigger's name; trigger names are per table. */
  static final String TRIGGER = "harness_versioning";

  /** The statement trigger keeping the images a DELETE statement removed. */
  static final String DELETES_TRIGGER = "harness_versioning_deletes";

  /**
   * The row trigger keeping a deleted image where statement triggers do not fire: enabled {@code
   * REPLICA}, so it fires only under logical replication ({@code session_replication_role =
   * replica}), exactly when {@link #DELETES_TRIGGER} does not.
   */
  static final String REPLICA_DELETES_TRIGGER = "harness_versioning_replica_deletes";

  /** The statement trigger that refuses {@code TRUNCATE} on the table. */
  static final String TRUNCATE_TRIGGER = "harness_refuse_truncate";

  /** Every trigger registration installs on the table. */
  static final List<String> TRIGGERS =
      List.of(TRIGGER, DELETES_TRIGGER, REPLICA_DELETES_TRIGGER, TRUNCATE_TRIGGER);

  PostgresTableName {
    // Every derived name must fit, or PostgreSQL would silently truncate it (and names could
    // clash).
    if (bytes(table + LEGACY_INDEX_SUFFIX) > MAX_IDENTIFIER_BYTES) {
      throw new ValidationException(
          "Invalid jdbc table '%s': the name is too long to register; the harness keeps a history"
              + " table %s beside it and PostgreSQL names have at most %d bytes, so use a table name"
              + " of at most %d bytes",
          table,
          table + HISTORY_SUFFIX,
          MAX_IDENTIFIER_BYTES,
          MAX_IDENTIFIER_BYTES - LEGACY_INDEX_SUFFIX.length());
    }
  }

  static PostgresTableName of(SourceDefinition source) {
    String option =
        source
            .option("table")
            .filter(value -> !value.isBlank())
            .orElseThrow(
                () ->
                    new ValidationException(
                        "Invalid source '%s': a jdbc source needs the option table (table property"
                            + " source.%s.table = schema.table)",
                        source.id(), source.id()));
    List<String> parts = splitIdentifier(source, option.trim());
    if (parts.size() == 1) {
      return new PostgresTableName("public", parts.get(0));
    }
    if (parts.size() == 2) {
      return new PostgresTableName(parts.get(0), parts.get(1));
    }
    throw new ValidationException(
        "Invalid source '%s': table '%s' must be schema.table or table", source.id(), option);
  }

  private static List<String> splitIdentifier(SourceDefinition source, String value) {
    List<String> parts = new ArrayList<>();
    int index = 0;
    while (true) {
      StringBuilder part = new StringBuilder();
      if (index < value.length() && value.charAt(index) == '"') {
        index++;
        while (true) {
          if (index >= value.length()) {
            throw invalid(source, value, "a quoted name is not closed");
          }
          char character = value.charAt(index++);
          if (character == '"') {
            if (index < value.length() && value.charAt(index) == '"') {
              part.append('"');
              index++;
            } else {
              break;
            }
          } else {
            part.append(character);
          }
        }
      } else {
        while (index < value.length() && value.charAt(index) != '.') {
          part.append(value.charAt(index++));
        }
        String unquoted = part.toString().trim();
        part = new StringBuilder(unquoted.toLowerCase(Locale.ROOT));
      }
      if (part.length() == 0) {
        throw invalid(source, value, "a name part is empty");
      }
      parts.add(part.toString());
      if (index >= value.length()) {
        return parts;
      }
      if (value.charAt(index) != '.') {
        throw invalid(source, value, "expected '.' after a quoted name");
      }
      index++;
    }
  }

  private static ValidationException invalid(SourceDefinition source, String value, String why) {
    return new ValidationException(
        "Invalid source '%s': table '%s' is not schema.table (%s)", source.id(), value, why);
  }

  private static int bytes(String name) {
    return name.getBytes(StandardCharsets.UTF_8).length;
  }

  String historyTable() {
    return table + HISTORY_SUFFIX;
  }

  String functionName() {
    return table + FUNCTION_SUFFIX;
  }

  /** The index earlier harnesses kept for as-of reads (see {@link #LEGACY_INDEX_SUFFIX}). */
  String legacyIndexName() {
    return table + LEGACY_INDEX_SUFFIX;
  }

  /** The BRIN index of history images by when they ended. */
  String validToIndexName() {
    return table + VALID_TO_INDEX_SUFFIX;
  }

  /** The index of every history image by the transaction that ended it, earlier harnesses kept. */
  String legacyDeletedByIndexName() {
    return table + LEGACY_DELETED_BY_INDEX_SUFFIX;
  }

  /** The index of history images by the transaction that ended them, except moves' images. */
  String endedIndexName() {
    return table + ENDED_INDEX_SUFFIX;
  }

  /** The table recording the moves out of the tables of this schema. */
  String qualifiedMoves() {
    return quote(schema) + "." + quote(PostgresSources.MOVES_TABLE);
  }

  String qualified() {
    return quote(schema) + "." + quote(table);
  }

  String qualifiedHistory() {
    return quote(schema) + "." + quote(historyTable());
  }

  String qualifiedFunction() {
    return quote(schema) + "." + quote(functionName());
  }

  String qualifiedDeletesFunction() {
    return quote(schema) + "." + quote(table + DELETES_FUNCTION_SUFFIX);
  }

  String unseenMovesFunctionName() {
    return table + UNSEEN_MOVES_FUNCTION_SUFFIX;
  }

  String qualifiedUnseenMovesFunction() {
    return quote(schema) + "." + quote(unseenMovesFunctionName());
  }

  /** Quotes an identifier for PostgreSQL. */
  static String quote(String identifier) {
    return '"' + identifier.replace("\"", "\"\"") + '"';
  }

  @Override
  public String toString() {
    return schema + "." + table;
  }
}
