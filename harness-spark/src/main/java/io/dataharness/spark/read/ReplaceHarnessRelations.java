package io.dataharness.spark.read;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.expressions.Alias;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.Cast;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Project;
import org.apache.spark.sql.catalyst.plans.logical.SubqueryAlias;
import org.apache.spark.sql.catalyst.plans.logical.Union;
import org.apache.spark.sql.catalyst.rules.Rule;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractPartialFunction;

/**
 * Replaces each harness table relation with a union of its sources' native relations (see {@link
 * NativeRelations}). It runs as an optimizer rule, after the whole query (including DataFrame
 * operations that reference metadata columns) was analyzed, and before Spark pushes filters and
 * column pruning into scans, so every branch gets them. Sources whose partition filter contradicts
 * the query's filters are left out before any is opened. The result keeps the replaced relation's
 * attribute ids, so the rest of the plan is unchanged; the optimizer then pushes filters and column
 * pruning into every branch.
 *
 * <p>Disabled with the session setting {@code spark.dataharness.read.native-union=false}, which
 * leaves the plain DataSource V2 scan in place.
 */
public final class ReplaceHarnessRelations extends Rule<LogicalPlan> {
  public static final String ENABLED = "spark.dataharness.read.native-union";
  private static final Logger LOG = LoggerFactory.getLogger(ReplaceHarnessRelations.class);

  private final SparkSession session;

  public ReplaceHarnessRelations(SparkSession session) {
    this.session = session;
  }

  @Override
  public LogicalPlan apply(LogicalPlan plan) {
    if (!Boolean.parseBoolean(session.conf().get(ENABLED, "true"))) {
      return plan;
    }
    Map<DataSourceV2Relation, List<Expression>> filters = new IdentityHashMap<>();
    collectFilters(plan, filters);
    return plan.transformUp(
        new AbstractPartialFunction<LogicalPlan, LogicalPlan>() {
          @Override
          public boolean isDefinedAt(LogicalPlan node) {
            return node instanceof DataSourceV2Relation relation
                && relation.table() instanceof HarnessSparkTable;
          }

          @Override
          public LogicalPlan apply(LogicalPlan node) {
            DataSourceV2Relation relation = (DataSourceV2Relation) node;
            return rewrite(relation, filters.getOrDefault(relation, List.of()));
          }
        });
  }

  /** The conjuncts of filters directly above each harness relation (through aliases). */
  private static void collectFilters(
      LogicalPlan plan, Map<DataSourceV2Relation, List<Expression>> filters) {
    if (plan instanceof Filter filter) {
      LogicalPlan child = filter.child();
      while (child instanceof SubqueryAlias alias) {
        child = alias.child();
      }
      if (child instanceof DataSourceV2Relation relation
          && relation.table() instanceof HarnessSparkTable) {
        filters
            .computeIfAbsent(relation, key -> new ArrayList<>())
            .addAll(conjuncts(filter.condition()));
      }
    }
    for (LogicalPlan child : CollectionConverters.asJava(plan.children())) {
      collectFilters(child, filters);
    }
  }

  private static List<Expression> conjuncts(Expression condition) {
    if (condition instanceof org.apache.spark.sql.catalyst.expressions.And and) {
      List<Expression> all = new ArrayList<>(conjuncts(and.left()));
      all.addAll(conjuncts(and.right()));
      return all;
    }
    return List.of(condition);
  }

  /**
   * The conjuncts that may prune the sources of the dedup view: its filters apply to the latest
   * image of each key, so a source whose images fail a filter may still hold the image that hides
   * an older, matching one elsewhere. Only a filter on the key alone holds for every image of a key
   * alike.
   */
  private static List<Expression> onPrimaryKey(List<Expression> conjuncts, List<String> key) {
    return conjuncts.stream()
        .filter(Expression::deterministic)
        .filter(
            conjunct ->
                CollectionConverters.asJava(conjunct.references().toSeq()).stream()
                    .allMatch(
                        attribute -> key.stream().anyMatch(attribute.name()::equalsIgnoreCase)))
        .toList();
  }

  private LogicalPlan rewrite(DataSourceV2Relation relation, List<Expression> conjuncts) {
    HarnessSparkTable table = (HarnessSparkTable) relation.table();
    List<SourceRead> reads = table.plan(relation.options());
    List<Expression> pruning =
        table.isLatestImages()
            ? onPrimaryKey(conjuncts, table.definition().primaryKey())
            : conjuncts;
    List<SourceRead> kept =
        reads.stream()
            .filter(read -> SourcePruning.mayMatch(read, pruning))
            .map(ReadPlanner::resolve)
            .toList();
    List<LogicalPlan> branches = new ArrayList<>();
    for (SourceRead read : kept) {
      branches.add(NativeRelations.plan(session, read));
    }
    if (branches.isEmpty()) {
      StructType schema = reads.isEmpty() ? table.schema() : reads.get(0).schema();
      branches.add(NativeRelations.empty(session, schema).queryExecution().optimizedPlan());
    }
    LogicalPlan union =
        branches.size() == 1
            ? branches.get(0)
            : new Union(CollectionConverters.asScala(branches).toSeq(), false, false);
    if (table.isLatestImages()) {
      union = LatestImages.plan(session, table, union, reads);
    }
    LOG.info(
        "DataHarness reads {} version {} as a union of native relations: {}{}",
        table.identifier(),
        reads.isEmpty() ? table.tableVersion().version() : reads.get(0).version(),
        kept.stream().map(Describe::read).collect(Collectors.joining("; ")),
        kept.size() == reads.size()
            ? ""
            : " (pruned by partition filter: "
                + reads.stream()
                    .filter(
                        read ->
                            kept.stream()
                                .noneMatch(k -> k.source().id().equals(read.source().id())))
                    .map(read -> read.source().id())
                    .toList()
                + ")");
    List<NamedExpression> output = new ArrayList<>();
    List<Attribute> unionOutput = CollectionConverters.asJava(union.output());
    for (AttributeReference attribute : CollectionConverters.asJava(relation.output())) {
      Attribute source =
          unionOutput.stream()
              .filter(candidate -> candidate.name().equalsIgnoreCase(attribute.name()))
              .findFirst()
              .orElseThrow(
                  () ->
                      new IllegalStateException(
                          "Native union of "
                              + table.identifier()
                              + " lacks column "
                              + attribute.name()));
      Expression value =
          source.dataType().equals(attribute.dataType())
              ? source
              : new Cast(source, attribute.dataType(), Option.empty());
      output.add(
          new Alias(
              value,
              attribute.name(),
              attribute.exprId(),
              attribute.qualifier(),
              Option.apply(attribute.metadata()),
              Alias.apply$default$6(value, attribute.name())));
    }
    return new Project(CollectionConverters.asScala(output).toSeq(), union);
  }
}
