package io.dataharness.spark;

import io.dataharness.metadata.HarnessStore;
import io.dataharness.metadata.HarnessStores;
import io.dataharness.metadata.Secrets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One open store per metadata store URI, user and password in a JVM: Spark creates a catalog
 * instance per session, and each would otherwise open its own connection pool. Keyed by everything
 * that authenticates, so a catalog configured with a wrong password opens (and fails) its own pool
 * rather than borrowing one that logged in before, and a rotated password opens a new pool; the key
 * is a fingerprint ({@link Secrets#fingerprint}), so no password lives in the map. A store found in
 * the cache logs in once more ({@link HarnessStore#checkLogin}): its pooled connections logged in
 * before, and would otherwise keep working for a password rotated away since.
 */
final class StoreCache {
  private static final Map<String, HarnessStore> STORES = new ConcurrentHashMap<>();

  private StoreCache() {}

  static HarnessStore open(String uri, String user, String password) {
    String key = Secrets.fingerprint(uri, user, password);
    HarnessStore cached = STORES.get(key);
    if (cached != null) {
      cached.checkLogin();
      return cached;
    }
    return STORES.computeIfAbsent(key, fingerprint -> HarnessStores.open(uri, user, password));
  }
}
