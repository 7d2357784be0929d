package io.dataharness.spark;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One open store per metadata store URI and user in a JVM: Spark creates a catalog instance per
 * session, and each would otherwise open its own connection pool.
 */
final class StoreCache {
  private static final Map<String, HarnessStore> STORES = new ConcurrentHashMap<>();

  private StoreCache() {}

  static HarnessStore open(String uri, String user, String password) {
    return STORES.computeIfAbsent(
        uri + "\u0000" + Objects.toString(user, ""),
        key -> HarnessStores.open(uri, user, password));
  }
}
