package io.dataharness.spark.jobs;

import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.MapData;
import org.apache.spark.sql.connector.catalog.procedures.ProcedureParameter;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code CALL <catalog>.system.compact(table => 'ns.t', source => 'cold', options =>
 * map('min-input-files', '2'))}: see {@link CompactJob}. {@code options} are Iceberg's {@code
 * rewrite_data_files} options. One row says what was rewritten.
 */
final class CompactProcedure extends HarnessProcedures.Procedure {
  static final String NAME = "compact";
  private static final StructType OUTPUT =
      new StructType()
          .add("version", DataTypes.LongType, false)
          .add("compacted", DataTypes.BooleanType, false)
          .add("rewritten_files", DataTypes.LongType, false)
          .add("added_files", DataTypes.LongType, false)
          .add("rewritten_bytes", DataTypes.LongType, false)
          .add("snapshot_id", DataTypes.LongType, true)
          .add("replayed", DataTypes.BooleanType, false)
          .add("duration_ms", DataTypes.LongType, false);

  private final HarnessContext catalog;

  CompactProcedure(HarnessContext catalog) {
    super(
        NAME,
        "Rewrites the small files of an Iceberg source under its lock and records the result in"
            + " one version",
        new ProcedureParameter[] {
          ProcedureParameter.in("table", DataTypes.StringType).build(),
          ProcedureParameter.in("source", DataTypes.StringType).build(),
          ProcedureParameter.in(
                  "options", DataTypes.createMapType(DataTypes.StringType, DataTypes.StringType))
              .defaultValue("NULL")
              .build(),
          ProcedureParameter.in("owner", DataTypes.StringType).defaultValue("NULL").build()
        });
    this.catalog = catalog;
  }

  @Override
  Iterator<Scan> run(InternalRow input) {
    String tableName = string(input, 0);
    String source = string(input, 1);
    if (tableName == null || source == null) {
      throw new ValidationException(
          "Cannot compact: table and source are required, as in CALL"
              + " <catalog>.system.compact(table => 'ns.t', source => 'cold')");
    }
    Map<String, String> options = new TreeMap<>();
    if (!input.isNullAt(2)) {
      MapData map = input.getMap(2);
      for (int i = 0; i < map.numElements(); i++) {
        options.put(
            map.keyArray().getUTF8String(i).toString(),
            map.valueArray().isNullAt(i) ? null : map.valueArray().getUTF8String(i).toString());
      }
    }
    CompactJob.Result result =
        CompactJob.run(
            SparkSession.active(),
            catalog,
            TableIdentifier.parse(tableName),
            source,
            options,
            string(input, 3));
    return result(
        OUTPUT,
        result.version(),
        result.compacted(),
        result.rewrittenFiles(),
        result.addedFiles(),
        result.rewrittenBytes(),
        result.snapshotId(),
        result.replayed(),
        result.durationMs());
  }
}
