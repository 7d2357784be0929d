package io.dataharness.testing;

import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts a test service once per JVM, on first use, and closes it in a JVM shutdown hook. A service
 * that failed to start is not retried: every later caller gets the same loud failure.
 */
final class SharedInstance<T extends AutoCloseable> {
  private static final Logger LOG = LoggerFactory.getLogger(SharedInstance.class);

  private final String name;
  private final Supplier<T> starter;
  private T instance;
  private RuntimeException failure;

  SharedInstance(String name, Supplier<T> starter) {
    this.name = name;
    this.starter = starter;
  }

  synchronized T get() {
    if (failure != null) {
      throw new IllegalStateException(
          name + " failed to start earlier in this JVM: " + failure.getMessage(), failure);
    }
    if (instance == null) {
      try {
        instance = starter.get();
      } catch (RuntimeException e) {
        failure = e;
        throw e;
      }
      T started = instance;
      Runtime.getRuntime()
          .addShutdownHook(new Thread(() -> closeQuietly(started), name + "-shutdown"));
    }
    return instance;
  }

  private void closeQuietly(T service) {
    try {
      service.close();
    } catch (Exception e) {
      LOG.warn("Cannot stop {} cleanly", name, e);
    }
  }
}
