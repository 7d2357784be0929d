package io.dataharness.spark.ddl;

import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableDefinition;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.conf.TableProperties;
import io.dataharness.spark.errors.InvalidParameterException;
import io.dataharness.spark.read.PartitionFilter;
import io.dataharness.spark.source.SourceSetup;
import io.dataharness.spark.txn.WriteProtocol;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.TableChange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ALTER TABLE ... SET / UNSET TBLPROPERTIES}: adds sources ({@code source.<id>.*} for a new
 * id; registration pins its content, as at CREATE TABLE), retires sources ({@code UNSET
 * TBLPROPERTIES ('source.<id>.kind')}, refused while the source holds rows; {@code SET
 * TBLPROPERTIES ('source.<id>.retire' = 'force')} retires it anyway), changes a source's {@code
 * partition-filter} and the table's {@code primary-key}, {@code ordering-column}, {@code
 * partition-columns}, {@code write.source}, {@code source-precedence} and {@code comment}. Every
 * key is validated before anything changes; an unknown key is refused, never stored. The whole
 * statement is one version, committed under the locks of every source.
 */
public final class AlterProperties {
  private static final Logger LOG = LoggerFactory.getLogger(AlterProperties.class);

  private static final String RETIRE = TableProperties.RETIRE;

  private AlterProperties() {}

  /** Whether every change of a statement is a table property change. */
  public static boolean handles(TableChange[] changes) {
    for (TableChange change : changes) {
      if (!(change instanceof TableChange.SetProperty)
          && !(change instanceof TableChange.RemoveProperty)) {
        return false;
      }
    }
    return changes.length > 0;
  }

  /**
   * Applies {@code changes}.
   *
   * @param parseSources the source definitions that a set of {@code source.<id>.*} properties
   *     declares (validated as at CREATE TABLE)
   * @param register registers a new source and returns its first state (pins its content)
   * @return the version that committed the change, or the latest when nothing changes
   */
  public static long apply(
      HarnessContext catalog,
      TableIdentifier table,
      TableChange[] changes,
      Function<Map<String, String>, List<SourceDefinition>> parseSources,
      BiFunction<SourceDefinition, Schema, SourceState> register) {
    TableVersion latest = catalog.store().readLatest(table);
    HarnessTable harnessTable = catalog.store().loadTable(table);
    Plan plan = Plan.of(table, latest, harnessTable, changes, parseSources);
    List<SourceDefinition> declared = new ArrayList<>(plan.added());
    declared.addAll(plan.redefined().values());
    for (SourceDefinition source : declared) {
      PartitionFilter.check(table, source, SparkSchemas.toSpark(latest.schema()));
    }
    // every added source is checked before any is registered (as at CREATE TABLE)
    for (SourceDefinition source : plan.added()) {
      SourceSetup.check(
          SparkSession.active(), table, source, catalog.connection(table, source), latest.schema());
    }
    PropertiesWriter writer = new PropertiesWriter(catalog, table, latest, plan, register);
    return new WriteProtocol(catalog.store(), table)
        .run("alter-" + UUID.randomUUID(), writer)
        .version();
  }

  private static long rowsOf(HarnessContext catalog, TableIdentifier table, String source) {
    return SparkSession.active()
        .sql(
            "SELECT count(*) FROM "
                + catalog.name()
                + "."
                + table
                + " WHERE _source = '"
                + source.replace("'", "''")
                + "'")
        .collectAsList()
        .get(0)
        .getLong(0);
  }

  /** What a statement asks for, planned against one version. */
  record Plan(
      List<SourceDefinition> added,
      List<String> retired,
      Set<String> forced,
      Map<String, SourceDefinition> redefined,
      TableDefinition.Layout layout,
      boolean layoutChanged) {

    static Plan of(
        TableIdentifier table,
        TableVersion latest,
        HarnessTable harnessTable,
        TableChange[] changes,
        Function<Map<String, String>, List<SourceDefinition>> parseSources) {
      Map<String, String> set = new LinkedHashMap<>();
      Set<String> unset = new TreeSet<>();
      for (TableChange change : changes) {
        if (change instanceof TableChange.SetProperty property) {
          set.put(property.property(), property.value());
        } else {
          unset.add(((TableChange.RemoveProperty) change).property());
        }
      }
      Map<String, String> newSourceProperties = new TreeMap<>();
      List<String> retired = new ArrayList<>();
      Set<String> forced = new TreeSet<>();
      Map<String, SourceDefinition> redefined = new LinkedHashMap<>();
      TableDefinition.Layout old = harnessTable.layout();
      List<String> primaryKey = old.primaryKey();
      String ordering = old.orderingColumn();
      List<String> partitionColumns = old.partitionColumns();
      Map<String, String> free = new TreeMap<>(old.properties());

      List<String> keys = new ArrayList<>(set.keySet());
      keys.addAll(unset);
      for (String key : keys) {
        boolean removing = unset.contains(key);
        String value = removing ? null : set.get(key);
        if (key.startsWith(TableProperties.SOURCE_PREFIX)) {
          String rest = key.substring(TableProperties.SOURCE_PREFIX.length());
          int dot = rest.indexOf('.');
          if (dot <= 0) {
            throw invalid(table, key, "source keys are source.<id>.<key>");
          }
          String id = rest.substring(0, dot);
          String property = rest.substring(dot + 1);
          SourceDefinition source = latest.sources().get(id);
          if (source == null) {
            if (removing) {
              throw invalid(table, key, "the table has no source '" + id + "'");
            }
            newSourceProperties.put(key, value);
          } else if (property.equals("kind") && removing) {
            if (!retired.contains(id)) {
              retired.add(id);
            }
          } else if (property.equals(RETIRE) && !removing) {
            if (!"force".equalsIgnoreCase(value)) {
              throw invalid(table, key, "the only value is 'force'");
            }
            retired.add(id);
            forced.add(id);
          } else if (property.equals("partition-filter")) {
            SourceDefinition base = redefined.getOrDefault(id, source);
            redefined.put(
                id,
                new SourceDefinition(
                    id,
                    base.kind(),
                    base.connection(),
                    base.options(),
                    base.columnMapping(),
                    value));
          } else {
            throw invalid(
                table,
                key,
                "a source's kind, connection and location are fixed at registration (its states"
                    + " refer to them); add a new source and retire this one, or change its"
                    + " partition-filter");
          }
        } else if (TableProperties.LAYOUT_KEYS.contains(key)) {
          switch (key) {
            case TableProperties.PRIMARY_KEY -> primaryKey = TableProperties.list(value);
            case TableProperties.ORDERING_COLUMN ->
                ordering = value == null || value.isBlank() ? null : value.trim();
            default -> partitionColumns = TableProperties.list(value);
          }
        } else if (TableProperties.TABLE_KEYS.contains(key)) {
          if (removing) {
            free.remove(key);
          } else {
            free.put(key, value);
          }
        } else {
          throw invalid(
              table,
              key,
              "it is not a harness table property; "
                  + TableProperties.didYouMean("", key, TableProperties.KNOWN_KEYS)
                  + "use one of "
                  + TableProperties.KNOWN_KEYS
                  + " or source.<id>.<key>");
        }
      }
      List<SourceDefinition> added =
          newSourceProperties.isEmpty() ? List.of() : parseSources.apply(newSourceProperties);
      Set<String> remaining = new TreeSet<>(latest.sources().keySet());
      retired.forEach(remaining::remove);
      added.forEach(source -> remaining.add(source.id()));
      if (remaining.isEmpty()) {
        throw new ValidationException(
            "Cannot retire every source of %s: a table needs at least one source", table);
      }
      Map<String, SourceDefinition> after = new LinkedHashMap<>(latest.sources());
      retired.forEach(after::remove);
      redefined.forEach(after::replace);
      added.forEach(source -> after.put(source.id(), source));
      TableProperties.writeSources(table, "alter", free.get(TableProperties.WRITE_SOURCE), after);
      TableDefinition.Layout layout =
          new TableDefinition.Layout(primaryKey, ordering, partitionColumns, free);
      // the store validates the layout again at commit; here it fails before any source changes
      layout.validate(table, latest.schema());
      return new Plan(
          added, retired, forced, redefined, layout, !layout.equals(harnessTable.layout()));
    }

    boolean isEmpty() {
      return added.isEmpty() && retired.isEmpty() && redefined.isEmpty() && !layoutChanged;
    }
  }

  private static InvalidParameterException invalid(TableIdentifier table, String key, String fix) {
    return new InvalidParameterException(
        key, "Cannot alter %s: table property '%s': %s", table, key, fix);
  }

  /** The change as a writer of the protocol: stage = register new sources; record = the rest. */
  private static final class PropertiesWriter extends DdlWriter<Plan, Map<String, SourceState>> {
    private final HarnessContext catalog;
    private final Plan plan;
    private final BiFunction<SourceDefinition, Schema, SourceState> register;
    private final Schema schema;

    PropertiesWriter(
        HarnessContext catalog,
        TableIdentifier table,
        TableVersion latest,
        Plan plan,
        BiFunction<SourceDefinition, Schema, SourceState> register) {
      super(table, latest);
      this.catalog = catalog;
      this.plan = plan;
      this.register = register;
      this.schema = latest.schema();
    }

    @Override
    public Optional<Plan> plan(TableVersion latest) {
      // under the locks of every source: no mover or append can fill a source once counted empty
      for (String retired : plan.retired()) {
        if (!plan.forced().contains(retired)) {
          long rows = rowsOf(catalog, table, retired);
          if (rows > 0) {
            throw new ValidationException(
                "Cannot retire source '%s' of %s: it holds %d rows at version %d; move them to"
                    + " another source first, or retire it anyway (its rows leave the table; older"
                    + " versions still read them) with SET TBLPROPERTIES ('source.%s.retire' ="
                    + " 'force')",
                retired, table, rows, latest.version(), retired);
          }
        }
      }
      return plan.isEmpty() ? Optional.empty() : Optional.of(plan);
    }

    @Override
    public String idempotencyKey(Plan batch) {
      return IdempotencyKeys.of("alter-properties:" + table, batch.toString());
    }

    @Override
    public Map<String, SourceState> stage(Plan batch, LeaseKeeper locks) {
      Map<String, SourceState> states = new LinkedHashMap<>();
      for (SourceDefinition source : batch.added()) {
        LOG.info("Registering source '{}' of {}", source.id(), table);
        states.put(source.id(), register.apply(source, schema));
      }
      return states;
    }

    @Override
    public void record(Transaction transaction, Plan batch, Map<String, SourceState> states) {
      batch.added().forEach(source -> transaction.addSource(source, states.get(source.id())));
      batch.retired().forEach(transaction::removeSource);
      batch.redefined().values().forEach(transaction::redefineSource);
      if (batch.layoutChanged()) {
        transaction.setLayout(batch.layout());
      }
      transaction.summary("properties-change", describe(batch));
    }

    @Override
    public void publish(Plan batch, Map<String, SourceState> states, VersionInfo committed) {
      LOG.info("Altered {} as version {}: {}", table, committed.version(), describe(batch));
    }

    @Override
    public String describe(Plan batch) {
      List<String> parts = new ArrayList<>();
      batch.added().forEach(s -> parts.add("added source '" + s.id() + "'"));
      batch.retired().forEach(s -> parts.add("retired source '" + s + "'"));
      batch.redefined().keySet().forEach(s -> parts.add("partition-filter of '" + s + "'"));
      if (batch.layoutChanged()) {
        parts.add("layout " + batch.layout());
      }
      return String.join(", ", parts);
    }
  }
}
