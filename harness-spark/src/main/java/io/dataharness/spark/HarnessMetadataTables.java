package io.dataharness.spark;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.MetadataJson;
import io.dataharness.metadata.SourceChange;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.read.HarnessSparkTable;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.util.ArrayBasedMapData;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.LocalScan;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.SupportsPushDownFilters;
import org.apache.spark.sql.connector.read.SupportsPushDownLimit;
import org.apache.spark.sql.sources.And;
import org.apache.spark.sql.sources.EqualNullSafe;
import org.apache.spark.sql.sources.EqualTo;
import org.apache.spark.sql.sources.Filter;
import org.apache.spark.sql.sources.GreaterThan;
import org.apache.spark.sql.sources.GreaterThanOrEqual;
import org.apache.spark.sql.sources.In;
import org.apache.spark.sql.sources.LessThan;
import org.apache.spark.sql.sources.LessThanOrEqual;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The metadata tables of a harness table, in Iceberg's style: {@code <table>.versions}, {@code
 * .sources} (every source's state at every version), {@code .commits} (one row per source a commit
 * changed: from what to what, with the ids it produced), {@code .locks} (held now) and {@code .lag}
 * (each source's live end against what the latest version records; see {@link SourceLag}).
 *
 * <p>Time travel ({@code VERSION AS OF n}, {@code TIMESTAMP AS OF ts}, or the read options {@code
 * version} / {@code timestamp}) shows a metadata table as it read when that version was the current
 * one: the rows of versions 1 to n ({@code .lag}: the sources now against version n). {@code
 * .locks} is not versioned and refuses time travel.
 */
final class HarnessMetadataTables {
  private static final int PAGE = 1000;

  private HarnessMetadataTables() {}

  /** The kinds of metadata table. */
  enum Kind {
    VERSIONS(
        new StructType()
            .add("version", DataTypes.LongType, false)
            .add("committed_at", DataTypes.TimestampType, false)
            .add("operation", DataTypes.StringType, false)
            .add("schema_id", DataTypes.IntegerType, false)
            .add("idempotency_key", DataTypes.StringType, true)
            .add("changed_sources", DataTypes.createArrayType(DataTypes.StringType, false), false)
            .add(
                "summary",
                DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType, true),
                false)),
    SOURCES(
        new StructType()
            .add("version", DataTypes.LongType, false)
            .add("source", DataTypes.StringType, false)
            .add("kind", DataTypes.StringType, false)
            .add("connection", DataTypes.StringType, false)
            .add("state", DataTypes.StringType, false)),
    COMMITS(
        new StructType()
            .add("version", DataTypes.LongType, false)
            .add("committed_at", DataTypes.TimestampType, false)
            .add("operation", DataTypes.StringType, false)
            .add("idempotency_key", DataTypes.StringType, true)
            .add("source", DataTypes.StringType, false)
            .add("before", DataTypes.StringType, true)
            .add("after", DataTypes.StringType, true)
            .add(
                "external_ids",
                DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType, true),
                false)),
    LOCKS(
        new StructType()
            .add("source", DataTypes.StringType, false)
            .add("owner", DataTypes.StringType, false)
            .add("fencing_token", DataTypes.LongType, false)
            .add("acquired_at", DataTypes.TimestampType, false)
            .add("expires_at", DataTypes.TimestampType, false)),
    LAG(SourceLag.SCHEMA);

    final StructType schema;

    Kind(StructType schema) {
      this.schema = schema;
    }
  }

  /** The kind of metadata table a name ({@code versions}, {@code sources}, ...) refers to. */
  static Optional<Kind> kind(String name) {
    for (Kind kind : Kind.values()) {
      if (kind.name().equalsIgnoreCase(name)) {
        return Optional.of(kind);
      }
    }
    return Optional.empty();
  }

  /**
   * The metadata table {@code kind} of {@code table}; with {@code asOf}, as it read when that
   * version was the current one (only versions up to it).
   */
  static Table load(HarnessCatalog catalog, TableIdentifier table, Kind kind, Long asOf) {
    return new MetadataTable(catalog, catalog.name(), catalog.store(), table, kind, asOf);
  }

  /** Refuses time travel ({@code clause}) where it has no meaning: the locks held now. */
  static void checkTimeTravel(TableIdentifier table, Kind kind, String clause) {
    if (kind == Kind.LOCKS) {
      throw new ValidationException(
          "Cannot read %s.locks with %s: locks are not versioned, %s.locks lists the locks held"
              + " now; read it without VERSION AS OF, TIMESTAMP AS OF or the read options version"
              + " and timestamp (%s.commits shows what each version changed)",
          table, clause, table, table);
    }
  }

  private record MetadataTable(
      HarnessCatalog context,
      String catalog,
      HarnessStore store,
      TableIdentifier table,
      Kind kind,
      Long asOf)
      implements SupportsRead {
    @Override
    public String name() {
      return catalog + "." + table + "." + kind.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public StructType schema() {
      return kind.schema;
    }

    @Override
    public Set<TableCapability> capabilities() {
      return EnumSet.of(TableCapability.BATCH_READ);
    }

    @Override
    public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
      Long upTo;
      try {
        io.dataharness.spark.read.ReadOptions.checkKnown(options.asCaseSensitiveMap(), name());
        upTo = upTo(options);
      } catch (RuntimeException e) {
        throw HarnessSparkTable.readError(e, name(), options);
      }
      String description =
          "DataHarness metadata table " + name() + (upTo == null ? "" : " as of version " + upTo);
      return new MetadataScanBuilder(this, upTo, description);
    }

    /** The last version to show: VERSION AS OF, or the read option version / timestamp. */
    private Long upTo(CaseInsensitiveStringMap options) {
      Optional<String> option = HarnessSparkTable.versionReadOption(options);
      if (option.isEmpty()) {
        return asOf;
      }
      checkTimeTravel(table, kind, "the read option " + option.get());
      long selected = HarnessSparkTable.versionFromReadOptions(store, table, options).version();
      if (asOf != null && asOf != selected) {
        throw new ValidationException(
            "Cannot read %s: it is read as of version %d and the read option %s selects version"
                + " %d; give only one",
            name(), asOf, option.get(), selected);
      }
      return selected;
    }

    private InternalRow[] rows(Long upTo, VersionRange range, int limit) {
      List<InternalRow> rows = new ArrayList<>();
      if (kind == Kind.LOCKS) {
        for (SourceLock lock : store.listLocks(table)) {
          rows.add(
              row(
                  text(lock.sourceId()),
                  text(lock.owner()),
                  lock.fencingToken(),
                  micros(lock.acquiredAt()),
                  micros(lock.expiresAt())));
        }
        return rows.toArray(InternalRow[]::new);
      }
      if (kind == Kind.LAG) {
        TableVersion version =
            upTo == null ? store.readLatest(table) : store.readVersion(table, upTo);
        for (SourceLag.Lag lag : SourceLag.of(context, version, Instant.now())) {
          rows.add(
              row(
                  version.version(),
                  text(lag.source()),
                  text(lag.kind()),
                  lag.partition(),
                  text(lag.recorded()),
                  text(lag.live()),
                  lag.rows(),
                  lag.seconds(),
                  lag.headroom(),
                  text(lag.warning())));
        }
        return rows.toArray(InternalRow[]::new);
      }
      VersionRange shown = upTo == null ? range : range.and(VersionRange.atMost(upTo));
      // versions before the oldest kept one may have been expired: page by the last version seen
      for (long from = shown.from(); from <= shown.to() && rows.size() < limit; ) {
        // listed versions one by one (each by the version index); a range a page at a time
        int page = shown.only() != null ? 1 : (int) Math.min(PAGE, shown.to() - from + 1);
        List<VersionInfo> infos = store.history(table, from, page);
        for (VersionInfo info : infos) {
          if (info.version() > shown.to() || rows.size() >= limit) {
            break;
          }
          if (shown.contains(info.version())) {
            addRows(info, rows);
          }
        }
        if (infos.size() < page) {
          break;
        }
        from = shown.next(infos.get(infos.size() - 1).version() + 1);
      }
      return (rows.size() > limit ? rows.subList(0, limit) : rows).toArray(InternalRow[]::new);
    }

    private void addRows(VersionInfo info, List<InternalRow> rows) {
      switch (kind) {
        case VERSIONS:
          rows.add(
              row(
                  info.version(),
                  micros(info.commit().committedAt()),
                  text(info.commit().operation()),
                  info.schemaId(),
                  text(info.commit().idempotencyKey()),
                  new GenericArrayData(
                      info.commit().sourceChanges().stream()
                          .map(change -> text(change.sourceId()))
                          .toArray()),
                  map(info.commit().summary())));
          break;
        case SOURCES:
          TableVersion version = store.readVersion(table, info.version());
          version
              .sourceStates()
              .forEach(
                  (source, state) ->
                      rows.add(
                          row(
                              info.version(),
                              text(source),
                              text(state.kind().id()),
                              text(version.sources().get(source).connection()),
                              text(MetadataJson.stateJson(state)))));
          break;
        default:
          for (SourceChange change : info.commit().sourceChanges()) {
            rows.add(
                row(
                    info.version(),
                    micros(info.commit().committedAt()),
                    text(info.commit().operation()),
                    text(info.commit().idempotencyKey()),
                    text(change.sourceId()),
                    change.before() == null ? null : text(MetadataJson.stateJson(change.before())),
                    change.after() == null ? null : text(MetadataJson.stateJson(change.after())),
                    map(change.externalIds())));
          }
      }
    }
  }

  /**
   * Pushes filters on {@code version} ({@code =}, {@code <}, {@code <=}, {@code >}, {@code >=},
   * {@code IN}, and their conjunctions) and limits down to the store, which then reads only those
   * versions (by its version index) instead of every version of the table. Other filters stay with
   * Spark; a limit is pushed only when no filter stays.
   */
  private static final class MetadataScanBuilder
      implements SupportsPushDownFilters, SupportsPushDownLimit {
    private final MetadataTable table;
    private final Long upTo;
    private final String description;
    private VersionRange range = VersionRange.ALL;
    private Filter[] pushed = new Filter[0];
    private int limit = Integer.MAX_VALUE;

    MetadataScanBuilder(MetadataTable table, Long upTo, String description) {
      this.table = table;
      this.upTo = upTo;
      this.description = description;
    }

    private boolean versioned() {
      return table.kind() != Kind.LOCKS && table.kind() != Kind.LAG;
    }

    @Override
    public Filter[] pushFilters(Filter[] filters) {
      if (!versioned()) {
        return filters;
      }
      List<Filter> accepted = new ArrayList<>();
      List<Filter> remaining = new ArrayList<>();
      for (Filter filter : filters) {
        Optional<VersionRange> onVersion = VersionRange.of(filter);
        if (onVersion.isPresent()) {
          range = range.and(onVersion.get());
          accepted.add(filter);
        } else {
          remaining.add(filter);
        }
      }
      pushed = accepted.toArray(Filter[]::new);
      return remaining.toArray(Filter[]::new);
    }

    @Override
    public Filter[] pushedFilters() {
      return pushed;
    }

    @Override
    public boolean pushLimit(int limit) {
      if (!versioned()) {
        return false;
      }
      this.limit = limit;
      return true;
    }

    @Override
    public Scan build() {
      String pushdown =
          (pushed.length == 0 ? "" : ", versions " + range)
              + (limit == Integer.MAX_VALUE ? "" : ", limit " + limit);
      return new RowsScan(
          table.kind().schema, table.rows(upTo, range, limit), description + pushdown);
    }
  }

  /**
   * The versions a metadata table query selects: {@code [from, to]}, and when given, only those
   * listed.
   */
  record VersionRange(long from, long to, java.util.NavigableSet<Long> only) {
    static final VersionRange ALL = new VersionRange(1, Long.MAX_VALUE, null);

    static VersionRange atMost(long version) {
      return new VersionRange(1, version, null);
    }

    /** The versions a filter on {@code version} selects, if it is one this understands. */
    static Optional<VersionRange> of(Filter filter) {
      if (filter instanceof And and) {
        return of(and.left()).flatMap(left -> of(and.right()).map(left::and));
      }
      if (filter instanceof In in && in.attribute().equals("version")) {
        java.util.NavigableSet<Long> values = new java.util.TreeSet<>();
        for (Object value : in.values()) {
          if (!(value instanceof Long || value instanceof Integer)) {
            return Optional.empty();
          }
          values.add(((Number) value).longValue());
        }
        return Optional.of(new VersionRange(1, Long.MAX_VALUE, values));
      }
      if (filter instanceof EqualTo f) {
        return on(f.attribute(), f.value(), v -> new VersionRange(v, v, null));
      }
      if (filter instanceof EqualNullSafe f) {
        return on(f.attribute(), f.value(), v -> new VersionRange(v, v, null));
      }
      if (filter instanceof GreaterThan f) {
        return on(
            f.attribute(),
            f.value(),
            v ->
                v == Long.MAX_VALUE
                    ? new VersionRange(1, 0, null)
                    : new VersionRange(Math.max(1, v + 1), Long.MAX_VALUE, null));
      }
      if (filter instanceof GreaterThanOrEqual f) {
        return on(
            f.attribute(), f.value(), v -> new VersionRange(Math.max(1, v), Long.MAX_VALUE, null));
      }
      if (filter instanceof LessThan f) {
        return on(f.attribute(), f.value(), v -> new VersionRange(1, v <= 1 ? 0 : v - 1, null));
      }
      if (filter instanceof LessThanOrEqual f) {
        return on(f.attribute(), f.value(), v -> new VersionRange(1, v, null));
      }
      return Optional.empty();
    }

    /** The range a comparison of {@code version} with a whole number selects. */
    private static Optional<VersionRange> on(
        String attribute, Object value, java.util.function.LongFunction<VersionRange> range) {
      if (!attribute.equals("version") || !(value instanceof Long || value instanceof Integer)) {
        return Optional.empty();
      }
      return Optional.of(range.apply(((Number) value).longValue()));
    }

    VersionRange and(VersionRange other) {
      java.util.NavigableSet<Long> values;
      if (only == null) {
        values = other.only;
      } else if (other.only == null) {
        values = only;
      } else {
        values = new java.util.TreeSet<>(only);
        values.retainAll(other.only);
      }
      long lo = Math.max(from, other.from);
      long hi = Math.min(to, other.to);
      if (values != null) {
        values = new java.util.TreeSet<>(values.subSet(lo, true, hi, true));
        if (values.isEmpty()) {
          return new VersionRange(1, 0, null);
        }
        lo = values.first();
        hi = values.last();
      }
      return new VersionRange(lo, hi, values);
    }

    boolean contains(long version) {
      return version >= from && version <= to && (only == null || only.contains(version));
    }

    /** The first selected version at or after {@code version}. */
    long next(long version) {
      if (only == null) {
        return version;
      }
      Long next = only.ceiling(version);
      return next == null ? Long.MAX_VALUE : next;
    }

    @Override
    public String toString() {
      if (only != null) {
        return only.toString();
      }
      return "[" + from + ", " + (to == Long.MAX_VALUE ? "latest" : String.valueOf(to)) + "]";
    }
  }

  private record RowsScan(StructType schema, InternalRow[] rows, String description)
      implements LocalScan {
    @Override
    public StructType readSchema() {
      return schema;
    }

    @Override
    public String description() {
      return description;
    }
  }

  private static InternalRow row(Object... values) {
    return new GenericInternalRow(values);
  }

  private static UTF8String text(String value) {
    return value == null ? null : UTF8String.fromString(value);
  }

  private static long micros(Instant instant) {
    return ChronoUnit.MICROS.between(Instant.EPOCH, instant);
  }

  private static ArrayBasedMapData map(Map<String, String> values) {
    ArrayData keys =
        new GenericArrayData(values.keySet().stream().map(HarnessMetadataTables::text).toArray());
    ArrayData items =
        new GenericArrayData(values.values().stream().map(HarnessMetadataTables::text).toArray());
    return new ArrayBasedMapData(keys, items);
  }
}
