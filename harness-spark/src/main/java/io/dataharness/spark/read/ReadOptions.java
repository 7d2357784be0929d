package io.dataharness.spark.read;

import io.dataharness.spark.conf.TableProperties;
import io.dataharness.spark.errors.InvalidParameterException;
import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * Read options of a harness table scan ({@code spark.read.option(...)}, or the table's properties):
 *
 * <ul>
 *   <li>{@code kafka.read-mode}: {@code pinned} reads exactly the offsets of the version; {@code
 *       latest} reads from the version's start offsets to the live end offsets at planning time.
 *       Default: latest when reading the current version, pinned for time travel.
 *   <li>{@code kafka.malformed}: {@code FAILFAST} (default) fails on a message that is not valid
 *       JSON for the schema, naming topic, partition and offset; {@code PERMISSIVE} returns nulls
 *       and the raw value in {@code _corrupt_record}.
 * </ul>
 */
public record ReadOptions(KafkaReadMode kafkaReadMode, boolean failFast) implements Serializable {
  public static final String KAFKA_READ_MODE = "kafka.read-mode";
  public static final String KAFKA_MALFORMED = "kafka.malformed";

  /** How Kafka sources are read. */
  public enum KafkaReadMode {
    PINNED,
    LATEST
  }

  /** Every read option of a harness table or metadata table, in lower case. */
  public static final List<String> KNOWN =
      List.of(
          HarnessSparkTable.VERSION_OPTION,
          HarnessSparkTable.TIMESTAMP_OPTION,
          KAFKA_READ_MODE,
          KAFKA_MALFORMED);

  /**
   * Refuses a read option no harness read knows, such as a misspelt {@code kafka.readmode}, rather
   * than ignoring it and reading something the user did not ask for.
   */
  public static void checkKnown(Map<String, String> options, String relation) {
    for (String key : new TreeSet<>(options.keySet())) {
      if (!KNOWN.contains(key.toLowerCase(Locale.ROOT))) {
        throw new InvalidParameterException(
            key,
            "Cannot read %s: '%s' is not a read option of a harness table; %sits read options are"
                + " %s (see docs/reads.md)",
            relation,
            key,
            TableProperties.didYouMean("", key, KNOWN),
            String.join(", ", KNOWN));
      }
    }
  }

  public static ReadOptions parse(Map<String, String> options, boolean timeTravel) {
    String mode = get(options, KAFKA_READ_MODE);
    KafkaReadMode readMode;
    if (mode == null) {
      readMode = timeTravel ? KafkaReadMode.PINNED : KafkaReadMode.LATEST;
    } else if (mode.equalsIgnoreCase("pinned")) {
      readMode = KafkaReadMode.PINNED;
    } else if (mode.equalsIgnoreCase("latest")) {
      readMode = KafkaReadMode.LATEST;
    } else {
      throw new InvalidParameterException(
          KAFKA_READ_MODE,
          "Invalid read option %s=%s: use pinned or latest",
          KAFKA_READ_MODE,
          mode);
    }
    String malformed = get(options, KAFKA_MALFORMED);
    if (malformed != null
        && !malformed.equalsIgnoreCase("FAILFAST")
        && !malformed.equalsIgnoreCase("PERMISSIVE")) {
      throw new InvalidParameterException(
          KAFKA_MALFORMED,
          "Invalid read option %s=%s: use FAILFAST or PERMISSIVE",
          KAFKA_MALFORMED,
          malformed);
    }
    return new ReadOptions(readMode, malformed == null || malformed.equalsIgnoreCase("FAILFAST"));
  }

  private static String get(Map<String, String> options, String key) {
    for (Map.Entry<String, String> entry : options.entrySet()) {
      if (entry.getKey().toLowerCase(Locale.ROOT).equals(key)) {
        return entry.getValue();
      }
    }
    return null;
  }
}
