"""Helpers for the notebooks: a SparkSession wired to the local services, and the move/sync step.

The local services (PostgreSQL, Kafka, Iceberg catalog, embedded metadata store) are started by
io.dataharness.quickstart.LocalServices, which writes their addresses to a JSON file
(DATAHARNESS_SERVICES, default target/local-services.json). The jars come from DATAHARNESS_JARS
(default target/spark-jars, filled by `./mvnw -B -pl notebooks -am package`).
"""
import glob
import json
import os

from pyspark.sql import SparkSession

HERE = os.path.dirname(os.path.abspath(__file__))


def services():
    path = os.environ.get("DATAHARNESS_SERVICES", os.path.join(HERE, "target", "local-services.json"))
    with open(path) as f:
        return json.load(f)


def spark_jars():
    jars_dir = os.environ.get("DATAHARNESS_JARS", os.path.join(HERE, "target", "spark-jars"))
    jars = sorted(glob.glob(os.path.join(jars_dir, "*.jar")))
    if not jars:
        raise RuntimeError(f"No jars in {jars_dir}: run ./mvnw -B -pl notebooks -am package -DskipTests")
    return ",".join(jars)


def spark_session(app_name):
    """A local SparkSession with the Iceberg catalog `lake` and the harness catalog `harness`."""
    builder = (SparkSession.builder.master("local[2]").appName(app_name)
               .config("spark.jars", spark_jars())
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.driver.host", "localhost")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.session.timeZone", "UTC"))
    for key, value in services()["spark_conf"].items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def move(spark, table, source, target, max_rows):
    """Moves at most max_rows rows of harness table `table` (namespace.name) from source to target."""
    row = spark.sql(
        f"CALL harness.system.move(table => '{table}', source => '{source}', "
        f"target => '{target}', max_rows => {max_rows})"
    ).collect()[0]
    print(f"moved {row['rows_moved']} rows {source} -> {target}; version {row['version']}")
    return row["version"]


def sync(spark, table):
    """Records the sources' current ends (Kafka end offsets, PostgreSQL read timestamp)."""
    row = spark.sql(f"CALL harness.system.sync(table => '{table}')").collect()[0]
    print(f"synced: version {row['version']}")
    return row["version"]
