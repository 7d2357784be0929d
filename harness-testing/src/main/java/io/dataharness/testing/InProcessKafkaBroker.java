package io.dataharness.testing;

import kafka.testkit.KafkaClusterTestKit;
import kafka.testkit.TestKitNodes;
import org.apache.kafka.server.common.MetadataVersion;

/** A real KRaft broker running in this JVM: one combined controller and broker node. */
final class InProcessKafkaBroker implements AutoCloseable {
  private final KafkaClusterTestKit cluster;

  private InProcessKafkaBroker(KafkaClusterTestKit cluster) {
    this.cluster = cluster;
  }

  static InProcessKafkaBroker start() throws Exception {
    TestKitNodes nodes =
        new TestKitNodes.Builder()
            .setCombined(true)
            .setNumBrokerNodes(1)
            .setNumControllerNodes(1)
            // the test kit's default metadata version is an unstable, testing-only one
            .setBootstrapMetadataVersion(MetadataVersion.latestProduction())
            .build();
    KafkaClusterTestKit cluster =
        new KafkaClusterTestKit.Builder(nodes)
            .setConfigProp("offsets.topic.replication.factor", "1")
            .setConfigProp("offsets.topic.num.partitions", "1")
            .setConfigProp("transaction.state.log.replication.factor", "1")
            .setConfigProp("transaction.state.log.min.isr", "1")
            .setConfigProp("group.initial.rebalance.delay.ms", "0")
            .setConfigProp("auto.create.topics.enable", "false")
            .build();
    try {
      cluster.format();
      cluster.startup();
      cluster.waitForReadyBrokers();
    } catch (Exception e) {
      cluster.close();
      throw e;
    }
    return new InProcessKafkaBroker(cluster);
  }

  String bootstrapServers() {
    return cluster.bootstrapServers();
  }

  @Override
  public void close() throws Exception {
    cluster.close();
  }
}
