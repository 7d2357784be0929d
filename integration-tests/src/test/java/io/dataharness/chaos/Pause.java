package io.dataharness.chaos;

final class Pause {
  private Pause() {}

  /** Sleeps; an interrupt ends the sleep early and stays set. */
  static void millis(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
