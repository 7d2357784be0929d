package io.dataharness.spark.read;

import org.apache.spark.sql.connector.read.InputPartition;

/** One jdbc source, read in one partition so that all its rows come from one snapshot. */
record JdbcInputPartition(SourceRead read, String query) implements InputPartition {}
