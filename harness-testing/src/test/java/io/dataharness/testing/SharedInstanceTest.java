package io.dataharness.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SharedInstanceTest {
  private final List<String> closed = new ArrayList<>();

  @Test
  void closesAllStartedServicesOneAfterTheOtherLastStartedFirst() {
    SharedInstance<Service> database = new SharedInstance<>("database", () -> service("database"));
    SharedInstance<Service> spark =
        new SharedInstance<>(
            "spark",
            () -> {
              database.get(); // Spark uses the database, as TestingSpark uses TestingPostgres
              return service("spark");
            });
    SharedInstance<Service> broker = new SharedInstance<>("broker", () -> service("broker"));

    spark.get();
    broker.get();
    SharedInstance.closeAll("test");

    assertEquals(List.of("broker", "spark", "database"), closed);
  }

  @Test
  void startsAgainAfterClosingAndClosesEachServiceOnce() {
    AtomicInteger starts = new AtomicInteger();
    SharedInstance<Service> shared =
        new SharedInstance<>("service", () -> service("service-" + starts.incrementAndGet()));

    Service first = shared.get();
    assertSame(first, shared.get());
    SharedInstance.closeAll("test");
    SharedInstance.closeAll("test");
    Service second = shared.get();
    SharedInstance.closeAll("test");

    assertNotSame(first, second);
    assertEquals(List.of("service-1", "service-2"), closed);
  }

  @Test
  void aServiceThatFailsToCloseDoesNotKeepTheOthersRunning() {
    SharedInstance<Service> database = new SharedInstance<>("database", () -> service("database"));
    SharedInstance<AutoCloseable> failing =
        new SharedInstance<>(
            "failing",
            () ->
                () -> {
                  throw new IllegalStateException("cannot stop");
                });

    database.get();
    failing.get();
    SharedInstance.closeAll("test");

    assertEquals(List.of("database"), closed);
  }

  @Test
  void aServiceThatFailedToStartFailsEveryLaterCallWithTheSameError() {
    AtomicInteger starts = new AtomicInteger();
    SharedInstance<Service> broken =
        new SharedInstance<>(
            "broken",
            () -> {
              starts.incrementAndGet();
              throw new IllegalStateException("no binaries");
            });

    assertThrows(IllegalStateException.class, broken::get);
    IllegalStateException later = assertThrows(IllegalStateException.class, broken::get);

    assertEquals(1, starts.get());
    assertEquals("broken failed to start earlier in this JVM: no binaries", later.getMessage());
  }

  private Service service(String name) {
    return new Service(name);
  }

  private final class Service implements AutoCloseable {
    private final String name;

    Service(String name) {
      this.name = name;
    }

    @Override
    public void close() {
      closed.add(name);
    }
  }
}
