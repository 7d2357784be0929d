package io.dataharness.spark.jobs;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stop request of a job running as a service ({@code --every}): SIGTERM (what {@code kill},
 * systemd, Kubernetes and YARN send first) or SIGINT (Ctrl-C) asks the job to stop after the batch
 * it is running, which finishes and commits; the job then prints its JSON line and exits with its
 * code.
 *
 * <p>This replaces the JVM's default handling of those signals (which starts the shutdown at once)
 * instead of adding a shutdown hook: Spark's own shutdown hook stops the SparkContext while the
 * hooks run, which would cut the running batch, and a JVM that shuts down on a signal exits with
 * 143 whatever the job did. A second signal ends the JVM at once. Where the handlers cannot be
 * installed (a JVM started with {@code -Xrs}), a shutdown hook is the fallback: it sets the request
 * and waits (up to {@link #HOOK_WAIT}) for the running batch; Spark may still stop under it.
 */
final class StopSignal {
  private static final Logger LOG = LoggerFactory.getLogger(StopSignal.class);
  static final Duration HOOK_WAIT = Duration.ofMinutes(5);

  private final Object monitor = new Object();
  private final java.util.concurrent.CountDownLatch finished =
      new java.util.concurrent.CountDownLatch(1);
  private volatile String reason;

  /** A stop request that only {@link #request} sets (tests, a job run once). */
  StopSignal() {}

  /** Installs the SIGTERM and SIGINT handlers (or the fallback hook) that request a stop. */
  static StopSignal install(String job) {
    StopSignal signal = new StopSignal();
    try {
      for (String name : new String[] {"TERM", "INT"}) {
        sun.misc.Signal.handle(new sun.misc.Signal(name), received -> signal.signalled(name));
      }
    } catch (RuntimeException | LinkageError e) {
      LOG.warn(
          "{} cannot handle SIGTERM itself ({}): stopping through a shutdown hook instead", job, e);
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    signal.request("JVM shutting down; stopping after the running batch");
                    try {
                      signal.finished.await(
                          HOOK_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                    } catch (InterruptedException interrupted) {
                      Thread.currentThread().interrupt();
                    }
                  },
                  job + "-stop"));
    }
    return signal;
  }

  void request(String why) {
    synchronized (monitor) {
      if (reason == null) {
        reason = why;
        System.err.println(why);
      }
      monitor.notifyAll();
    }
  }

  /**
   * A signal: the first requests a stop after the running batch; a second one ends the JVM at once
   * (exit 143), cutting the batch like a crash, which the next run completes.
   */
  private void signalled(String name) {
    if (requested()) {
      System.err.println(
          "SIG" + name + " received again: exiting now; the next run completes the batch");
      Thread exit = new Thread(() -> System.exit(143), "dataharness-exit");
      exit.setDaemon(true);
      exit.start();
      return;
    }
    request("SIG" + name + " received; stopping after the running batch");
  }

  boolean requested() {
    return reason != null;
  }

  /** Waits {@code interval} or until a stop is requested; true if a stop was requested. */
  boolean await(Duration interval) {
    long deadline = System.nanoTime() + interval.toNanos();
    synchronized (monitor) {
      while (reason == null) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        try {
          monitor.wait(Math.max(1, left / 1_000_000));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return true;
        }
      }
      return true;
    }
  }

  /** The job's loop ended: a waiting shutdown hook may let the JVM go on. */
  void finished() {
    finished.countDown();
  }
}
