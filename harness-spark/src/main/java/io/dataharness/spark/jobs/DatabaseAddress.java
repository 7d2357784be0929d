package io.dataharness.spark.jobs;

import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Where a PostgreSQL JDBC URL points: host, port and database. Two URLs with the same address reach
 * the same database, so a mover can tell when the harness metadata lives beside a jdbc source.
 */
record DatabaseAddress(String host, int port, String database) {
  private static final String PREFIX = "jdbc:postgresql:";
  private static final Set<String> LOOPBACK = Set.of("localhost", "127.0.0.1", "::1", "[::1]");

  /** The address of a {@code jdbc:postgresql:} URL, or empty for other URLs. */
  static Optional<DatabaseAddress> of(String jdbcUrl) {
    if (jdbcUrl == null || !jdbcUrl.startsWith(PREFIX)) {
      return Optional.empty();
    }
    String rest = jdbcUrl.substring(PREFIX.length());
    int query = rest.indexOf('?');
    if (query >= 0) {
      rest = rest.substring(0, query);
    }
    if (!rest.startsWith("//")) {
      return Optional.of(new DatabaseAddress("localhost", 5432, rest));
    }
    rest = rest.substring(2);
    int slash = rest.indexOf('/');
    String hostPort = slash < 0 ? rest : rest.substring(0, slash);
    hostPort = hostPort.substring(hostPort.lastIndexOf('@') + 1); // user:password@host
    String database = slash < 0 ? "" : rest.substring(slash + 1);
    String host = hostPort;
    int port = 5432;
    int colon = hostPort.lastIndexOf(':');
    if (colon > 0 && !hostPort.endsWith("]") && hostPort.indexOf(',') < 0) {
      host = hostPort.substring(0, colon);
      port = Integer.parseInt(hostPort.substring(colon + 1));
    }
    host = host.isEmpty() ? "localhost" : host.toLowerCase(Locale.ROOT);
    if (LOOPBACK.contains(host)) {
      host = "localhost";
    }
    return Optional.of(new DatabaseAddress(host, port, database));
  }

  /** True when both URLs are PostgreSQL URLs of the same database. */
  static boolean sameDatabase(String first, String second) {
    Optional<DatabaseAddress> address = of(first);
    return address.isPresent() && address.equals(of(second));
  }
}
