package io.dataharness.chaos;

import java.time.Duration;

/**
 * What a chaos run does, from system properties (all optional):
 *
 * <ul>
 *   <li>{@code chaos.seed}: the seed of every random choice (default 1): job kinds, kill moments,
 *       application operations, produced batches. Thread and process timing still varies between
 *       runs, so a seed reproduces the schedule of choices, not the interleaving;
 *   <li>{@code chaos.duration}: how long jobs are launched and killed (ISO-8601, default PT2M;
 *       PT60S is a smoke run, PT10M a long one);
 *   <li>{@code chaos.min-kills}: the chaos phase goes on after its duration until this many jobs
 *       were killed during their work (default 2), for at most three times the duration: on a
 *       loaded machine a job JVM can take minutes to start;
 *   <li>{@code chaos.settle-timeout}: how long the final phase retries a job blocked by a killed
 *       job's locks before giving up on it (default PT3M);
 *   <li>{@code chaos.kill-probability}: the chance that a launched job is killed (default 0.6);
 *   <li>{@code chaos.drop-connections}: terminate the metadata store's connections now and then
 *       (default true);
 *   <li>{@code chaos.jvm.flags}: JVM flags of the job processes (default: the test JVM's own {@code
 *       --add-opens} and related flags, which surefire's argLine sets).
 * </ul>
 */
record ChaosSettings(
    long seed,
    Duration duration,
    Duration settleTimeout,
    double killProbability,
    boolean dropConnections,
    int minKills,
    int maxProcesses) {

  static ChaosSettings fromSystemProperties() {
    return new ChaosSettings(
        Long.getLong("chaos.seed", 1L),
        Duration.parse(System.getProperty("chaos.duration", "PT2M")),
        Duration.parse(System.getProperty("chaos.settle-timeout", "PT3M")),
        Double.parseDouble(System.getProperty("chaos.kill-probability", "0.6")),
        Boolean.parseBoolean(System.getProperty("chaos.drop-connections", "true")),
        Integer.getInteger("chaos.min-kills", 2),
        2);
  }

  @Override
  public String toString() {
    return "seed="
        + seed
        + " duration="
        + duration
        + " settle-timeout="
        + settleTimeout
        + " kill-probability="
        + killProbability
        + " drop-connections="
        + dropConnections
        + " min-kills="
        + minKills;
  }
}
