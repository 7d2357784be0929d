package io.dataharness.spark.read;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.catalyst.analysis.UnresolvedAttribute;
import org.apache.spark.sql.catalyst.expressions.And;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.Cast;
import org.apache.spark.sql.catalyst.expressions.EqualTo;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.In;
import org.apache.spark.sql.catalyst.expressions.InSet;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.parser.CatalystSqlParser$;
import org.apache.spark.sql.connector.expressions.LiteralValue;
import org.apache.spark.sql.connector.expressions.NamedReference;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Decides, before any source is opened, whether a source's declared partition filter can match a
 * query's filters. Both are reduced to the values each column may take (from {@code =}, {@code IN}
 * and {@code AND}); a source is pruned when, for some column, the two value sets do not intersect.
 * Anything else is treated as "may match", so pruning never drops a source that could have rows.
 */
public final class SourcePruning {
  /** Column (lower case) to the values it may take, as text. Absent: any value. */
  private record Constraints(Map<String, Set<String>> values) {
    static Constraints none() {
      return new Constraints(new HashMap<>());
    }

    void restrict(String column, Set<String> allowed) {
      values.merge(
          column.toLowerCase(Locale.ROOT),
          allowed,
          (a, b) -> {
            Set<String> both = new HashSet<>(a);
            both.retainAll(b);
            return both;
          });
    }

    boolean disjointFrom(Constraints other) {
      for (Map.Entry<String, Set<String>> entry : values.entrySet()) {
        Set<String> theirs = other.values.get(entry.getKey());
        if (theirs != null) {
          Set<String> both = new HashSet<>(entry.getValue());
          both.retainAll(theirs);
          if (both.isEmpty()) {
            return true;
          }
        }
      }
      // a filter that contradicts itself (region = 'eu' AND region = 'us') matches nothing
      return values.values().stream().anyMatch(Set::isEmpty)
          || other.values.values().stream().anyMatch(Set::isEmpty);
    }
  }

  private SourcePruning() {}

  /** For the DataSource V2 scan: the predicates Spark pushed. */
  public static boolean mayMatch(SourceRead read, Predicate[] predicates) {
    Constraints query = Constraints.none();
    for (Predicate predicate : predicates) {
      collect(predicate, query);
    }
    return mayMatch(read, query);
  }

  /** For the native rewrite: the conjuncts of the filters above the relation. */
  public static boolean mayMatch(SourceRead read, List<Expression> conjuncts) {
    Constraints query = Constraints.none();
    for (Expression conjunct : conjuncts) {
      collect(conjunct, query);
    }
    return mayMatch(read, query);
  }

  private static boolean mayMatch(SourceRead read, Constraints query) {
    String filter = read.source().partitionFilter();
    if (filter == null || query.values().isEmpty()) {
      return true;
    }
    Constraints source = Constraints.none();
    collect(CatalystSqlParser$.MODULE$.parseExpression(filter), source);
    return !source.disjointFrom(query);
  }

  private static void collect(Expression expression, Constraints constraints) {
    if (expression instanceof And and) {
      collect(and.left(), constraints);
      collect(and.right(), constraints);
    } else if (expression instanceof EqualTo equal) {
      String column = column(equal.left());
      Expression value = equal.right();
      if (column == null) {
        column = column(equal.right());
        value = equal.left();
      }
      if (column != null && value instanceof Literal literal && literal.value() != null) {
        constraints.restrict(column, Set.of(String.valueOf(literal.value())));
      }
    } else if (expression instanceof In in) {
      String column = column(in.value());
      Set<String> values = new HashSet<>();
      for (Expression item : CollectionConverters.asJava(in.list())) {
        if (!(item instanceof Literal literal) || literal.value() == null) {
          return;
        }
        values.add(String.valueOf(literal.value()));
      }
      if (column != null) {
        constraints.restrict(column, values);
      }
    } else if (expression instanceof InSet inSet) {
      String column = column(inSet.child());
      Set<String> values = new HashSet<>();
      for (Object item : CollectionConverters.asJava(inSet.hset())) {
        if (item == null) {
          return;
        }
        values.add(String.valueOf(item));
      }
      if (column != null) {
        constraints.restrict(column, values);
      }
    }
  }

  private static String column(Expression expression) {
    if (expression instanceof Cast cast) {
      return column(cast.child());
    }
    if (expression instanceof UnresolvedAttribute unresolved) {
      return unresolved.name();
    }
    if (expression instanceof Attribute attribute) {
      return attribute.name();
    }
    return null;
  }

  private static void collect(Predicate predicate, Constraints constraints) {
    org.apache.spark.sql.connector.expressions.Expression[] children = predicate.children();
    switch (predicate.name()) {
      case "AND":
        collect((Predicate) children[0], constraints);
        collect((Predicate) children[1], constraints);
        break;
      case "=":
        if (children[0] instanceof NamedReference reference
            && children[1] instanceof LiteralValue<?> literal
            && literal.value() != null) {
          constraints.restrict(name(reference), Set.of(String.valueOf(literal.value())));
        } else if (children[1] instanceof NamedReference reference
            && children[0] instanceof LiteralValue<?> literal
            && literal.value() != null) {
          constraints.restrict(name(reference), Set.of(String.valueOf(literal.value())));
        }
        break;
      case "IN":
        if (children[0] instanceof NamedReference reference) {
          Set<String> values = new HashSet<>();
          for (int i = 1; i < children.length; i++) {
            if (!(children[i] instanceof LiteralValue<?> literal) || literal.value() == null) {
              return;
            }
            values.add(String.valueOf(literal.value()));
          }
          constraints.restrict(name(reference), values);
        }
        break;
      default:
        break;
    }
  }

  private static String name(NamedReference reference) {
    return String.join(".", reference.fieldNames());
  }
}
