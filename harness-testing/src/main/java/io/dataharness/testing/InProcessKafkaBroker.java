package io.dataharness.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import kafka.testkit.KafkaClusterTestKit;
import kafka.testkit.TestKitNodes;
import org.apache.kafka.common.utils.Exit;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real KRaft broker running in this JVM: one combined controller and broker node.
 *
 * <p>Two defaults of Kafka's test kit are unsafe in a test JVM and replaced here:
 *
 * <ul>
 *   <li>The test kit's log directories get a JVM shutdown hook that deletes them. The JVM runs
 *       shutdown hooks concurrently, so that hook can delete the directories under a broker that
 *       still runs; the broker then finds its only log directory failed and halts the JVM with
 *       status 1 (Surefire: "Error occurred in starting fork" after all tests passed). Here the
 *       directories are deleted by {@link #close()}, after the broker stopped.
 *   <li>On a fatal fault the broker calls {@code Exit.halt}, which would end the test JVM without a
 *       word to the test runner. Here it is logged with its stack, remembered ({@link
 *       #haltRequest()}), and thrown as an exception in the broker thread instead.
 * </ul>
 */
final class InProcessKafkaBroker implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(InProcessKafkaBroker.class);
  private static final AtomicReference<IllegalStateException> HALT_REQUEST =
      new AtomicReference<>();

  private final KafkaClusterTestKit cluster;
  private final List<Runnable> directoryCleanups;

  private InProcessKafkaBroker(KafkaClusterTestKit cluster, List<Runnable> directoryCleanups) {
    this.cluster = cluster;
    this.directoryCleanups = directoryCleanups;
  }

  static InProcessKafkaBroker start() throws Exception {
    return start(0);
  }

  /**
   * Starts a broker whose client listener is on {@code port} (0: any free port). A fixed port lets
   * {@link #stopBroker()} and {@link #startBroker()} bring the broker back at the same bootstrap
   * servers.
   */
  static InProcessKafkaBroker start(int port) throws Exception {
    Exit.setHaltProcedure(InProcessKafkaBroker::refuseHalt);
    List<Runnable> directoryCleanups = new ArrayList<>();
    TestKitNodes nodes;
    // the test kit creates its base directory with Kafka's TestUtils.tempDirectory, which adds
    // the deleting shutdown hook through Exit.addShutdownHook: keep it to run it after close
    Exit.setShutdownHookAdder((name, hook) -> directoryCleanups.add(hook));
    try {
      nodes =
          new TestKitNodes.Builder()
              .setCombined(true)
              .setNumBrokerNodes(1)
              .setNumControllerNodes(1)
              // the test kit's default metadata version is an unstable, testing-only one
              .setBootstrapMetadataVersion(MetadataVersion.latestProduction())
              .setPerServerProperties(
                  port == 0
                      ? Map.of()
                      : Map.of(
                          0,
                          Map.of(
                              "listeners",
                              "EXTERNAL://localhost:" + port + ",CONTROLLER://localhost:0")))
              .build();
    } finally {
      Exit.resetShutdownHookAdder();
    }
    KafkaClusterTestKit cluster =
        new KafkaClusterTestKit.Builder(nodes)
            .setConfigProp("offsets.topic.replication.factor", "1")
            .setConfigProp("offsets.topic.num.partitions", "1")
            .setConfigProp("transaction.state.log.replication.factor", "1")
            .setConfigProp("transaction.state.log.min.isr", "1")
            .setConfigProp("group.initial.rebalance.delay.ms", "0")
            .setConfigProp("auto.create.topics.enable", "false")
            .build();
    InProcessKafkaBroker broker = new InProcessKafkaBroker(cluster, directoryCleanups);
    try {
      cluster.format();
      cluster.startup();
      cluster.waitForReadyBrokers();
    } catch (Exception e) {
      try {
        broker.close();
      } catch (Exception closeFailure) {
        e.addSuppressed(closeFailure);
      }
      throw e;
    }
    return broker;
  }

  /** Why the broker asked to halt the JVM (a fatal fault), if it did. */
  static Optional<IllegalStateException> haltRequest() {
    return Optional.ofNullable(HALT_REQUEST.get());
  }

  String bootstrapServers() {
    return cluster.bootstrapServers();
  }

  /**
   * Stops the broker (the controller keeps running): clients get no answer at its bootstrap servers
   * until {@link #startBroker()}.
   */
  void stopBroker() {
    cluster.brokers().values().forEach(broker -> broker.shutdown());
  }

  /** Starts the broker stopped by {@link #stopBroker()} again and waits until it serves. */
  void startBroker() throws Exception {
    cluster.brokers().values().forEach(broker -> broker.startup());
    cluster.waitForReadyBrokers();
  }

  /** Stops the broker and controller, then deletes their log directories. */
  @Override
  public void close() throws Exception {
    try {
      cluster.close();
    } finally {
      directoryCleanups.forEach(Runnable::run);
    }
  }

  private static void refuseHalt(int statusCode, String message) {
    IllegalStateException request =
        new IllegalStateException(
            "The in-process Kafka broker hit a fatal fault and asked to halt the JVM with status "
                + statusCode
                + (message == null ? "" : " (" + message + ")")
                + " in thread "
                + Thread.currentThread().getName()
                + "; the test JVM goes on; the broker logged the fault just before");
    HALT_REQUEST.compareAndSet(null, request);
    LOG.error("Refusing Kafka's Exit.halt({}) in a test JVM", statusCode, request);
    throw request;
  }
}
