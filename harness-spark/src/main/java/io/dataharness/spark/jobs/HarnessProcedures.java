package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.procedures.BoundProcedure;
import org.apache.spark.sql.connector.catalog.procedures.ProcedureParameter;
import org.apache.spark.sql.connector.catalog.procedures.UnboundProcedure;
import org.apache.spark.sql.connector.read.LocalScan;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The SQL procedures of a harness catalog, in its namespace {@code system}:
 *
 * <ul>
 *   <li>{@code CALL <catalog>.system.move(table => 'ns.t', source => 'a', target => 'b', max_rows
 *       => 1000, older_than => '10 minutes')}: one row (version, rows_moved, replayed, duration_ms,
 *       target_snapshot_id, moved); see {@link Move};
 *   <li>{@code CALL <catalog>.system.sync(table => 'ns.t')}: one row (version, sources_synced,
 *       replayed, skipped, synced), with replayed always false; see {@link Sync};
 *   <li>{@code CALL <catalog>.system.unlock(table => 'ns.t', source => 'id')}: one row (table,
 *       source, previous_owner, previous_fencing_token, was_held); see {@link UnlockProcedure};
 *   <li>{@code CALL <catalog>.system.audit(table => 'ns.t')}: one row per violation (check,
 *       severity, source, versions, detail), see {@link AuditProcedure};
 *   <li>{@code CALL <catalog>.system.expire_versions(table => 'ns.t', older_than => '7 days',
 *       retain_last => 1)}: one row (what was removed), see {@link ExpireProcedure};
 *   <li>{@code CALL <catalog>.system.compact(table => 'ns.t', source => 'cold')}: one row (what was
 *       rewritten), see {@link CompactProcedure}.
 * </ul>
 */
public final class HarnessProcedures {
  static final String NAMESPACE = "system";

  private HarnessProcedures() {}

  public static Identifier[] list(String[] namespace) {
    if (namespace.length != 1 || !namespace[0].equalsIgnoreCase(NAMESPACE)) {
      return new Identifier[0];
    }
    return new Identifier[] {
      Identifier.of(new String[] {NAMESPACE}, "move"),
      Identifier.of(new String[] {NAMESPACE}, "sync"),
      Identifier.of(new String[] {NAMESPACE}, UnlockProcedure.NAME),
      Identifier.of(new String[] {NAMESPACE}, AuditProcedure.NAME),
      Identifier.of(new String[] {NAMESPACE}, ExpireProcedure.NAME),
      Identifier.of(new String[] {NAMESPACE}, CompactProcedure.NAME),
      Identifier.of(new String[] {NAMESPACE}, RegisterSourceProcedure.NAME),
      Identifier.of(new String[] {NAMESPACE}, RollbackProcedure.NAME)
    };
  }

  public static UnboundProcedure load(HarnessContext catalog, Identifier identifier) {
    if (identifier.namespace().length == 1
        && identifier.namespace()[0].equalsIgnoreCase(NAMESPACE)) {
      switch (identifier.name().toLowerCase(Locale.ROOT)) {
        case "move":
          return new Move(catalog).in(catalog.name());
        case "sync":
          return new Sync(catalog).in(catalog.name());
        case UnlockProcedure.NAME:
          return new UnlockProcedure(catalog.store()).in(catalog.name());
        case AuditProcedure.NAME:
          return new AuditProcedure(catalog).in(catalog.name());
        case ExpireProcedure.NAME:
          return new ExpireProcedure(catalog).in(catalog.name());
        case CompactProcedure.NAME:
          return new CompactProcedure(catalog).in(catalog.name());
        case RegisterSourceProcedure.NAME:
          return new RegisterSourceProcedure(catalog).in(catalog.name());
        case RollbackProcedure.NAME:
          return new RollbackProcedure(catalog).in(catalog.name());
        default:
          break;
      }
    }
    throw ProcedureErrors.procedureNotFound(
        catalog.name() + "." + String.join(".", identifier.namespace()) + "." + identifier.name(),
        new ValidationException(
            "Cannot find procedure %s.%s in catalog %s: it has system.move, system.sync,"
                + " system.unlock, system.audit, system.expire_versions, system.compact,"
                + " system.register_source and system.rollback_to_version",
            String.join(".", identifier.namespace()), identifier.name(), catalog.name()));
  }

  /** A procedure that returns what it did as rows: its name, description and parameters. */
  abstract static class Procedure implements UnboundProcedure, BoundProcedure {
    private String catalogName = "";
    private final String name;
    private final String description;
    private final ProcedureParameter[] parameters;

    Procedure(String name, String description, ProcedureParameter[] parameters) {
      this.name = name;
      this.description = description;
      this.parameters = parameters;
    }

    @Override
    public final String name() {
      return name;
    }

    @Override
    public final String description() {
      return description;
    }

    @Override
    public final ProcedureParameter[] parameters() {
      return parameters.clone();
    }

    @Override
    public BoundProcedure bind(StructType inputType) {
      return this;
    }

    /** Names the catalog in errors ({@code harness.system.move}). */
    Procedure in(String catalog) {
      this.catalogName = catalog;
      return this;
    }

    /**
     * Runs {@link #run}; a user error surfaces as Spark's {@code AnalysisException} (see {@link
     * ProcedureErrors}).
     */
    @Override
    public final Iterator<Scan> call(InternalRow input) {
      try {
        return run(input);
      } catch (RuntimeException e) {
        String table =
            parameters.length > 0 && parameters[0].name().equals("table") && !input.isNullAt(0)
                ? input.getUTF8String(0).toString()
                : null;
        String[] names =
            java.util.Arrays.stream(parameters)
                .map(ProcedureParameter::name)
                .toArray(String[]::new);
        throw ProcedureErrors.of(catalogName, name, table, names, e);
      }
    }

    /** What the procedure does, with its arguments in declaration order. */
    abstract Iterator<Scan> run(InternalRow input);

    @Override
    public boolean isDeterministic() {
      return false;
    }

    static String string(InternalRow input, int ordinal) {
      return input.isNullAt(ordinal) ? null : input.getUTF8String(ordinal).toString();
    }

    static Iterator<Scan> result(StructType schema, Object... values) {
      InternalRow row = new GenericInternalRow(values);
      LocalScan scan =
          new LocalScan() {
            @Override
            public StructType readSchema() {
              return schema;
            }

            @Override
            public InternalRow[] rows() {
              return new InternalRow[] {row};
            }
          };
      return List.<Scan>of(scan).iterator();
    }
  }

  /**
   * {@code move}: one batch, one row. {@code version}: the version that recorded it (the latest
   * when nothing moved); {@code rows_moved}; {@code replayed}: the batch had been committed by an
   * earlier run; {@code duration_ms}; {@code target_snapshot_id}: the Iceberg snapshot the target
   * now names (null unless the target is Iceberg and rows moved); {@code moved}: what the batch
   * covered, the Kafka offset ranges or the PostgreSQL bounds (null when nothing moved). Arguments
   * are checked before anything runs: {@code max_rows} must be positive, {@code older_than} an
   * interval of zero or more.
   */
  private static final class Move extends Procedure {
    private static final StructType OUTPUT =
        new StructType()
            .add("version", DataTypes.LongType, false)
            .add("rows_moved", DataTypes.LongType, false)
            .add("replayed", DataTypes.BooleanType, false)
            .add("duration_ms", DataTypes.LongType, false)
            .add("target_snapshot_id", DataTypes.LongType, true)
            .add("moved", DataTypes.StringType, true);
    private final HarnessContext catalog;

    Move(HarnessContext catalog) {
      super(
          "move",
          "Moves one batch of rows of a harness table from one source to another and commits"
              + " both states in one version",
          new ProcedureParameter[] {
            ProcedureParameter.in("table", DataTypes.StringType).build(),
            ProcedureParameter.in("source", DataTypes.StringType).build(),
            ProcedureParameter.in("target", DataTypes.StringType).build(),
            ProcedureParameter.in("max_rows", DataTypes.LongType).defaultValue("NULL").build(),
            ProcedureParameter.in("older_than", DataTypes.StringType).defaultValue("NULL").build(),
            ProcedureParameter.in("owner", DataTypes.StringType).defaultValue("NULL").build()
          });
      this.catalog = catalog;
    }

    @Override
    Iterator<Scan> run(InternalRow input) {
      MoveRequest request =
          MoveJob.request(
              string(input, 0),
              string(input, 1),
              string(input, 2),
              input.isNullAt(3) ? null : input.getLong(3),
              string(input, 4),
              string(input, 5));
      MoveResult result = MoveJob.run(SparkSession.active(), catalog, request);
      String moved = result.moved();
      return result(
          OUTPUT,
          result.version(),
          result.rowsMoved(),
          result.replayed(),
          result.duration().toMillis(),
          result.targetSnapshotId().isPresent() ? result.targetSnapshotId().getAsLong() : null,
          moved == null ? null : UTF8String.fromString(moved));
    }
  }

  /**
   * {@code sync}: one row. {@code version}: the version that recorded the new states (the latest
   * when nothing changed); {@code sources_synced}: how many sources advanced; {@code replayed}:
   * always false; {@code skipped}: the sources left out because another job held their lock or an
   * open intent; {@code synced}: the ids of the sources that advanced.
   */
  private static final class Sync extends Procedure {
    private static final StructType OUTPUT =
        new StructType()
            .add("version", DataTypes.LongType, false)
            .add("sources_synced", DataTypes.IntegerType, false)
            .add("replayed", DataTypes.BooleanType, false)
            .add("skipped", DataTypes.createArrayType(DataTypes.StringType, false), false)
            .add("synced", DataTypes.createArrayType(DataTypes.StringType, false), false);
    private final HarnessContext catalog;

    Sync(HarnessContext catalog) {
      super(
          "sync",
          "Records the Kafka end offsets and PostgreSQL read timestamps of a harness table's"
              + " sources in one version",
          new ProcedureParameter[] {ProcedureParameter.in("table", DataTypes.StringType).build()});
      this.catalog = catalog;
    }

    @Override
    Iterator<Scan> run(InternalRow input) {
      SyncResult result = SyncJob.run(catalog, TableIdentifier.parse(string(input, 0)));
      return result(
          OUTPUT,
          result.version(),
          result.sourcesSynced().size(),
          false,
          strings(result.skipped()),
          strings(result.sourcesSynced()));
    }

    private static ArrayData strings(List<String> values) {
      return new GenericArrayData(values.stream().map(UTF8String::fromString).toArray());
    }
  }
}
