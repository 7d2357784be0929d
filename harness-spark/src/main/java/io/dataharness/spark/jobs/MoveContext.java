package io.dataharness.spark.jobs;

import io.dataharness.metadata.SourceDefinition;
import io.dataharness.metadata.SourceKind;
import io.dataharness.metadata.SourceState;
import io.dataharness.metadata.TableVersion;
import io.dataharness.metadata.ValidationException;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.SparkSchemas;
import io.dataharness.spark.read.ReadOptions;
import io.dataharness.spark.read.SourceFrames;
import io.dataharness.spark.read.SourceRead;
import io.dataharness.spark.source.KafkaSources;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * What a move from a Kafka source needs, resolved from one version: sources, connections and the
 * Kafka source's state as it is now.
 *
 * @param sourceState the Kafka source's state the move starts from: the version's state with each
 *     end raised to the live end (the last stable offset) and the partitions added to the topic
 *     since (see {@link KafkaSources#liveState}), so a move takes what is in the topic without a
 *     prior sync and records that end in its own version
 */
record MoveContext(
    HarnessContext catalog,
    MoveRequest request,
    TableVersion version,
    SourceDefinition source,
    SourceDefinition target,
    ConnectionConfig sourceConnection,
    ConnectionConfig targetConnection,
    SourceState.Kafka sourceState) {

  static MoveContext resolve(
      HarnessContext catalog, MoveRequest request, TableVersion version, SourceKind targetKind) {
    SourceDefinition source = version.source(request.source());
    SourceDefinition target = version.source(request.target());
    if (source.kind() != SourceKind.KAFKA || target.kind() != targetKind) {
      throw new ValidationException(
          "Cannot move rows of %s from '%s' (%s) to '%s' (%s) with this mover: it moves kafka to %s",
          request.table(),
          source.id(),
          source.kind().id(),
          target.id(),
          target.kind().id(),
          targetKind.id());
    }
    ConnectionConfig sourceConnection = catalog.connection(request.table(), source);
    return new MoveContext(
        catalog,
        request,
        version,
        source,
        target,
        sourceConnection,
        catalog.connection(request.table(), target),
        KafkaSources.liveState(
            sourceConnection, source, (SourceState.Kafka) version.state(source.id())));
  }

  String topic() {
    return KafkaSources.topic(source);
  }

  KafkaBatch planBatch() {
    return KafkaBatch.plan(
        sourceConnection,
        topic(),
        sourceState(),
        request.maxRows(),
        request.olderThan() == null ? java.util.Optional.empty() : request.olderThan());
  }

  /** The batch's rows: harness columns plus the metadata columns, exactly its offsets. */
  Dataset<Row> read(SparkSession spark, KafkaBatch batch) {
    SourceRead read =
        new SourceRead(
            request.table(),
            version.version(),
            source,
            batch.asState(),
            sourceConnection,
            SparkSchemas.toSpark(version.schema()),
            new ReadOptions(ReadOptions.KafkaReadMode.PINNED, true));
    return SourceFrames.read(spark, read);
  }

  /** The result of a move that found nothing to move at this version (logged). */
  MoveResult nothingToMove() {
    org.slf4j.LoggerFactory.getLogger(MoveContext.class)
        .info(
            "Nothing to move in {} from '{}' to '{}' at version {}",
            request.table(),
            request.source(),
            request.target(),
            version.version());
    return MoveResult.nothing(version.version());
  }

  String describe(KafkaBatch batch) {
    return "move "
        + request.table()
        + " '"
        + source.id()
        + "' -> '"
        + target.id()
        + "' from version "
        + version.version()
        + " offsets "
        + batch.describe();
  }
}
