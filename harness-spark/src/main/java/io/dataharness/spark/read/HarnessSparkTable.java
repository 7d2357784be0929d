package io.dataharness.spark.read;

import io.dataharness.metadata.MetadataJson;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.MetadataColumns;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.errors.InvalidParameterException;
import io.dataharness.spark.errors.SparkErrors;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.spark.sql.connector.catalog.MetadataColumn;
import org.apache.spark.sql.connector.catalog.SupportsMetadataColumns;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.SupportsWrite;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * A harness table as Spark sees it, fixed to one version: its schema is that version's schema, and
 * every scan reads every source at the state that version records.
 */
public class HarnessSparkTable implements SupportsRead, SupportsWrite, SupportsMetadataColumns {
  /** Read option: the version to read. */
  public static final String VERSION_OPTION = "version";

  /** Read option: read the version current at this timestamp (ISO-8601, or epoch milliseconds). */
  public static final String TIMESTAMP_OPTION = "timestamp";

  private final HarnessContext catalog;
  private final TableVersion version;
  private final boolean timeTravel;
  private final boolean latestImages;

  public HarnessSparkTable(HarnessContext catalog, TableVersion version, boolean timeTravel) {
    this(catalog, version, timeTravel, false);
  }

  private HarnessSparkTable(
      HarnessContext catalog, TableVersion version, boolean timeTravel, boolean latestImages) {
    this.catalog = catalog;
    this.version = version;
    this.timeTravel = timeTravel;
    this.latestImages = latestImages;
  }

  /**
   * The dedup view {@code <table>.latest}: the latest image of each primary key, by the ordering
   * column, then by source precedence.
   */
  public HarnessSparkTable latestImages() {
    return new HarnessSparkTable(catalog, version, timeTravel, true);
  }

  /** True for the dedup view {@code <table>.latest}. */
  public boolean isLatestImages() {
    return latestImages;
  }

  /** The table's layout (primary key, ordering column, properties) as it is now. */
  public io.dataharness.metadata.HarnessTable definition() {
    // Spark asks for capabilities and properties several times while planning one query
    if (definition == null) {
      definition = catalog.store().loadTable(version.table());
    }
    return definition;
  }

  private io.dataharness.metadata.HarnessTable definition;

  public TableVersion tableVersion() {
    return version;
  }

  public TableIdentifier identifier() {
    return version.table();
  }

  @Override
  public String name() {
    return catalog.name() + "." + version.table() + (latestImages ? ".latest" : "");
  }

  @Override
  public StructType schema() {
    return SparkSchemas.toSpark(version.schema());
  }

  @Override
  public Map<String, String> properties() {
    Map<String, String> properties = new TreeMap<>(definition().properties());
    properties.put("harness.uuid", definition().uuid());
    properties.put("harness.version", String.valueOf(version.version()));
    properties.put("harness.schema-id", String.valueOf(version.schema().schemaId()));
    properties.put("harness.committed-at", String.valueOf(version.commit().committedAt()));
    version
        .sourceStates()
        .forEach(
            (id, state) -> {
              SourceDefinition source = version.sources().get(id);
              properties.put(
                  "harness.source." + id,
                  source.kind().id()
                      + " via connection '"
                      + source.connection()
                      + "' "
                      + source.options()
                      + ", state "
                      + MetadataJson.stateJson(state));
            });
    return properties;
  }

  @Override
  public Set<TableCapability> capabilities() {
    Set<TableCapability> capabilities = EnumSet.of(TableCapability.BATCH_READ);
    if (!timeTravel && !latestImages) {
      capabilities.addAll(
          io.dataharness.spark.write.HarnessWrites.capabilities(version, definition()));
    }
    return capabilities;
  }

  /** Appends go to the table's write source and commit one version: see HarnessWrites. */
  @Override
  public org.apache.spark.sql.connector.write.WriteBuilder newWriteBuilder(
      org.apache.spark.sql.connector.write.LogicalWriteInfo info) {
    return io.dataharness.spark.write.HarnessWrites.builder(catalog, version, info);
  }

  @Override
  public MetadataColumn[] metadataColumns() {
    return MetadataColumns.connectorColumns();
  }

  /**
   * The sources to read for a scan with these options: the version this table is fixed to, or the
   * one the {@code version} / {@code timestamp} read options select.
   */
  public List<SourceRead> plan(CaseInsensitiveStringMap options) {
    try {
      ReadOptions.checkKnown(options.asCaseSensitiveMap(), name());
      TableVersion selected = selectVersion(options);
      boolean pinned = timeTravel || selected.version() != version.version();
      ReadOptions readOptions = ReadOptions.parse(options.asCaseSensitiveMap(), pinned);
      return ReadPlanner.plan(selected, readOptions, catalog::connection);
    } catch (RuntimeException e) {
      throw readError(e, name(), options);
    }
  }

  /**
   * A harness error of a read with these options as Spark's {@code AnalysisException} ({@link
   * SparkErrors}): a bad read option, a version or timestamp the table does not have.
   */
  public static RuntimeException readError(
      RuntimeException error, String relation, CaseInsensitiveStringMap options) {
    String parameter =
        versionReadOption(options)
            .map(option -> option.substring(0, option.indexOf('=')))
            .orElse("options");
    return SparkErrors.of(error, "table " + SparkErrors.quoted(relation), relation, parameter);
  }

  private TableVersion selectVersion(CaseInsensitiveStringMap options) {
    java.util.Optional<String> option = versionReadOption(options);
    if (option.isEmpty()) {
      return version;
    }
    TableVersion selected = versionFromReadOptions(catalog.store(), version.table(), options);
    if (timeTravel && selected.version() != version.version()) {
      throw new ValidationException(
          "Cannot read %s: it is read as of version %d and the read option %s selects version"
              + " %d; give only one",
          name(), version.version(), option.get(), selected.version());
    }
    return selected;
  }

  /** The read option {@code version} or {@code timestamp} as {@code key=value}, if given. */
  public static java.util.Optional<String> versionReadOption(CaseInsensitiveStringMap options) {
    for (String key : List.of(VERSION_OPTION, TIMESTAMP_OPTION)) {
      if (options.containsKey(key)) {
        return java.util.Optional.of(key + "=" + options.get(key));
      }
    }
    return java.util.Optional.empty();
  }

  /**
   * The version the read option {@code version} or {@code timestamp} selects; give one (see {@link
   * #versionReadOption}).
   */
  public static TableVersion versionFromReadOptions(
      io.dataharness.metadata.HarnessStore store,
      TableIdentifier table,
      CaseInsensitiveStringMap options) {
    String versionOption = options.get(VERSION_OPTION);
    String timestampOption = options.get(TIMESTAMP_OPTION);
    if (versionOption != null && timestampOption != null) {
      throw new ValidationException(
          "Cannot read %s: give either the read option 'version' or 'timestamp', not both", table);
    }
    if (versionOption != null) {
      try {
        return store.readVersion(table, Long.parseLong(versionOption.trim()));
      } catch (NumberFormatException e) {
        throw new InvalidParameterException(
            VERSION_OPTION,
            "Invalid read option version=%s for %s: use a version number",
            versionOption,
            table);
      }
    }
    if (timestampOption == null) {
      throw new IllegalArgumentException("Neither read option version nor timestamp is given");
    }
    return store.readVersionAsOf(table, parseTimestamp(timestampOption, table));
  }

  private static Instant parseTimestamp(String value, TableIdentifier table) {
    String trimmed = value.trim();
    try {
      return trimmed.chars().allMatch(Character::isDigit)
          ? Instant.ofEpochMilli(Long.parseLong(trimmed))
          : Instant.parse(trimmed);
    } catch (RuntimeException e) {
      throw new InvalidParameterException(
          TIMESTAMP_OPTION,
          "Invalid read option timestamp=%s for %s: use ISO-8601 such as 2026-11-22T10:15:30Z, or"
              + " epoch milliseconds",
          value,
          table);
    }
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
    if (latestImages) {
      throw SparkErrors.of(
          new ValidationException(
              "Cannot read %s without the DataHarness session extension: the dedup view is planned as a"
                  + " window over the native union. Put the harness jar on the driver class path when"
                  + " the session starts, and keep spark.dataharness.read.native-union=true",
              name()),
          "table " + SparkErrors.quoted(name()),
          name(),
          "spark.dataharness.read.native-union");
    }
    List<SourceRead> reads = plan(options);
    long read = reads.isEmpty() ? version.version() : reads.get(0).version();
    StructType dataSchema = reads.isEmpty() ? schema() : reads.get(0).schema();
    return new HarnessScanBuilder(version.table(), read, dataSchema, reads);
  }
}
