package io.dataharness.testing;

import java.util.Optional;

/** Reads the environment variables that point the test services at existing servers. */
final class Environment {
  static final String POSTGRES_MODE = "HARNESS_TEST_POSTGRES";
  static final String POSTGRES_URL = "HARNESS_TEST_POSTGRES_URL";
  static final String POSTGRES_USER = "HARNESS_TEST_POSTGRES_USER";
  static final String POSTGRES_PASSWORD = "HARNESS_TEST_POSTGRES_PASSWORD";
  static final String KAFKA_BOOTSTRAP = "HARNESS_TEST_KAFKA_BOOTSTRAP";

  private Environment() {}

  /** The variable's value, or empty when it is unset or blank. */
  static Optional<String> variable(String name) {
    return Optional.ofNullable(System.getenv(name))
        .map(String::trim)
        .filter(value -> !value.isEmpty());
  }

  /** An exception's message without its final period, to embed it in a longer sentence. */
  static String reason(Throwable error) {
    String message = String.valueOf(error.getMessage()).trim();
    return message.endsWith(".") ? message.substring(0, message.length() - 1) : message;
  }
}
