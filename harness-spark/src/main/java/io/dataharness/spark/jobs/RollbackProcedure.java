package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import java.util.Iterator;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.connector.catalog.procedures.ProcedureParameter;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * {@code CALL <catalog>.system.rollback_to_version(table => 'ns.t', version => 12)}: see {@link
 * Rollback}. One row: the new version, the version restored, the sources whose states changed and
 * whether it was a replay.
 */
final class RollbackProcedure extends HarnessProcedures.Procedure {
  static final String NAME = "rollback_to_version";
  private static final StructType OUTPUT =
      new StructType()
          .add("version", DataTypes.LongType, false)
          .add("rolled_back_to", DataTypes.LongType, false)
          .add("restored_sources", DataTypes.createArrayType(DataTypes.StringType, false), false)
          .add("replayed", DataTypes.BooleanType, false);

  private final HarnessContext catalog;

  RollbackProcedure(HarnessContext catalog) {
    super(
        NAME,
        "Commits a new version that restores an earlier version's source states where the"
            + " sources still hold them",
        new ProcedureParameter[] {
          ProcedureParameter.in("table", DataTypes.StringType).build(),
          ProcedureParameter.in("version", DataTypes.LongType).build()
        });
    this.catalog = catalog;
  }

  @Override
  Iterator<Scan> run(InternalRow input) {
    String tableName = string(input, 0);
    if (tableName == null || input.isNullAt(1)) {
      throw new ValidationException(
          "Cannot roll back: table and version are required, as in CALL"
              + " <catalog>.system.rollback_to_version(table => 'ns.t', version => 12)");
    }
    TableIdentifier table = TableIdentifier.parse(tableName);
    long version = input.getLong(1);
    if (version < 1) {
      throw new ValidationException(
          "Cannot roll %s back: version '%d' is not a version; versions are numbered from 1, name"
              + " one listed by SELECT version FROM <catalog>.%s.versions",
          table, version, table);
    }
    Rollback.Result result = Rollback.run(SparkSession.active(), catalog, table, version);
    return result(
        OUTPUT,
        result.version(),
        result.rolledBackTo(),
        new GenericArrayData(result.restored().stream().map(UTF8String::fromString).toArray()),
        result.replayed());
  }
}
