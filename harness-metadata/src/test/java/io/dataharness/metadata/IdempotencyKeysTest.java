package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class IdempotencyKeysTest {
  @Test
  void keysHaveAFixedSizeWhateverTheyCover() {
    List<String> partitions = new ArrayList<>();
    for (int partition = 0; partition < 1000; partition++) {
      partitions.add(partition + ":" + (partition * 1000L) + "-" + (partition * 1000L + 999));
    }
    String key = IdempotencyKeys.of("move:logs.events:hot:cold", partitions.toArray(String[]::new));
    assertTrue(key.startsWith("move:logs.events:hot:cold:"), key);
    assertTrue(key.length() < IdempotencyKeys.MAX_LENGTH, key);
    String longPrefix = "move:" + "a_very_long_namespace_name".repeat(10) + ".t:hot:cold";
    String cut = IdempotencyKeys.of(longPrefix, "0:0-10");
    assertTrue(cut.length() < IdempotencyKeys.MAX_LENGTH, cut);
    assertNotEquals(cut, IdempotencyKeys.of(longPrefix + "x", "0:0-10"));
    // a transaction accepts it
    Transaction transaction = new Transaction(TableIdentifier.of("logs", "t"), request -> null);
    transaction.idempotencyKey(key);
  }

  @Test
  void equalPartsGiveEqualKeysAndPartBoundariesMatter() {
    assertEquals(IdempotencyKeys.of("p", "a", "b"), IdempotencyKeys.of("p", "a", "b"));
    assertNotEquals(IdempotencyKeys.of("p", "ab", "c"), IdempotencyKeys.of("p", "a", "bc"));
    assertNotEquals(IdempotencyKeys.of("p", (String) null), IdempotencyKeys.of("p", "null"));
    assertNotEquals(IdempotencyKeys.of("p", "a"), IdempotencyKeys.of("q", "a"));
    assertThrows(ValidationException.class, () -> IdempotencyKeys.of(" ", "a"));
    assertThrows(ValidationException.class, () -> IdempotencyKeys.of(null, "a"));
  }

  @Test
  void anOverlongKeyIsRefusedWhenItIsSetBeforeAnythingHappens() {
    Transaction transaction =
        new Transaction(
            TableIdentifier.of("logs", "t"),
            request -> {
              throw new AssertionError("must not commit");
            });
    ValidationException refused =
        assertThrows(ValidationException.class, () -> transaction.idempotencyKey("k".repeat(513)));
    assertTrue(refused.getMessage().contains("IdempotencyKeys.of"), refused.getMessage());
    assertTrue(refused.getMessage().contains("logs.t"), refused.getMessage());
  }
}
