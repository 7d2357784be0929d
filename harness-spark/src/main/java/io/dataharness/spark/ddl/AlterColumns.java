package io.dataharness.spark.ddl;

import io.dataharness.metadata.CommitConflictException;
import io.dataharness.metadata.Field;
import io.dataharness.metadata.FieldType;
import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.IdempotencyKeys;
import io.dataharness.metadata.LeaseKeeper;
import io.dataharness.metadata.Schema;
import io.dataharness.metadata.SchemaCompatibility;
import io.dataharness.metadata.SchemaDiff;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.Transaction;
import io.dataharness.metadata.ValidationException;
import io.dataharness.metadata.VersionInfo;
import io.dataharness.spark.conf.ColumnDefaults;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.PostgresSources;
import io.dataharness.spark.txn.WriteOutcome;
import io.dataharness.spark.txn.WriteProtocol;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.TableChange;
import org.apache.spark.sql.types.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ALTER TABLE} for columns: add (nullable, optionally with a literal DEFAULT), rename, widen
 * a type, drop NOT NULL, comment, drop. The whole statement is validated against the current schema
 * before any source changes ({@link SchemaCompatibility}); then, under the locks of every source
 * (the {@link WriteProtocol}, so no mover or append writes with the old schema meanwhile), each
 * source's own columns follow ({@link SchemaDiff}: Iceberg by field id, PostgreSQL on the table,
 * its history table and trigger; Kafka JSON needs nothing), and one version commits the new schema
 * id with the sources' new column mappings. Versions before it read with their own schema.
 *
 * <p>A rename changes no physical column: each source maps the new name to the column that holds
 * the data (messages already in Kafka, applications writing to PostgreSQL and other Iceberg readers
 * keep working). A drop removes the column from the harness schema only; the sources keep it, so
 * older versions still read it.
 *
 * <p>When a source fails, the harness schema is unchanged and the error says which sources already
 * have the change; every source step is idempotent, so running the same statement again completes
 * it.
 */
public final class AlterColumns {
  private static final Logger LOG = LoggerFactory.getLogger(AlterColumns.class);

  private AlterColumns() {}

  /**
   * Applies {@code changes} to {@code table}.
   *
   * @return the version that committed the change, or the latest version when nothing changes
   */
  public static long apply(HarnessContext catalog, TableIdentifier table, TableChange[] changes) {
    TableVersion latest = catalog.store().readLatest(table);
    HarnessTable harnessTable = catalog.store().loadTable(table);
    Plan plan = Plan.of(table, latest, changes);
    SchemaCompatibility.check(table, latest.schema(), plan.fields(), harnessTable.layout());
    AlterWriter writer = new AlterWriter(catalog, table, latest, plan);
    WriteOutcome<Plan, List<String>> outcome =
        new WriteProtocol(catalog.store(), table).run("alter-" + UUID.randomUUID(), writer);
    return outcome.version();
  }

  /**
   * The schema and source definitions an ALTER TABLE statement asks for, planned against one
   * version's schema.
   */
  record Plan(int baseSchemaId, List<Field> fields, Map<String, SourceDefinition> redefined) {

    static Plan of(TableIdentifier table, TableVersion latest, TableChange[] changes) {
      List<Field> fields = new ArrayList<>(latest.schema().fields());
      Map<String, SourceDefinition> sources = new LinkedHashMap<>(latest.sources());
      Map<String, SourceDefinition> redefined = new LinkedHashMap<>();
      int nextId = latest.schema().highestFieldId() + 1;
      for (TableChange change : changes) {
        if (change instanceof TableChange.AddColumn add) {
          String name = single(table, add.fieldNames(), "add");
          if (add.position() != null) {
            throw new ValidationException(
                "Cannot add column '%s' to %s at a position (FIRST / AFTER): harness columns are"
                    + " added at the end; leave out the position",
                name, table);
          }
          if (indexOf(fields, name) >= 0) {
            throw new ValidationException(
                "Cannot add column '%s' to %s: the table already has it", name, table);
          }
          for (SourceDefinition source : sources.values()) {
            if (source.columnMapping().containsKey(name)
                || source.columnMapping().containsValue(name)) {
              throw new ValidationException(
                  "Cannot add column '%s' to %s: source '%s' keeps the data of another column"
                      + " under that name (a renamed or mapped column, mapping %s); choose"
                      + " another name",
                  name, table, source.id(), source.columnMapping());
            }
          }
          FieldType type = SparkSchemas.fromSpark(name, add.dataType());
          fields.add(
              new Field(
                  nextId++,
                  name,
                  type,
                  !add.isNullable(),
                  add.comment(),
                  ColumnDefaults.canonical(table, name, type, add.defaultValue())));
        } else if (change instanceof TableChange.RenameColumn rename) {
          int index = existing(table, fields, single(table, rename.fieldNames(), "rename"));
          Field old = fields.get(index);
          String name = rename.newName();
          if (indexOf(fields, name) >= 0) {
            throw new ValidationException(
                "Cannot rename column '%s' of %s to '%s': the table already has a column '%s'",
                old.name(), table, name, name);
          }
          fields.set(
              index,
              new Field(old.id(), name, old.type(), old.required(), old.doc(), old.defaultValue()));
          for (SourceDefinition source : List.copyOf(sources.values())) {
            // older versions still read the old name: keep its mapping, add the new one
            String column = source.sourceColumn(old.name());
            remap(sources, redefined, source, old.name(), column);
            remap(sources, redefined, sources.get(source.id()), name, column);
          }
        } else if (change instanceof TableChange.UpdateColumnType update) {
          int index = existing(table, fields, single(table, update.fieldNames(), "change"));
          Field old = fields.get(index);
          fields.set(
              index,
              new Field(
                  old.id(),
                  old.name(),
                  SparkSchemas.fromSpark(old.name(), update.newDataType()),
                  old.required(),
                  old.doc(),
                  widenedDefault(table, old, update.newDataType())));
        } else if (change instanceof TableChange.UpdateColumnNullability nullability) {
          int index = existing(table, fields, single(table, nullability.fieldNames(), "change"));
          Field old = fields.get(index);
          fields.set(
              index,
              new Field(
                  old.id(),
                  old.name(),
                  old.type(),
                  !nullability.nullable(),
                  old.doc(),
                  old.defaultValue()));
        } else if (change instanceof TableChange.UpdateColumnComment comment) {
          int index = existing(table, fields, single(table, comment.fieldNames(), "comment"));
          Field old = fields.get(index);
          fields.set(
              index,
              new Field(
                  old.id(),
                  old.name(),
                  old.type(),
                  old.required(),
                  comment.newComment(),
                  old.defaultValue()));
        } else if (change instanceof TableChange.UpdateColumnDefaultValue update) {
          Field old =
              fields.get(existing(table, fields, single(table, update.fieldNames(), "change")));
          throw new ValidationException(
              "Cannot change the default of column '%s' of %s (now %s): the harness keeps one"
                  + " default per column, and rows written before the column was added read it, so"
                  + " changing it would change rows already written; add a new column with the"
                  + " default you want instead",
              old.name(), table, old.defaultValue() == null ? "none" : old.defaultValue());
        } else if (change instanceof TableChange.DeleteColumn delete) {
          String name = single(table, delete.fieldNames(), "drop");
          int index = indexOf(fields, name);
          if (index < 0 && !delete.ifExists()) {
            existing(table, fields, name);
          }
          if (index >= 0) {
            Field dropped = fields.remove(index);
            // the sources keep the column: remember it, so that a new column of that name is
            // refused instead of reading the dropped column's data
            for (SourceDefinition source : List.copyOf(sources.values())) {
              remap(
                  sources, redefined, source, dropped.name(), source.sourceColumn(dropped.name()));
            }
          }
        } else {
          throw new ValidationException(
              "Cannot alter %s: %s is not supported; ALTER TABLE changes columns (ADD, RENAME,"
                  + " ALTER ... TYPE to a wider type, ALTER ... DROP NOT NULL, ALTER ... COMMENT,"
                  + " DROP); sources and table properties are set at CREATE TABLE",
              table, describe(change));
        }
      }
      return new Plan(latest.schema().schemaId(), fields, redefined);
    }

    /** A column's default in its widened type (the same value: widening never loses one). */
    private static String widenedDefault(TableIdentifier table, Field old, DataType newType) {
      if (old.defaultValue() == null) {
        return null;
      }
      FieldType wider = SparkSchemas.fromSpark(old.name(), newType);
      if (old.type().equals(FieldType.FLOAT) && wider.equals(FieldType.DOUBLE)) {
        // the float's own value, as the rows the sources widen hold it
        return wider.formatValue((double) (Float) old.defaultJavaValue());
      }
      try {
        return wider.canonicalValue(old.defaultValue());
      } catch (IllegalArgumentException e) {
        throw new ValidationException(
            "Cannot change column '%s' of %s to %s: its default %s is no value of it (%s)",
            old.name(), table, wider, old.defaultValue(), e.getMessage());
      }
    }

    /** Maps {@code name} to {@code column} in {@code source} (kept if already mapped). */
    private static void remap(
        Map<String, SourceDefinition> sources,
        Map<String, SourceDefinition> redefined,
        SourceDefinition source,
        String name,
        String column) {
      Map<String, String> mapping = new HashMap<>(source.columnMapping());
      if (column.equals(mapping.get(name))) {
        return;
      }
      mapping.put(name, column);
      SourceDefinition next =
          new SourceDefinition(
              source.id(),
              source.kind(),
              source.connection(),
              source.options(),
              mapping,
              source.partitionFilter());
      sources.put(source.id(), next);
      redefined.put(source.id(), next);
    }

    private static String single(TableIdentifier table, String[] names, String action) {
      if (names.length != 1) {
        throw new ValidationException(
            "Cannot %s column %s of %s: harness columns are top-level; nested fields are not"
                + " supported",
            action, String.join(".", names), table);
      }
      return names[0];
    }

    private static int indexOf(List<Field> fields, String name) {
      for (int i = 0; i < fields.size(); i++) {
        if (fields.get(i).name().equalsIgnoreCase(name)) {
          return i;
        }
      }
      return -1;
    }

    private static int existing(TableIdentifier table, List<Field> fields, String name) {
      int index = indexOf(fields, name);
      if (index < 0) {
        throw new ValidationException(
            "Cannot alter column '%s' of %s: the table has no such column (columns: %s)",
            name, table, fields.stream().map(Field::name).collect(Collectors.joining(", ")));
      }
      return index;
    }

    private static String describe(TableChange change) {
      if (change instanceof TableChange.SetProperty set) {
        return "setting table property '" + set.property() + "'";
      }
      if (change instanceof TableChange.RemoveProperty remove) {
        return "removing table property '" + remove.property() + "'";
      }
      return change
          .getClass()
          .getSimpleName()
          .replaceAll("([a-z])([A-Z])", "$1 $2")
          .toLowerCase(Locale.ROOT);
    }
  }

  /** The ALTER as a writer of the protocol: stage = each source follows; record = the schema. */
  private static final class AlterWriter extends DdlWriter<Plan, List<String>> {
    private final HarnessContext catalog;
    private final Plan plan;

    AlterWriter(HarnessContext catalog, TableIdentifier table, TableVersion latest, Plan plan) {
      super(table, latest);
      this.catalog = catalog;
      this.plan = plan;
    }

    @Override
    public Optional<Plan> plan(TableVersion latest) {
      if (latest.schema().schemaId() != plan.baseSchemaId()) {
        throw new CommitConflictException(
            "Cannot alter %s: its schema changed since the statement was planned (schema %d, now"
                + " %d at version %d); run the statement again",
            table, plan.baseSchemaId(), latest.schema().schemaId(), latest.version());
      }
      if (latest.schema().fields().equals(plan.fields()) && plan.redefined().isEmpty()) {
        LOG.info("ALTER TABLE {} changes nothing at version {}", table, latest.version());
        return Optional.empty();
      }
      return Optional.of(plan);
    }

    @Override
    public String idempotencyKey(Plan batch) {
      return IdempotencyKeys.of(
          "alter:" + table,
          String.valueOf(batch.baseSchemaId()),
          batch.fields().toString(),
          batch.redefined().toString());
    }

    /** Each source follows the change; returns the sources changed, in order. */
    @Override
    public List<String> stage(Plan batch, LeaseKeeper locks) {
      TableVersion latest = catalog.store().readLatest(table);
      SchemaDiff diff =
          SchemaDiff.between(
              latest.schema(), new Schema(latest.schema().schemaId(), batch.fields()));
      List<String> applied = new ArrayList<>();
      if (diff.isEmpty()) {
        return applied;
      }
      // every source can hold the new defaults, before any source changes
      for (String id : sources()) {
        SourceDefinition source = batch.redefined().getOrDefault(id, latest.source(id));
        if (source.kind() == SourceKind.ICEBERG) {
          IcebergSources.checkDefaults(
              SparkSession.active(),
              catalog.connection(table, source),
              source,
              diff,
              table.toString());
        }
      }
      for (String id : sources()) {
        SourceDefinition source = batch.redefined().getOrDefault(id, latest.source(id));
        try {
          switch (source.kind()) {
            case ICEBERG ->
                IcebergSources.evolve(
                    SparkSession.active(), catalog.connection(table, source), source, diff);
            case JDBC -> PostgresSources.evolve(catalog.connection(table, source), source, diff);
            default -> {
              // Kafka JSON: a missing field reads as the column's default (or null), a wider type
              // decodes
              continue;
            }
          }
        } catch (RuntimeException e) {
          throw new HarnessException(
              e,
              "Cannot alter %s: source '%s' (%s) failed: %s. The harness schema is unchanged (still"
                  + " schema %d at version %d); sources already changed: %s. Fix the cause and run"
                  + " the same ALTER TABLE again to complete it",
              table,
              id,
              source.kind().id(),
              e.getMessage(),
              latest.schema().schemaId(),
              latest.version(),
              applied.isEmpty() ? "none" : applied);
        }
        applied.add(id);
      }
      return applied;
    }

    @Override
    public void record(Transaction transaction, Plan batch, List<String> applied) {
      transaction.setSchema(batch.baseSchemaId(), batch.fields());
      batch.redefined().values().forEach(transaction::redefineSource);
      transaction.summary("schema-change", describe(batch));
      if (!applied.isEmpty()) {
        transaction.summary("sources-altered", String.join(",", applied));
      }
    }

    @Override
    public void publish(Plan batch, List<String> applied, VersionInfo committed) {
      LOG.info(
          "Altered {} as version {} (schema {}): {}",
          table,
          committed.version(),
          committed.schemaId(),
          describe(batch));
    }

    @Override
    public String describe(Plan batch) {
      return batch.fields().stream()
          .map(
              f ->
                  f.name()
                      + " "
                      + f.type()
                      + (f.required() ? " NOT NULL" : "")
                      + (f.defaultValue() == null ? "" : " DEFAULT " + f.defaultValue()))
          .collect(Collectors.joining(", ", "columns (", ")"));
    }
  }
}
