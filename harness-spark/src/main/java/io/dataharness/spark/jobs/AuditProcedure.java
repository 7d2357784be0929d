package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.spark.audit.AuditReport;
import io.dataharness.spark.audit.Violation;
import io.dataharness.spark.conf.HarnessContext;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.connector.catalog.procedures.ProcedureParameter;
import org.apache.spark.sql.connector.read.LocalScan;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * {@code CALL <catalog>.system.audit(table => 'ns.t', lease => '30 seconds')}: one row per
 * violation (check, severity, source, versions, detail); no rows when the table is healthy.
 */
final class AuditProcedure extends HarnessProcedures.Procedure {
  static final String NAME = "audit";

  private static final StructType OUTPUT =
      new StructType()
          .add("check", DataTypes.StringType, false)
          .add("severity", DataTypes.StringType, false)
          .add("source", DataTypes.StringType, false)
          .add("versions", DataTypes.createArrayType(DataTypes.LongType, false), false)
          .add("detail", DataTypes.StringType, false);

  private final HarnessContext catalog;

  AuditProcedure(HarnessContext catalog) {
    super(
        NAME,
        "Checks a harness table's invariants over its history and its sources' own records and"
            + " returns one row per violation",
        new ProcedureParameter[] {
          ProcedureParameter.in("table", DataTypes.StringType).build(),
          ProcedureParameter.in("lease", DataTypes.StringType).defaultValue("NULL").build()
        });
    this.catalog = catalog;
  }

  @Override
  Iterator<Scan> run(InternalRow input) {
    TableIdentifier table = TableIdentifier.parse(input.getUTF8String(0).toString());
    var lease =
        input.isNullAt(1)
            ? null
            : JobArguments.interval(
                "call system.audit", "lease", input.getUTF8String(1).toString(), true);
    AuditReport report = AuditJob.run(SparkSession.active(), catalog, table, lease);
    InternalRow[] rows =
        report.violations().stream().map(AuditProcedure::row).toArray(InternalRow[]::new);
    LocalScan scan =
        new LocalScan() {
          @Override
          public StructType readSchema() {
            return OUTPUT;
          }

          @Override
          public InternalRow[] rows() {
            return rows;
          }
        };
    return List.<Scan>of(scan).iterator();
  }

  private static InternalRow row(Violation violation) {
    return new GenericInternalRow(
        new Object[] {
          UTF8String.fromString(violation.check().id()),
          UTF8String.fromString(violation.severity().id()),
          UTF8String.fromString(violation.source()),
          new GenericArrayData(violation.versions().stream().mapToLong(Long::longValue).toArray()),
          UTF8String.fromString(violation.detail())
        });
  }
}
