package io.dataharness.spark.audit;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dataharness.metadata.TableIdentifier;
import java.util.List;

/**
 * What an audit of one table found.
 *
 * @param table the harness table
 * @param latestVersion the latest version when the audit started
 * @param versionsChecked how many retained versions were read
 * @param violations every violation found, errors first
 */
public record AuditReport(
    TableIdentifier table, long latestVersion, int versionsChecked, List<Violation> violations) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public AuditReport {
    violations = List.copyOf(violations);
  }

  public long errors() {
    return violations.stream().filter(v -> v.severity() == Check.Severity.ERROR).count();
  }

  public long warnings() {
    return violations.stream().filter(v -> v.severity() == Check.Severity.WARNING).count();
  }

  /** The report as one line of JSON (the audit job's result). */
  public String toJson() {
    ObjectNode node = JSON.createObjectNode();
    node.put("table", table.toString());
    node.put("latest_version", latestVersion);
    node.put("versions_checked", versionsChecked);
    node.put("errors", errors());
    node.put("warnings", warnings());
    ArrayNode rows = node.putArray("violations");
    for (Violation violation : violations) {
      ObjectNode row = rows.addObject();
      row.put("check", violation.check().id());
      row.put("severity", violation.severity().id());
      row.put("source", violation.source());
      ArrayNode versions = row.putArray("versions");
      violation.versions().forEach(versions::add);
      row.put("detail", violation.detail());
    }
    try {
      return JSON.writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
