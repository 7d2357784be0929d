package io.dataharness.spark.write;

import io.dataharness.metadata.HarnessException;
import io.dataharness.metadata.HarnessTable;
import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceState;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.source.IcebergSources;
import io.dataharness.spark.source.SourceUnavailableException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.stream.Collectors;
import org.apache.iceberg.SnapshotRef;
import org.apache.iceberg.Table;
import org.apache.iceberg.spark.source.SparkTable;
import org.apache.iceberg.util.SnapshotUtil;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes rows to an Iceberg source as a <b>staged</b> snapshot, which the harness records and only
 * then publishes to the table's {@code main} branch.
 *
 * <p>Staging uses a harness-owned branch ({@code harness-stage-<hash of the idempotency key>})
 * created at the snapshot the harness state records. Its head is invisible to plain Iceberg readers
 * (they read {@code main}) and is never an ancestor of {@code main} unless the harness commit that
 * records it succeeded: a failed harness commit leaves a snapshot that no later write builds on,
 * and whose branch the next write to the source removes, so snapshot expiry deletes it. A branch is
 * chosen over WAP ({@code write.wap.enabled} + {@code spark.wap.id}) because it is set per write
 * (no session configuration shared by concurrent jobs in one SparkSession) and changes no table
 * property.
 *
 * <p>Publishing tags the snapshot {@code harness-<harness table uuid>-v<version>} (so that Iceberg
 * snapshot expiry keeps what retained harness versions read; the uuid, not the name, so that the
 * tags of a table stay its own when it is renamed), moves {@code main} to it (a fast-forward when
 * {@code main} is its parent; a cherry-pick when someone else wrote to {@code main} meanwhile) and
 * drops the staging branch. Publishing is idempotent and is repeated by the next write when a job
 * stopped between its harness commit and its publish.
 */
public final class IcebergStaging {
  private static final Logger LOG = LoggerFactory.getLogger(IcebergStaging.class);

  /** Prefix of the staging branches the harness creates. */
  public static final String STAGE_PREFIX = "harness-stage-";

  /** Snapshot summary property: the idempotency key of the harness commit that stages it. */
  public static final String KEY_PROPERTY = "harness.idempotency-key";

  private static final String MAIN = SnapshotRef.MAIN_BRANCH;

  private final SparkSession spark;
  private final ConnectionConfig connection;
  private final SourceDefinition source;
  private final Table table;
  private final HarnessTable harness;

  private IcebergStaging(
      SparkSession spark,
      ConnectionConfig connection,
      SourceDefinition source,
      Table table,
      HarnessTable harness) {
    this.spark = spark;
    this.connection = connection;
    this.source = source;
    this.table = table;
    this.harness = harness;
  }

  /** Opens the Iceberg table of an iceberg source of {@code harness}. */
  public static IcebergStaging open(
      SparkSession spark,
      ConnectionConfig connection,
      SourceDefinition source,
      HarnessTable harness) {
    Identifier identifier = IcebergSources.identifier(source);
    try {
      Table table =
          ((SparkTable) IcebergSources.catalog(spark, connection).loadTable(identifier)).table();
      table.refresh();
      return new IcebergStaging(spark, connection, source, table, harness);
    } catch (org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
      throw new HarnessException(
          e,
          "Cannot write to source '%s': Iceberg table %s does not exist in catalog %s",
          source.id(),
          identifier,
          connection.sparkCatalog());
    } catch (HarnessException e) {
      throw e;
    } catch (RuntimeException e) {
      // the catalog's service (the JDBC catalog's database, a REST catalog, a metastore) failed
      throw new SourceUnavailableException(
          e,
          "Cannot load Iceberg table %s of source '%s' from catalog %s (connection '%s'): %s;"
              + " check that the catalog's service (spark.sql.catalog.%s.uri) runs and answers",
          identifier,
          source.id(),
          connection.sparkCatalog(),
          connection.name(),
          connection.scrub(String.valueOf(e.getMessage())),
          connection.sparkCatalog());
    }
  }

  public Table table() {
    return table;
  }

  /** A staged snapshot: its id and the rows it added. */
  public record Staged(long snapshotId, long addedRows, boolean reused) {}

  /** The tag that keeps the snapshot of a harness version. */
  public static String tagName(HarnessTable harnessTable, long version) {
    return tagPrefix(harnessTable) + version;
  }

  /**
   * What every harness tag of {@code harnessTable} starts with; the version number follows. Named
   * by the table's uuid, which a rename keeps.
   */
  public static String tagPrefix(HarnessTable harnessTable) {
    return "harness-" + harnessTable.uuid() + "-v";
  }

  /**
   * Makes sure {@code snapshotId}, which harness version {@code version} reads, carries that
   * version's tag; an expiry calls it for the oldest version it keeps before it removes older tags.
   * Returns true if it created the tag.
   */
  public boolean tagVersion(long snapshotId, long version) {
    String tag = tagName(harness, version);
    return updateRefs(
        () -> {
          if (table.refs().containsKey(tag)) {
            return false;
          }
          table.manageSnapshots().createTag(tag, snapshotId).commit();
          return true;
        });
  }

  /**
   * Removes this table's harness tags of versions before {@code oldestVersion} (after an expiry no
   * kept version reads them; {@link #tagVersion} keeps the snapshot of the oldest one), so that
   * Iceberg's own snapshot expiry can reclaim their snapshots. Returns the tags removed.
   */
  public List<String> removeTagsBefore(long oldestVersion) {
    String prefix = tagPrefix(harness);
    return updateRefs(
        () -> {
          List<String> removed = new ArrayList<>();
          for (Map.Entry<String, SnapshotRef> ref : table.refs().entrySet()) {
            String name = ref.getKey();
            if (ref.getValue().isTag() && name.startsWith(prefix)) {
              try {
                if (Long.parseLong(name.substring(prefix.length())) < oldestVersion) {
                  removed.add(name);
                }
              } catch (NumberFormatException e) {
                // not a harness version tag
              }
            }
          }
          if (!removed.isEmpty()) {
            var update = table.manageSnapshots();
            removed.forEach(update::removeTag);
            update.commit();
          }
          return removed;
        });
  }

  /**
   * Moves {@code main} back to {@code snapshotId}, which a rollback to an earlier harness version
   * recorded as harness version {@code version}, and tags it for that version. Later snapshots stay
   * (their versions' tags keep them for time travel). Returns true if {@code main} moved.
   */
  public boolean restoreMain(long snapshotId, long version) {
    tagVersion(snapshotId, version);
    return updateRefs(
        () -> {
          var main = table.currentSnapshot();
          if (main != null && main.snapshotId() == snapshotId) {
            return false;
          }
          LOG.warn(
              "Moving main of Iceberg table {} back to snapshot {} (harness version {} rolls back"
                  + " to it)",
              table.name(),
              snapshotId,
              version);
          table.manageSnapshots().setCurrentSnapshot(snapshotId).commit();
          return true;
        });
  }

  /** Drops the staging branch of {@code idempotencyKey}, if there is one. */
  public void discard(String idempotencyKey) {
    removeBranches(List.of(branchName(idempotencyKey)));
  }

  /** Removes the branches of {@code names} that exist. */
  private void removeBranches(List<String> names) {
    updateRefs(
        () -> {
          List<String> present = names.stream().filter(table.refs()::containsKey).toList();
          if (!present.isEmpty()) {
            var remove = table.manageSnapshots();
            present.forEach(remove::removeBranch);
            remove.commit();
          }
          return null;
        });
  }

  /**
   * Runs a change of the table's refs on fresh metadata, again when a concurrent commit (a writer
   * publishing under the source's lock, which expiry does not take) changed the table meanwhile:
   * Iceberg's ref updates do not rebase themselves.
   */
  private <T> T updateRefs(java.util.function.Supplier<T> change) {
    for (int attempt = 1; ; attempt++) {
      table.refresh();
      try {
        return change.get();
      } catch (org.apache.iceberg.exceptions.CommitFailedException e) {
        if (attempt >= 10) {
          throw e;
        }
        LOG.info(
            "Iceberg table {} changed during a ref update (attempt {}); retrying on fresh metadata",
            table.name(),
            attempt);
      }
    }
  }

  /** The staging branch of an idempotency key. */
  static String branchName(String idempotencyKey) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256")
              .digest(idempotencyKey.getBytes(StandardCharsets.UTF_8));
      return STAGE_PREFIX + HexFormat.of().formatHex(digest, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Makes {@code main} show what the harness state records: if a previous job committed a staged
   * snapshot to the harness but stopped before publishing it, publishes it now (tagging it for
   * {@code version}). Returns true if it had to publish.
   */
  public boolean ensurePublished(SourceState.Iceberg recorded, long version) {
    table.refresh();
    if (recorded.snapshotId().isEmpty() || isPublished(recorded.snapshotId().getAsLong())) {
      return false;
    }
    LOG.warn(
        "Iceberg table {} of source '{}': snapshot {} recorded by {} version {} was not published"
            + " to main (a job stopped after its harness commit); publishing it now",
        table.name(),
        source.id(),
        recorded.snapshotId().getAsLong(),
        harness.identifier(),
        version);
    publish(recorded.snapshotId().getAsLong(), version);
    return true;
  }

  /**
   * Removes staging branches of earlier writes that never reached a harness commit (so expiry can
   * delete their snapshots), except the one of {@code keepKey}. Call under the source's lock.
   */
  public void removeAbandonedStages(SourceState.Iceberg recorded, String keepKey) {
    table.refresh();
    String keep = keepKey == null ? null : branchName(keepKey);
    List<String> abandoned = new ArrayList<>();
    for (Map.Entry<String, SnapshotRef> ref : table.refs().entrySet()) {
      if (ref.getKey().startsWith(STAGE_PREFIX)
          && !ref.getKey().equals(keep)
          && !(recorded.snapshotId().isPresent()
              && ref.getValue().snapshotId() == recorded.snapshotId().getAsLong())) {
        abandoned.add(ref.getKey());
      }
    }
    if (!abandoned.isEmpty()) {
      removeBranches(abandoned);
      LOG.info(
          "Removed abandoned staging branches {} of Iceberg table {}", abandoned, table.name());
    }
  }

  /**
   * Stages {@code rows} (harness columns) as a snapshot on top of the recorded state. If a previous
   * attempt with the same key already staged them on top of the same state (it stopped before its
   * harness commit), that snapshot is reused instead of writing the rows again.
   */
  public Staged stage(
      Dataset<Row> rows,
      StructType harnessSchema,
      SourceState.Iceberg base,
      String idempotencyKey) {
    return stageWrite(
            base,
            idempotencyKey,
            branch -> {
              try {
                select(rows, harnessSchema)
                    .writeTo(branch)
                    .option("snapshot-property." + KEY_PROPERTY, idempotencyKey)
                    .option("fanout-enabled", "true")
                    .append();
              } catch (org.apache.spark.sql.catalyst.analysis.NoSuchTableException e) {
                throw new HarnessException(
                    e, "Cannot stage rows in Iceberg table %s: it disappeared", table.name());
              }
            })
        .orElseThrow(
            () ->
                new HarnessException(
                    "Cannot stage rows in Iceberg table %s for source '%s': the append committed"
                        + " no snapshot on its staging branch; was it changed concurrently? Nothing"
                        + " was committed to the harness",
                    table.name(), source.id()));
  }

  /**
   * Stages the result of one Spark SQL write (for example a {@code MERGE}) as a snapshot on top of
   * the recorded state, like {@link #stage}: {@code write} gets the quoted identifier of the
   * staging branch ({@code catalog.namespace.table.branch_<name>}) and must commit exactly one
   * snapshot to it. The snapshot carries the idempotency key; a previous attempt with the same key
   * that staged on top of the same state is reused instead of writing again.
   *
   * @return the staged snapshot, or empty when the write committed no snapshot (it changed nothing)
   */
  public Optional<Staged> stageWrite(
      SourceState.Iceberg base, String idempotencyKey, java.util.function.Consumer<String> write) {
    return stageOnBranch(base, idempotencyKey, branch -> write.accept(branchIdentifier(branch)));
  }

  /**
   * Like {@link #stageWrite}, for writes that address the branch by its Iceberg name (an Iceberg
   * action's {@code toBranch}): {@code write} gets the staging branch's name.
   */
  public Optional<Staged> stageOnBranch(
      SourceState.Iceberg base, String idempotencyKey, java.util.function.Consumer<String> write) {
    String branch = branchName(idempotencyKey);
    table.refresh();
    SnapshotRef existing = table.refs().get(branch);
    if (existing != null) {
      var head = table.snapshot(existing.snapshotId());
      Long parent = head.parentId();
      boolean sameBase =
          base.snapshotId().isPresent()
              ? parent != null && parent == base.snapshotId().getAsLong()
              : true;
      if (idempotencyKey.equals(head.summary().get(KEY_PROPERTY)) && sameBase) {
        LOG.info(
            "Reusing staged snapshot {} of Iceberg table {} for '{}'",
            head.snapshotId(),
            table.name(),
            idempotencyKey);
        return Optional.of(new Staged(head.snapshotId(), addedRows(head.summary()), true));
      }
      removeBranches(List.of(branch));
    }
    long started = System.nanoTime();
    updateRefs(
        () -> {
          var create = table.manageSnapshots();
          if (base.snapshotId().isPresent()) {
            create.createBranch(branch, base.snapshotId().getAsLong()).commit();
          } else {
            create.createBranch(branch).commit();
          }
          return null;
        });
    table.refresh();
    long branchBase = table.refs().get(branch).snapshotId();
    long branched = System.nanoTime();
    org.apache.iceberg.spark.CommitMetadata.withCommitProperties(
        Map.of(KEY_PROPERTY, idempotencyKey),
        () -> {
          write.accept(branch);
          return null;
        },
        RuntimeException.class);
    long written = System.nanoTime();
    table.refresh();
    var head = table.snapshot(table.refs().get(branch).snapshotId());
    if (head.snapshotId() == branchBase) {
      removeBranches(List.of(branch));
      LOG.info(
          "The write for '{}' changed nothing in Iceberg table {}; nothing staged",
          idempotencyKey,
          table.name());
      return Optional.empty();
    }
    if (!idempotencyKey.equals(head.summary().get(KEY_PROPERTY))) {
      throw new HarnessException(
          "Cannot stage rows in Iceberg table %s for source '%s': branch %s does not end in the"
              + " snapshot just written; was it changed concurrently? Nothing was committed to the"
              + " harness",
          table.name(), source.id(), branch);
    }
    LOG.info(
        "Staged snapshot {} ({} rows added) of Iceberg table {} on branch {} (branch created in {}"
            + " ms, written in {} ms)",
        head.snapshotId(),
        addedRows(head.summary()),
        table.name(),
        branch,
        (branched - started) / 1_000_000,
        (written - branched) / 1_000_000);
    return Optional.of(new Staged(head.snapshotId(), addedRows(head.summary()), false));
  }

  /**
   * Publishes a snapshot the harness recorded: tags it, moves {@code main} to it (fast-forward, or
   * cherry-pick when {@code main} moved on its own) and drops its staging branch. Idempotent.
   */
  public void publish(long snapshotId, long version) {
    String tag = tagName(harness, version);
    // the tag, main and the staging branch change in one Iceberg commit (a ManageSnapshots chain
    // is one table transaction), on fresh metadata and again if another writer (an expiry, a
    // user's own tag) changed the table meanwhile: each Iceberg commit costs a catalog round trip
    // and a metadata file, which a move would otherwise pay three times
    updateRefs(
        () -> {
          var update = table.manageSnapshots();
          boolean changed = false;
          if (!table.refs().containsKey(tag)) {
            update.createTag(tag, snapshotId);
            changed = true;
          }
          if (!isPublished(snapshotId)) {
            var main = table.currentSnapshot();
            if (main == null || SnapshotUtil.isAncestorOf(table, snapshotId, main.snapshotId())) {
              update.setCurrentSnapshot(snapshotId);
            } else {
              LOG.warn(
                  "Main of Iceberg table {} moved outside the harness (now {}); cherry-picking"
                      + " snapshot {} onto it",
                  table.name(),
                  main.snapshotId(),
                  snapshotId);
              update.cherrypick(snapshotId);
            }
            changed = true;
          }
          List<String> stages =
              table.refs().entrySet().stream()
                  .filter(e -> e.getKey().startsWith(STAGE_PREFIX))
                  .filter(e -> e.getValue().snapshotId() == snapshotId)
                  .map(Map.Entry::getKey)
                  .collect(Collectors.toList());
          stages.forEach(update::removeBranch);
          if (changed || !stages.isEmpty()) {
            update.commit();
          }
          return null;
        });
    LOG.info(
        "Published snapshot {} of Iceberg table {} to main (tag {})",
        snapshotId,
        table.name(),
        tag);
  }

  /** True when {@code main} contains the snapshot: it or a cherry-picked copy is an ancestor. */
  public boolean isPublished(long snapshotId) {
    var main = table.currentSnapshot();
    if (main == null) {
      return false;
    }
    if (SnapshotUtil.isAncestorOf(table, main.snapshotId(), snapshotId)) {
      return true;
    }
    String id = String.valueOf(snapshotId);
    long stagedAt =
        table.snapshot(snapshotId) == null ? 0 : table.snapshot(snapshotId).timestampMillis();
    for (var ancestor : SnapshotUtil.ancestorsOf(main.snapshotId(), table::snapshot)) {
      if (id.equals(ancestor.summary().get("source-snapshot-id"))) {
        return true;
      }
      if (ancestor.timestampMillis() < stagedAt) {
        return false;
      }
    }
    return false;
  }

  /** The rows in harness columns, renamed and cast to the Iceberg table's own columns. */
  private Dataset<Row> select(Dataset<Row> rows, StructType harnessSchema) {
    org.apache.iceberg.Schema icebergSchema = table.schema();
    List<Column> columns = new ArrayList<>();
    for (StructField field : harnessSchema.fields()) {
      String target = source.sourceColumn(field.name());
      var icebergField = icebergSchema.caseInsensitiveFindField(target);
      if (icebergField == null) {
        throw new HarnessException(
            "Cannot write to source '%s': Iceberg table %s has no column %s for harness column %s",
            source.id(), table.name(), target, field.name());
      }
      columns.add(
          rows.col("`" + field.name() + "`")
              .cast(org.apache.iceberg.spark.SparkSchemaUtil.convert(icebergField.type()))
              .as(icebergField.name()));
    }
    return rows.select(columns.toArray(Column[]::new));
  }

  private String branchIdentifier(String branch) {
    Identifier identifier = IcebergSources.identifier(source);
    StringBuilder name = new StringBuilder(quote(connection.sparkCatalog()));
    for (String part : identifier.namespace()) {
      name.append('.').append(quote(part));
    }
    return name.append('.')
        .append(quote(identifier.name()))
        .append('.')
        .append(quote("branch_" + branch))
        .toString();
  }

  private static String quote(String part) {
    return "`" + part.replace("`", "``") + "`";
  }

  static long addedRows(Map<String, String> summary) {
    return Optional.ofNullable(summary.get("added-records")).map(Long::parseLong).orElse(0L);
  }

  /** The snapshot a state records, for messages. */
  static String describe(OptionalLong snapshot) {
    return snapshot.isPresent() ? String.valueOf(snapshot.getAsLong()) : "empty";
  }
}
