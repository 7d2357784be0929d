package io.dataharness.spark.jobs;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@link MoveJob#main} with its first batch held in the middle, for a test that signals the job
 * there: after the batch wrote its rows to the target and before the harness commit ({@link
 * CrashPoints#AFTER_TARGET_WRITE}), it prints {@value #PAUSED} on stdout and waits until the file
 * named by system property {@value #RESUME_PROPERTY} exists. Only the test runs it.
 */
final class PausingMoveJob {
  static final String PAUSED = "PAUSED in the middle of a batch";
  static final String RESUME_PROPERTY = "test.resume.file";

  private PausingMoveJob() {}

  public static void main(String[] args) {
    Path resume = Path.of(System.getProperty(RESUME_PROPERTY));
    AtomicBoolean paused = new AtomicBoolean();
    CrashPoints.hook =
        point -> {
          if (point.equals(CrashPoints.AFTER_TARGET_WRITE) && paused.compareAndSet(false, true)) {
            System.out.println(PAUSED);
            System.out.flush();
            while (!Files.exists(resume)) {
              try {
                Thread.sleep(50);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while paused", e);
              }
            }
          }
        };
    MoveJob.main(args);
  }
}
