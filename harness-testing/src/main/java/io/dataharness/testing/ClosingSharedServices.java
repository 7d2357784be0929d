package io.dataharness.testing;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Stops the shared test services ({@link TestingSpark}, {@link TestingKafka}, {@link
 * TestingIceberg}, {@link TestingPostgres}) when the JUnit launcher session ends, after the last
 * test, in the reverse order of their start.
 *
 * <p>Registered through {@code META-INF/services}, so every JUnit Platform run (Maven Surefire,
 * IDEs) with harness-testing on its class path uses it. Stopping here, before the test JVM exits,
 * rather than in JVM shutdown hooks matters: the JVM runs shutdown hooks concurrently, and Kafka's
 * test kit registers one that deletes the broker's log directories. If that hook runs while the
 * broker still runs, the broker halts the JVM with status 1, which Surefire reports as "Error
 * occurred in starting fork" although every test passed.
 */
public final class ClosingSharedServices implements LauncherSessionListener {
  @Override
  public void launcherSessionClosed(LauncherSession session) {
    SharedInstance.closeAll("the JUnit launcher session closed");
  }
}
