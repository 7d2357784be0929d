package io.dataharness.spark.audit;

import io.dataharness.metadata.TableVersion;
import java.util.List;

/**
 * Reads the write-ahead intents open at a version. One implementation per way writers record
 * intents: the store's intent model ({@link StoreIntents}), and the {@code pending-move.<source>}
 * external state keys of jdbc to iceberg moves that do not run on the write protocol yet.
 */
@FunctionalInterface
public interface OpenIntents {

  /**
   * The intents open at {@code latest}.
   *
   * @param history every retained version, oldest first, {@code latest} last (to find the version
   *     that opened each intent)
   */
  List<OpenIntent> open(TableVersion latest, List<TableVersion> history);
}
