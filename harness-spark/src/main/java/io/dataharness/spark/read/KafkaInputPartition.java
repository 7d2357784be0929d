package io.dataharness.spark.read;

import org.apache.spark.sql.connector.read.InputPartition;

/** One Kafka partition's offsets [start, end) of one source. */
record KafkaInputPartition(SourceRead read, String topic, int partition, long start, long end)
    implements InputPartition {}
