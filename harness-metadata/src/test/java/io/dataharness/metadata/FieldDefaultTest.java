package io.dataharness.metadata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.List;
import org.junit.jupiter.api.Test;

class FieldDefaultTest {

  @Test
  void fieldsWithDefaultsSurviveTheJsonRoundTrip() {
    List<Field> fields =
        List.of(
            new Field(1, "id", FieldType.LONG, true, null),
            new Field(2, "status", FieldType.STRING, false, "state", "new, \"quoted\""),
            new Field(3, "amount", FieldType.decimal(10, 2), false, null, "-12.50"),
            new Field(4, "day", FieldType.DATE, false, null, "2026-12-01"),
            new Field(5, "at", FieldType.TIMESTAMP, false, null, "2026-12-01T10:15:30.123456Z"),
            new Field(6, "local", FieldType.TIMESTAMP_NTZ, false, null, "2026-12-01T10:15:30"),
            new Field(7, "ratio", FieldType.DOUBLE, false, null, "NaN"),
            new Field(8, "flag", FieldType.BOOLEAN, false, null, "false"),
            new Field(9, "bytes", FieldType.BINARY, false, null, "AAEC/w=="),
            new Field(10, "empty", FieldType.STRING, false, null, ""));

    String json = MetadataJson.fieldsJson(fields);
    List<Field> parsed = MetadataJson.parseFields(json);

    assertEquals(fields, parsed);
    assertEquals("new, \"quoted\"", parsed.get(1).defaultValue());
    assertNull(parsed.get(0).defaultValue());
    assertTrue(json.contains("\"default\":\"-12.50\""), json);
  }

  @Test
  void fieldsWrittenBeforeDefaultsExistedParseWithoutOne() {
    List<Field> parsed =
        MetadataJson.parseFields(
            "[{\"id\":1,\"name\":\"a\",\"type\":\"int\",\"required\":false,\"doc\":null}]");

    assertEquals(List.of(Field.optional(1, "a", FieldType.INT)), parsed);
  }

  @Test
  void defaultsParseToJavaValuesOfTheirType() {
    assertEquals(42, new Field(1, "a", FieldType.INT, false, null, "42").defaultJavaValue());
    assertEquals(
        new BigDecimal("1.50"),
        new Field(1, "a", FieldType.decimal(5, 2), false, null, "1.50").defaultJavaValue());
    assertEquals(
        LocalDate.of(2026, 12, 1),
        new Field(1, "a", FieldType.DATE, false, null, "2026-12-01").defaultJavaValue());
    assertEquals(
        Instant.parse("2026-12-01T00:00:00Z"),
        new Field(1, "a", FieldType.TIMESTAMP, false, null, "2026-12-01T00:00:00Z")
            .defaultJavaValue());
    assertEquals(
        LocalDateTime.of(2026, 12, 1, 8, 0),
        new Field(1, "a", FieldType.TIMESTAMP_NTZ, false, null, "2026-12-01T08:00")
            .defaultJavaValue());
    assertArrayEquals(
        new byte[] {0, 1},
        (byte[]) new Field(1, "a", FieldType.BINARY, false, null, "AAE=").defaultJavaValue());
    assertEquals("1.50", FieldType.decimal(5, 2).canonicalValue("1.5"));
    assertEquals("1.0E10", FieldType.FLOAT.canonicalValue("1e10"));
  }

  @Test
  void aDefaultThatIsNoValueOfTheTypeIsRefusedNamingTheColumn() {
    ValidationException notAnInt =
        assertThrows(
            ValidationException.class, () -> new Field(1, "c", FieldType.INT, false, null, "abc"));
    assertTrue(notAnInt.getMessage().contains("column 'c'"), notAnInt.getMessage());
    assertThrows(
        ValidationException.class,
        () -> new Field(1, "c", FieldType.decimal(3, 1), false, null, "123.4"));
    assertThrows(
        ValidationException.class,
        () -> new Field(1, "c", FieldType.decimal(3, 1), false, null, "1.25"));
    assertThrows(
        ValidationException.class, () -> new Field(1, "c", FieldType.FLOAT, false, null, "1e40"));
    assertThrows(
        ValidationException.class,
        () -> new Field(1, "c", FieldType.DATE, false, null, "2026-13-01"));
    assertThrows(
        ValidationException.class, () -> new Field(1, "c", FieldType.BOOLEAN, false, null, "yes"));
    // not canonical: stored defaults are canonical so that equal defaults compare equal
    assertThrows(
        ValidationException.class, () -> new Field(1, "c", FieldType.INT, false, null, "+42"));
  }
}
