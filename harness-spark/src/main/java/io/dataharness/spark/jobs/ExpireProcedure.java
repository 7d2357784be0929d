package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import java.time.Instant;
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
 * {@code CALL <catalog>.system.expire_versions(table => 'ns.t', older_than => TIMESTAMP '2026-11-01
 * 00:00:00', retain_last => 10)}: see {@link ExpireJob}. {@code older_than} is a TIMESTAMP (a
 * cut-off, as in Iceberg's procedures) or an interval string such as {@code '7 days'} (an age);
 * default 5 days. {@code retain_last} (default 1) keeps at least that many versions. One row says
 * what was removed.
 */
final class ExpireProcedure extends HarnessProcedures.Procedure {
  static final String NAME = "expire_versions";
  private static final StructType OUTPUT =
      new StructType()
          .add("oldest_version", DataTypes.LongType, false)
          .add("versions_removed", DataTypes.LongType, false)
          .add("state_records_removed", DataTypes.LongType, false)
          .add("tags_removed", DataTypes.IntegerType, false)
          .add("history_rows_removed", DataTypes.LongType, false)
          .add("skipped", DataTypes.createArrayType(DataTypes.StringType, false), false)
          .add("duration_ms", DataTypes.LongType, false);

  private final HarnessContext catalog;

  ExpireProcedure(HarnessContext catalog) {
    super(
        NAME,
        "Removes the versions of a harness table outside a retention and releases what only"
            + " they held (Iceberg tags, PostgreSQL history)",
        new ProcedureParameter[] {
          ProcedureParameter.in("table", DataTypes.StringType).build(),
          ProcedureParameter.in("older_than", DataTypes.StringType).defaultValue("NULL").build(),
          ProcedureParameter.in("retain_last", DataTypes.LongType).defaultValue("NULL").build()
        });
    this.catalog = catalog;
  }

  @Override
  Iterator<Scan> run(InternalRow input) {
    String tableName = string(input, 0);
    if (tableName == null) {
      throw new ValidationException(
          "Cannot expire versions: table is required, as in CALL <catalog>.system.expire_versions("
              + "table => 'ns.t', older_than => '7 days')");
    }
    SparkSession spark = SparkSession.active();
    TableIdentifier table = TableIdentifier.parse(tableName);
    int retainLast =
        ExpireJob.retainLast(table, "retain_last", input.isNullAt(2) ? null : input.getLong(2));
    Instant cutoff =
        ExpireJob.cutoff(
            table, "older_than", string(input, 1), Instant.now(), JobArguments.sessionZone(spark));
    ExpireResult result = ExpireJob.run(spark, catalog, table, cutoff, retainLast);
    return result(
        OUTPUT,
        result.oldestVersion(),
        result.versionsRemoved(),
        result.stateRecordsRemoved(),
        result.tagCount(),
        result.historyRowCount(),
        new GenericArrayData(result.skippedList().stream().map(UTF8String::fromString).toArray()),
        result.durationMs());
  }
}
