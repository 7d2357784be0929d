package io.dataharness.spark.jobs;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dataharness.metadata.SourceKind;
import io.dataharness.spark.conf.CatalogOptions;
import io.dataharness.spark.conf.ConnectionConfig;
import io.dataharness.spark.conf.HarnessContext;
import io.dataharness.spark.conf.TableProperties;
import io.dataharness.spark.read.HarnessSparkTable;
import io.dataharness.spark.read.ReadOptions;
import io.dataharness.spark.read.ReplaceHarnessRelations;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.Proxy;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.procedures.ProcedureParameter;
import org.apache.spark.sql.connector.catalog.procedures.UnboundProcedure;
import org.junit.jupiter.api.Test;

/**
 * The reference pages under {@code docs/} name exactly the options the code defines: catalog and
 * connection options, table properties, read and write options, Spark settings, the arguments of
 * every {@code CALL <catalog>.system.*} procedure and the options of every {@code spark-submit}
 * job. The code's side is collected from the code (constants, the procedures' declared parameters,
 * each job's {@code USAGE}, which {@code --help} prints and the parser checks), the docs' side from
 * the tables of {@code docs/*.md} whose first header cell names the kind ({@code | read option |},
 * {@code | argument of system.move |}, {@code | option of MoveJob |}, ...). Names in the first
 * column are compared with {@code <placeholders>} as {@code *}.
 */
class DocsReferenceTest {
  private static final Pattern HEADER = Pattern.compile("^\\|\\s*([^|]+?)\\s*\\|");
  private static final Pattern NAME = Pattern.compile("`([^`]+)`");
  private static final Pattern LINK = Pattern.compile("\\]\\(([^)\\s]+)\\)");

  @Test
  void theReferenceNamesExactlyTheOptionsTheCodeDefines() throws Exception {
    Map<String, Set<String>> documented = documented(docsDirectory());
    Map<String, Set<String>> defined = defined();
    List<String> problems = new ArrayList<>();
    Set<String> kinds = new TreeSet<>(defined.keySet());
    kinds.addAll(documented.keySet());
    for (String kind : kinds) {
      Set<String> code = defined.getOrDefault(kind, Set.of());
      Set<String> docs = documented.getOrDefault(kind, Set.of());
      if (!defined.containsKey(kind)) {
        problems.add(
            "docs have a table '" + kind + "', but the code defines no such procedure or job");
        continue;
      }
      for (String name : code) {
        if (!docs.contains(name)) {
          problems.add(kind + " '" + name + "' is defined in the code but missing from docs/");
        }
      }
      for (String name : docs) {
        if (!code.contains(name)) {
          problems.add(kind + " '" + name + "' is in docs/ but the code does not define it");
        }
      }
    }
    if (!problems.isEmpty()) {
      fail(
          "The reference in docs/ does not match the code (fix the page's table whose first"
              + " header cell names the kind):\n  "
              + String.join("\n  ", problems));
    }
  }

  @Test
  void theReferenceIsReadFromTheDocs() throws Exception {
    // the docs' side is not empty by accident (a renamed header would hide every table)
    Map<String, Set<String>> documented = documented(docsDirectory());
    for (String kind :
        List.of(
            "catalog option",
            "connection option",
            "table property",
            "read option",
            "argument of system.move",
            "option of MoveJob")) {
      assertTrue(
          documented.containsKey(kind) && !documented.get(kind).isEmpty(),
          "no table '" + kind + "' found in docs/: " + documented.keySet());
    }
  }

  @Test
  void everyLinkOfTheReadmeAndTheDocsResolves() throws IOException {
    Path docs = docsDirectory();
    List<Path> pages = new ArrayList<>();
    pages.add(docs.getParent().resolve("README.md"));
    try (Stream<Path> files = Files.list(docs)) {
      files.filter(file -> file.toString().endsWith(".md")).sorted().forEach(pages::add);
    }
    List<String> broken = new ArrayList<>();
    for (Path page : pages) {
      String text = Files.readString(page).replaceAll("(?s)```.*?```", "");
      Matcher link = LINK.matcher(text);
      while (link.find()) {
        String target = link.group(1);
        if (target.contains("://") || target.startsWith("mailto:")) {
          continue;
        }
        int hash = target.indexOf('#');
        String file = hash < 0 ? target : target.substring(0, hash);
        Path resolved = file.isEmpty() ? page : page.getParent().resolve(file).normalize();
        if (!Files.exists(resolved)) {
          broken.add(page.getFileName() + ": " + target + " (no such file)");
        } else if (hash >= 0
            && resolved.toString().endsWith(".md")
            && !anchors(resolved).contains(target.substring(hash + 1))) {
          broken.add(page.getFileName() + ": " + target + " (no such heading)");
        }
      }
    }
    assertTrue(broken.isEmpty(), "Broken links:\n  " + String.join("\n  ", broken));
  }

  /** The anchors GitHub gives a page's headings. */
  private static Set<String> anchors(Path page) throws IOException {
    Set<String> anchors = new TreeSet<>();
    boolean code = false;
    for (String line : Files.readAllLines(page)) {
      if (line.startsWith("```")) {
        code = !code;
      } else if (!code && line.matches("#{1,6} .*")) {
        anchors.add(
            line.replaceFirst("#+ ", "")
                .trim()
                .toLowerCase(java.util.Locale.ROOT)
                .replaceAll("[^\\w\\- ]", "")
                .replace(' ', '-'));
      }
    }
    return anchors;
  }

  /** What the code defines, by kind. */
  private static Map<String, Set<String>> defined() throws Exception {
    Map<String, Set<String>> defined = new TreeMap<>();
    Set<String> catalogOptions = new TreeSet<>(constants(CatalogOptions.class));
    catalogOptions.remove(CatalogOptions.CONNECTION_PREFIX);
    defined.put("catalog option", catalogOptions);
    Set<String> connection = new TreeSet<>();
    for (String setting : constants(ConnectionConfig.class)) {
      connection.add(placeholders(CatalogOptions.CONNECTION_PREFIX + "*." + setting));
    }
    defined.put("connection option", connection);
    Set<String> table = new TreeSet<>(TableProperties.KNOWN_KEYS);
    Set<String> sourceSettings = new TreeSet<>(TableProperties.SOURCE_SETTINGS);
    for (SourceKind kind : SourceKind.values()) {
      sourceSettings.addAll(TableProperties.sourceOptions(kind));
    }
    for (String setting : sourceSettings) {
      table.add(placeholders(TableProperties.SOURCE_PREFIX + "*." + setting));
    }
    defined.put("table property", table);
    Set<String> read = new TreeSet<>(constants(ReadOptions.class));
    for (Field field : HarnessSparkTable.class.getFields()) {
      if (field.getName().endsWith("_OPTION") && Modifier.isStatic(field.getModifiers())) {
        read.add((String) field.get(null));
      }
    }
    if (!read.equals(new TreeSet<>(ReadOptions.KNOWN))) {
      throw new AssertionError(
          "ReadOptions.KNOWN " + ReadOptions.KNOWN + " must list the read options " + read);
    }
    defined.put("read option", read);
    Field stableOffset =
        Class.forName("io.dataharness.spark.write.DriverAppends")
            .getDeclaredField("STABLE_OFFSET_TIMEOUT_OPTION");
    stableOffset.setAccessible(true);
    defined.put("write option", Set.of((String) stableOffset.get(null)));
    defined.put("Spark setting", Set.of(ReplaceHarnessRelations.ENABLED));
    HarnessContext catalog =
        (HarnessContext)
            Proxy.newProxyInstance(
                HarnessContext.class.getClassLoader(),
                new Class<?>[] {HarnessContext.class},
                (proxy, method, args) -> method.getName().equals("name") ? "harness" : null);
    for (Identifier identifier : HarnessProcedures.list(new String[] {"system"})) {
      UnboundProcedure procedure = HarnessProcedures.load(catalog, identifier);
      Set<String> arguments = new TreeSet<>();
      for (ProcedureParameter parameter : ((HarnessProcedures.Procedure) procedure).parameters()) {
        arguments.add(parameter.name());
      }
      defined.put("argument of system." + identifier.name(), arguments);
    }
    for (Class<?> job : jobClasses()) {
      Field field = job.getDeclaredField("USAGE");
      field.setAccessible(true);
      JobArguments.Usage usage = (JobArguments.Usage) field.get(null);
      Set<String> options = new TreeSet<>();
      usage.options().forEach(option -> options.add("--" + option.name()));
      defined.put("option of " + job.getSimpleName(), options);
    }
    return defined;
  }

  /** The classes of the jobs package that declare a {@code USAGE}: the spark-submit jobs. */
  private static List<Class<?>> jobClasses() throws IOException, URISyntaxException {
    Path classes =
        Path.of(JobArguments.class.getProtectionDomain().getCodeSource().getLocation().toURI())
            .resolve(JobArguments.class.getPackageName().replace('.', '/'));
    List<Class<?>> jobs = new ArrayList<>();
    try (Stream<Path> files = Files.list(classes)) {
      for (Path file : files.sorted().toList()) {
        String name = file.getFileName().toString();
        if (!name.endsWith(".class") || name.contains("$")) {
          continue;
        }
        try {
          Class<?> type =
              Class.forName(
                  JobArguments.class.getPackageName()
                      + "."
                      + name.substring(0, name.length() - ".class".length()));
          Field usage = type.getDeclaredField("USAGE");
          if (usage.getType() == JobArguments.Usage.class) {
            jobs.add(type);
          }
        } catch (NoSuchFieldException | ClassNotFoundException | LinkageError e) {
          // not a job
        }
      }
    }
    assertTrue(jobs.size() >= 5, "expected the spark-submit jobs in " + classes + ": " + jobs);
    return jobs;
  }

  /** The values of a class's public static final String constants. */
  private static Set<String> constants(Class<?> type) throws IllegalAccessException {
    Set<String> values = new TreeSet<>();
    for (Field field : type.getFields()) {
      int modifiers = field.getModifiers();
      if (field.getType() == String.class
          && Modifier.isStatic(modifiers)
          && Modifier.isFinal(modifiers)) {
        values.add((String) field.get(null));
      }
    }
    return values;
  }

  /**
   * A name as the docs write it: {@code <placeholder>}s, and a trailing prefix, become {@code *}.
   */
  private static String placeholders(String name) {
    String normalized = name.replaceAll("<[^>]*>", "*");
    return normalized.endsWith(".") ? normalized + "*" : normalized;
  }

  /** What the docs' tables name, by the kind their first header cell gives. */
  static Map<String, Set<String>> documented(Path docs) throws IOException {
    Map<String, Set<String>> documented = new TreeMap<>();
    List<Path> pages;
    try (Stream<Path> files = Files.list(docs)) {
      pages = files.filter(file -> file.toString().endsWith(".md")).sorted().toList();
    }
    for (Path page : pages) {
      List<String> lines = Files.readAllLines(page);
      for (int i = 0; i + 1 < lines.size(); i++) {
        Matcher header = HEADER.matcher(lines.get(i));
        if (!header.find()
            || (i > 0 && lines.get(i - 1).startsWith("|"))
            || !lines.get(i + 1).startsWith("| ---")) {
          continue;
        }
        String kind = header.group(1);
        if (!isKind(kind)) {
          continue;
        }
        Set<String> names = documented.computeIfAbsent(kind, k -> new TreeSet<>());
        for (int row = i + 2; row < lines.size() && lines.get(row).startsWith("|"); row++) {
          Matcher cell = HEADER.matcher(lines.get(row));
          if (cell.find()) {
            Matcher name = NAME.matcher(cell.group(1));
            while (name.find()) {
              names.add(placeholders(name.group(1)));
            }
          }
        }
      }
    }
    return documented;
  }

  private static boolean isKind(String header) {
    return Set.of(
                "catalog option",
                "connection option",
                "table property",
                "read option",
                "write option",
                "Spark setting")
            .contains(header)
        || header.startsWith("argument of system.")
        || header.startsWith("option of ");
  }

  private static Path docsDirectory() {
    Path base = Path.of(System.getProperty("basedir", "."));
    for (Path dir = base.toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isDirectory(dir.resolve("docs")) && Files.exists(dir.resolve("README.md"))) {
        return dir.resolve("docs");
      }
    }
    throw new AssertionError("Cannot find docs/ above " + base.toAbsolutePath());
  }
}
