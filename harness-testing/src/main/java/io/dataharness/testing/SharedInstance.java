package io.dataharness.testing;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts a test service once per JVM, on first use. A service that failed to start is not retried:
 * every later caller gets the same loud failure.
 *
 * <p>Started services are closed together, one after the other, in the reverse order of their start
 * (Spark before Kafka, Iceberg and PostgreSQL, which it uses): by {@link ClosingSharedServices}
 * when the JUnit launcher session ends, while the JVM is still fully alive, or else by one JVM
 * shutdown hook. They are never closed by one shutdown hook each: the JVM runs shutdown hooks
 * concurrently, so services would stop under each other.
 */
final class SharedInstance<T extends AutoCloseable> {
  private static final Logger LOG = LoggerFactory.getLogger(SharedInstance.class);

  /** How long closing all services may take before the rest of the JVM's exit goes on. */
  private static final long CLOSE_TIMEOUT_SECONDS = 120;

  /** Started services, the last started first. Guarded by the class. */
  private static final Deque<SharedInstance<?>> STARTED = new ArrayDeque<>();

  private static boolean shutdownHookAdded;

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
      register(this);
    }
    return instance;
  }

  /**
   * Closes every started service, the last started first, and waits at most {@link
   * #CLOSE_TIMEOUT_SECONDS} for them. A later {@code shared()} call starts its service again.
   *
   * @param reason why the services close, for the log
   */
  static void closeAll(String reason) {
    List<SharedInstance<?>> toClose;
    synchronized (SharedInstance.class) {
      toClose = new ArrayList<>(STARTED);
      STARTED.clear();
    }
    if (toClose.isEmpty()) {
      return;
    }
    Thread closer =
        new Thread(
            () -> toClose.forEach(SharedInstance::closeQuietly), "harness-testing-services-close");
    closer.setDaemon(true);
    long startNanos = System.nanoTime();
    closer.start();
    try {
      closer.join(TimeUnit.SECONDS.toMillis(CLOSE_TIMEOUT_SECONDS));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (closer.isAlive()) {
      Throwable where = new Throwable("stack of " + closer.getName());
      where.setStackTrace(closer.getStackTrace());
      LOG.error(
          "Cannot stop the test services within {} s ({}); going on without waiting",
          CLOSE_TIMEOUT_SECONDS,
          reason,
          where);
    } else {
      LOG.info(
          "Stopped test services {} ({}) in {} ms",
          toClose.stream().map(service -> service.name).toList(),
          reason,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
    }
  }

  private static synchronized void register(SharedInstance<?> started) {
    STARTED.push(started);
    if (!shutdownHookAdded) {
      shutdownHookAdded = true;
      try {
        Runtime.getRuntime()
            .addShutdownHook(
                new Thread(() -> closeAll("JVM shutdown"), "harness-testing-services-shutdown"));
      } catch (IllegalStateException shutdownInProgress) {
        LOG.warn("Cannot stop the test services at JVM exit: the JVM is already exiting");
      }
    }
  }

  private synchronized void closeQuietly() {
    T service = instance;
    instance = null;
    if (service == null) {
      return;
    }
    try {
      service.close();
    } catch (Exception e) {
      LOG.warn("Cannot stop {} cleanly", name, e);
    }
  }
}
