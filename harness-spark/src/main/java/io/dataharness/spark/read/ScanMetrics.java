package io.dataharness.spark.read;

import org.apache.spark.sql.connector.metric.CustomMetric;
import org.apache.spark.sql.connector.metric.CustomSumMetric;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;

/**
 * The SQL metrics of the harness scan ({@link HarnessScan#supportedCustomMetrics}), shown on the
 * scan node in the Spark UI's SQL tab: rows read per kind of source and malformed Kafka values read
 * in PERMISSIVE mode. Each partition reader reports its counts through {@code
 * currentMetricsValues()}; Spark sums them over tasks. Spark instantiates the metric classes by
 * name on the driver, so they are public with a no-argument constructor.
 */
public final class ScanMetrics {
  public static final String KAFKA_ROWS = "kafkaRows";
  public static final String JDBC_ROWS = "jdbcRows";
  public static final String ICEBERG_ROWS = "icebergRows";
  public static final String MALFORMED_KAFKA_RECORDS = "malformedKafkaRecords";

  private ScanMetrics() {}

  static CustomMetric[] supported() {
    return new CustomMetric[] {
      new KafkaRows(), new JdbcRows(), new IcebergRows(), new MalformedKafkaRecords()
    };
  }

  /** A task's count of one metric. */
  static CustomTaskMetric taskValue(String name, long value) {
    return new CustomTaskMetric() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public long value() {
        return value;
      }
    };
  }

  /** Rows read from Kafka sources. */
  public static final class KafkaRows extends CustomSumMetric {
    @Override
    public String name() {
      return KAFKA_ROWS;
    }

    @Override
    public String description() {
      return "kafka rows read";
    }
  }

  /** Rows read from PostgreSQL (JDBC) sources. */
  public static final class JdbcRows extends CustomSumMetric {
    @Override
    public String name() {
      return JDBC_ROWS;
    }

    @Override
    public String description() {
      return "jdbc rows read";
    }
  }

  /** Rows read from Iceberg sources. */
  public static final class IcebergRows extends CustomSumMetric {
    @Override
    public String name() {
      return ICEBERG_ROWS;
    }

    @Override
    public String description() {
      return "iceberg rows read";
    }
  }

  /** Kafka values that were not valid JSON for the schema (read as nulls in PERMISSIVE mode). */
  public static final class MalformedKafkaRecords extends CustomSumMetric {
    @Override
    public String name() {
      return MALFORMED_KAFKA_RECORDS;
    }

    @Override
    public String description() {
      return "malformed kafka records";
    }
  }
}
