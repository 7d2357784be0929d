package io.dataharness.spark.jobs;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.NoSuchSourceException;
import io.dataharness.metadata.NoSuchTableException;
import io.dataharness.metadata.SourceLock;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.ValidationException;
import java.util.Iterator;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.catalog.procedures.ProcedureParameter;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * {@code CALL <catalog>.system.unlock(table => 'ns.t', source => 'id')}: for operators, breaks a
 * source's lock through {@link HarnessStore#breakLock}, so a rerun does not wait for the lease of a
 * holder known to be dead. The old holder is fenced: its commits and renewals fail.
 */
final class UnlockProcedure extends HarnessProcedures.Procedure {
  static final String NAME = "unlock";
  private static final StructType OUTPUT =
      new StructType()
          .add("table", DataTypes.StringType, false)
          .add("source", DataTypes.StringType, false)
          .add("previous_owner", DataTypes.StringType, true)
          .add("previous_fencing_token", DataTypes.LongType, true)
          .add("was_held", DataTypes.BooleanType, false);

  private final HarnessStore store;

  UnlockProcedure(HarnessStore store) {
    super(
        NAME,
        "Breaks the lock on a source of a harness table now, fencing its holder; for a holder"
            + " known to be dead",
        new ProcedureParameter[] {
          ProcedureParameter.in("table", DataTypes.StringType).build(),
          ProcedureParameter.in("source", DataTypes.StringType).build()
        });
    this.store = store;
  }

  @Override
  Iterator<Scan> run(InternalRow input) {
    String tableName = string(input, 0);
    String sourceId = string(input, 1);
    if (tableName == null || sourceId == null) {
      throw new ValidationException(
          "Cannot unlock: table and source are required, as in CALL <catalog>.system.unlock(table"
              + " => 'ns.t', source => 'id')");
    }
    TableIdentifier table = TableIdentifier.parse(tableName);
    if (!store.tableExists(table)) {
      throw new NoSuchTableException(
          "Cannot unlock source '%s' of %s: the table does not exist", sourceId, table);
    }
    Set<String> sources = new TreeSet<>(store.readLatest(table).sources().keySet());
    if (!sources.contains(sourceId)) {
      throw new NoSuchSourceException(
          "Cannot unlock source '%s' of %s: the table has no such source; its sources are %s",
          sourceId, table, sources);
    }
    Optional<SourceLock> broken = store.breakLock(table, sourceId);
    return result(
        OUTPUT,
        UTF8String.fromString(table.toString()),
        UTF8String.fromString(sourceId),
        broken.map(lock -> UTF8String.fromString(lock.owner())).orElse(null),
        broken.map(SourceLock::fencingToken).orElse(null),
        broken.isPresent());
  }
}
