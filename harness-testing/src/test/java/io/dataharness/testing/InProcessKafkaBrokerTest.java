package io.dataharness.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.common.utils.Exit;
import org.junit.jupiter.api.Test;

class InProcessKafkaBrokerTest {
  @Test
  void addsNoJvmShutdownHookAndDeletesItsLogDirectoriesWhenClosed() throws Exception {
    Set<Path> before = kafkaDirectories();
    List<String> shutdownHooks = new ArrayList<>();
    // Kafka's test kit would register, through Exit, a JVM shutdown hook deleting the log
    // directories; at JVM exit it would run concurrently with the broker's own close
    Exit.setShutdownHookAdder((name, hook) -> shutdownHooks.add(name));
    InProcessKafkaBroker broker;
    try {
      broker = InProcessKafkaBroker.start();
    } finally {
      Exit.resetShutdownHookAdder();
    }
    Set<Path> created = new HashSet<>(kafkaDirectories());
    created.removeAll(before);
    try {
      assertEquals(List.of(), shutdownHooks);
      assertEquals(1, created.size(), "new log base directories: " + created);
      assertTrue(broker.bootstrapServers().startsWith("localhost:"), broker.bootstrapServers());
    } finally {
      broker.close();
    }
    assertFalse(Files.exists(created.iterator().next()), "log directories still exist");
  }

  private static Set<Path> kafkaDirectories() throws IOException {
    try (Stream<Path> files = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      return files
          .filter(path -> path.getFileName().toString().startsWith("kafka-"))
          .filter(Files::isDirectory)
          .collect(Collectors.toSet());
    }
  }
}
