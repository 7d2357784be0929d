package io.dataharness.spark.jobs;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.source.PostgresSources;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.connector.catalog.procedures.ProcedureParameter;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * {@code CALL <catalog>.system.register_source(table => 'ns.t', source => 'warm')}: registers a
 * PostgreSQL source's table again after an application changed its columns directly (not through
 * {@code ALTER TABLE} on the harness table), so that its history table and versioning trigger
 * follow the table's columns again. Idempotent; commits no version (the harness schema is not
 * changed: add the column to the harness table with {@code ALTER TABLE ... ADD COLUMN} to read it).
 */
final class RegisterSourceProcedure extends HarnessProcedures.Procedure {
  static final String NAME = "register_source";
  private static final StructType OUTPUT =
      new StructType()
          .add("source", DataTypes.StringType, false)
          .add("table", DataTypes.StringType, false)
          .add("columns", DataTypes.createArrayType(DataTypes.StringType, false), false);

  private final HarnessContext catalog;

  RegisterSourceProcedure(HarnessContext catalog) {
    super(
        NAME,
        "Registers a PostgreSQL source's table again so that its history table and trigger"
            + " follow columns an application changed directly",
        new ProcedureParameter[] {
          ProcedureParameter.in("table", DataTypes.StringType).build(),
          ProcedureParameter.in("source", DataTypes.StringType).build()
        });
    this.catalog = catalog;
  }

  @Override
  Iterator<Scan> run(InternalRow input) {
    String tableName = string(input, 0);
    String sourceId = string(input, 1);
    if (tableName == null || sourceId == null) {
      throw new ValidationException(
          "Cannot register a source: table and source are required, as in CALL"
              + " <catalog>.system.register_source(table => 'ns.t', source => 'warm')");
    }
    TableIdentifier table = TableIdentifier.parse(tableName);
    TableVersion latest = catalog.store().readLatest(table);
    SourceDefinition source = latest.source(sourceId);
    if (source.kind() != SourceKind.JDBC) {
      throw new ValidationException(
          "Cannot register source '%s' of %s again: it is a %s source, which has nothing"
              + " installed to follow its columns; only jdbc (PostgreSQL) sources are registered"
              + " again",
          sourceId, table, source.kind().id());
    }
    var connection = catalog.connection(table, source);
    PostgresSources.register(connection, source, latest.schema());
    List<String> columns = PostgresSources.sourceColumns(connection, source);
    return result(
        OUTPUT,
        UTF8String.fromString(sourceId),
        UTF8String.fromString(source.option("table").orElse("")),
        new GenericArrayData(columns.stream().map(UTF8String::fromString).toArray()));
  }
}
