package io.dataharness.spark.jobs;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.TableIdentifier;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.HarnessContext;
import java.util.Set;
import org.apache.spark.sql.SparkSession;

/**
 * The move job: moves one batch of rows of a harness table from one source to another and commits
 * both new states in one harness version. Supported moves: kafka to iceberg, kafka to jdbc
 * (PostgreSQL upserts), jdbc to iceberg.
 *
 * <p>As a Spark application: {@code spark-submit --class io.dataharness.spark.jobs.MoveJob ...
 * --table ns.t --source a --target b [--max-rows N] [--older-than '10 minutes'] [--catalog harness]
 * [--owner name]}. As SQL: {@code CALL harness.system.move(table => 'ns.t', source => 'a', target
 * => 'b', max_rows => 1000, older_than => '10 minutes')}.
 */
public final class MoveJob {
  private MoveJob() {}

  /** Runs one move, dispatching on the kinds of the two sources. */
  public static MoveResult run(SparkSession spark, HarnessContext catalog, MoveRequest request) {
    if (request.source().equals(request.target())) {
      throw new ValidationException(
          "Cannot move rows of %s from source '%s' to itself: name two different sources",
          request.table(), request.source());
    }
    TableVersion latest = catalog.store().readLatest(request.table());
    SourceDefinition source = latest.source(request.source());
    SourceDefinition target = latest.source(request.target());
    if (source.kind() == SourceKind.KAFKA && target.kind() == SourceKind.ICEBERG) {
      return KafkaToIcebergMover.move(spark, catalog, request);
    }
    if (source.kind() == SourceKind.KAFKA && target.kind() == SourceKind.JDBC) {
      return KafkaToPostgresMover.move(spark, catalog, request);
    }
    if (source.kind() == SourceKind.JDBC && target.kind() == SourceKind.ICEBERG) {
      return PostgresToIcebergMover.move(spark, catalog, request);
    }
    throw new ValidationException(
        "Cannot move rows of %s from '%s' (%s) to '%s' (%s): supported moves are kafka -> iceberg,"
            + " kafka -> jdbc and jdbc -> iceberg",
        request.table(), source.id(), source.kind().id(), target.id(), target.kind().id());
  }

  /** Entry point of {@code spark-submit --class io.dataharness.spark.jobs.MoveJob}. */
  public static void main(String[] args) {
    JobArguments arguments =
        JobArguments.parse(
            "MoveJob",
            args,
            Set.of("table", "source", "target", "max-rows", "older-than", "catalog", "owner"));
    MoveRequest request =
        request(
            arguments.required("table"),
            arguments.required("source"),
            arguments.required("target"),
            arguments.optional("max-rows").map(Long::parseLong).orElse(null),
            arguments.optional("older-than").orElse(null),
            arguments.optional("owner").orElse(null));
    SparkSession spark = SparkSession.builder().appName("DataHarness move").getOrCreate();
    HarnessContext catalog =
        JobArguments.catalog(spark, arguments.optional("catalog").orElse("harness"));
    MoveResult result = run(spark, catalog, request);
    System.out.println(
        "Moved "
            + result.rowsMoved()
            + " rows of "
            + request.table()
            + " from '"
            + request.source()
            + "' to '"
            + request.target()
            + "' at version "
            + result.version()
            + (result.replayed() ? " (replayed)" : "")
            + " "
            + result.summary());
  }

  /** A request from the names users type (procedure arguments, job options). */
  static MoveRequest request(
      String table, String source, String target, Long maxRows, String olderThan, String owner) {
    if (maxRows != null && maxRows <= 0) {
      throw new ValidationException(
          "Invalid max_rows %d for a move of %s: use a positive number of rows", maxRows, table);
    }
    return new MoveRequest(
        TableIdentifier.parse(table),
        source,
        target,
        maxRows == null ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(maxRows),
        olderThan == null
            ? java.util.Optional.empty()
            : java.util.Optional.of(JobArguments.interval(olderThan)),
        owner == null || owner.isBlank() ? defaultOwner() : owner);
  }

  static String defaultOwner() {
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      host = "unknown-host";
    }
    return "mover@"
        + host
        + ":"
        + ProcessHandle.current().pid()
        + ":"
        + java.util.UUID.randomUUID().toString().substring(0, 8);
  }
}
