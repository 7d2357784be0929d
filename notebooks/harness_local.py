"""Helpers for the notebooks: where the services are, a SparkSession wired to them, the move/sync
step, Kafka topics and messages, PostgreSQL connections and `spark-submit` jobs.

Where the services are. By default the local services started by
io.dataharness.quickstart.LocalServices, which writes their addresses to a JSON file
(DATAHARNESS_SERVICES, default notebooks/target/local-services.json). Each address can be given
instead by an environment variable, so the notebooks run against any services:

    DATAHARNESS_SERVICES                 a JSON file in the shape LocalServices writes; not needed
                                         when the first four variables below are set (set it empty
                                         to read no file at all)
    DATAHARNESS_KAFKA_BOOTSTRAP_SERVERS  Kafka bootstrap servers, host:port[,host:port]
    DATAHARNESS_KAFKA_PROPERTIES         Kafka client properties as a JSON object, such as
                                         {"security.protocol": "SASL_SSL", "sasl.mechanism": ...}
    DATAHARNESS_PG_JDBC_URL              PostgreSQL database of the jdbc sources,
                                         jdbc:postgresql://host:5432/db
    DATAHARNESS_PG_USER, DATAHARNESS_PG_PASSWORD   its credentials
    DATAHARNESS_ICEBERG_CATALOG          the Iceberg catalog `lake` as a JSON object of Iceberg
                                         catalog properties, such as
                                         {"type": "rest", "uri": "https://...", "warehouse": "..."}
    DATAHARNESS_METADATA_URI             the harness metadata store, jdbc:postgresql://... or
                                         jdbc:h2:file:/path/harness
    DATAHARNESS_METADATA_USER, DATAHARNESS_METADATA_PASSWORD   its credentials
    DATAHARNESS_JARS                     a directory of jars, or a comma-separated list of jars
                                         (default notebooks/target/spark-jars, filled by
                                         `./mvnw -B -pl notebooks -am package -DskipTests`)
    DATAHARNESS_SPARK_MASTER             the Spark master of sessions and jobs (default local[2])

Secrets (passwords, Kafka properties such as sasl.jaas.config) never appear in what these helpers
print: `describe()` masks them, and `spark_submit` hands the Spark settings to the job in a
properties file readable by its owner only, never on the command line.
"""
import glob
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SERVICES = os.path.join(HERE, "target", "local-services.json")
DEFAULT_JARS = os.path.join(HERE, "target", "spark-jars")
RUNTIME_JAR = "harness-spark-runtime-"
# harness-spark-runtime-<spark>_<scala>-<version>.jar
_RUNTIME_JAR_NAME = re.compile(r"harness-spark-runtime-\d+\.\d+_\d+\.\d+-.+\.jar$")

_SECRET = re.compile(r"(?i)password|secret|token|credential|jaas|user\.?info|(^|[._-])key($|[._-])")


def is_secret(key):
    """True for a setting whose value is a secret (the rule of io.dataharness.metadata.Secrets)."""
    return bool(_SECRET.search(key))


def mask_url(url):
    """A URL with the password of user:password@ and every password-like parameter masked."""
    url = re.sub(r"(//[^/:@?;]+:)[^@/]*@", r"\1***@", url)
    return re.sub(r"(?i)([?&;][^=&;]*(password|secret|token)[^=&;]*=)[^&;]*", r"\1***", url)


def _env_json(name):
    value = os.environ.get(name)
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise RuntimeError(f"Cannot read {name}: it is not JSON ({error.msg}); give a JSON object "
                           f"such as '{{\"key\": \"value\"}}'") from None
    if not isinstance(parsed, dict):
        raise RuntimeError(f"Cannot read {name}: it is not a JSON object; give one such as "
                           "'{\"key\": \"value\"}'")
    return {str(k): str(v) for k, v in parsed.items()}


def services():
    """The services' addresses: the LocalServices JSON file, overridden by DATAHARNESS_* variables.

    Returns a dict with `kafka` (bootstrap_servers, properties), `postgres` (jdbc_url, user,
    password), `iceberg_catalog` (catalog properties), `metadata` (uri, user, password),
    `metadata_uri`, `spark_conf` (the Spark settings of the catalogs `lake` and `harness`) and
    `descriptions` (one line per service, secrets masked).
    """
    env = os.environ
    path = env.get("DATAHARNESS_SERVICES", DEFAULT_SERVICES)
    complete = all(env.get(name) for name in (
        "DATAHARNESS_KAFKA_BOOTSTRAP_SERVERS", "DATAHARNESS_PG_JDBC_URL",
        "DATAHARNESS_ICEBERG_CATALOG", "DATAHARNESS_METADATA_URI"))
    local = {}
    if path and os.path.exists(path):
        with open(path) as f:
            local = json.load(f)
    elif path and (not complete or "DATAHARNESS_SERVICES" in env):
        raise RuntimeError(
            f"Cannot find the services: {path} does not exist; start LocalServices (see the "
            "README's Notebooks section) or set DATAHARNESS_KAFKA_BOOTSTRAP_SERVERS, "
            "DATAHARNESS_PG_JDBC_URL, DATAHARNESS_ICEBERG_CATALOG and DATAHARNESS_METADATA_URI")
    local_pg = local.get("postgres", {})
    result = {
        "kafka": {
            "bootstrap_servers": env.get("DATAHARNESS_KAFKA_BOOTSTRAP_SERVERS")
            or local.get("kafka", {}).get("bootstrap_servers"),
            "properties": _env_json("DATAHARNESS_KAFKA_PROPERTIES") or {},
        },
        "postgres": {
            "jdbc_url": env.get("DATAHARNESS_PG_JDBC_URL") or local_pg.get("jdbc_url"),
            "user": env.get("DATAHARNESS_PG_USER") or local_pg.get("user"),
            "password": env.get("DATAHARNESS_PG_PASSWORD") or local_pg.get("password"),
        },
        "iceberg_catalog": _env_json("DATAHARNESS_ICEBERG_CATALOG")
        or local.get("iceberg_catalog", {}),
        "metadata": {
            "uri": env.get("DATAHARNESS_METADATA_URI") or local.get("metadata_uri"),
            "user": env.get("DATAHARNESS_METADATA_USER"),
            "password": env.get("DATAHARNESS_METADATA_PASSWORD"),
        },
    }
    missing = [name for name, value in (
        ("DATAHARNESS_KAFKA_BOOTSTRAP_SERVERS", result["kafka"]["bootstrap_servers"]),
        ("DATAHARNESS_PG_JDBC_URL", result["postgres"]["jdbc_url"]),
        ("DATAHARNESS_ICEBERG_CATALOG", result["iceberg_catalog"]),
        ("DATAHARNESS_METADATA_URI", result["metadata"]["uri"])) if not value]
    if missing:
        raise RuntimeError(f"Cannot find the services: {path or 'no services file'} does not"
                           " give them; set "
                           + ", ".join(missing))
    result["metadata_uri"] = result["metadata"]["uri"]
    result["spark_conf"] = _spark_conf(result)
    result["descriptions"] = _descriptions(result, local.get("descriptions") if local else None,
                                           env)
    return result


def _spark_conf(s):
    conf = {"spark.sql.catalog.lake": "org.apache.iceberg.spark.SparkCatalog"}
    for key, value in s["iceberg_catalog"].items():
        conf[f"spark.sql.catalog.lake.{key}"] = value
    harness = "spark.sql.catalog.harness"
    conf[harness] = "io.dataharness.spark.HarnessCatalog"
    conf[f"{harness}.uri"] = s["metadata"]["uri"]
    for key in ("user", "password"):
        if s["metadata"][key]:
            conf[f"{harness}.{key}"] = s["metadata"][key]
    conf[f"{harness}.connection.kafka.kind"] = "kafka"
    conf[f"{harness}.connection.kafka.bootstrap-servers"] = s["kafka"]["bootstrap_servers"]
    for key, value in s["kafka"]["properties"].items():
        conf[f"{harness}.connection.kafka.kafka.{key}"] = value
    conf[f"{harness}.connection.pg.kind"] = "jdbc"
    conf[f"{harness}.connection.pg.url"] = s["postgres"]["jdbc_url"]
    for key in ("user", "password"):
        if s["postgres"][key]:
            conf[f"{harness}.connection.pg.{key}"] = s["postgres"][key]
    conf[f"{harness}.connection.lake.kind"] = "iceberg"
    conf[f"{harness}.connection.lake.spark-catalog"] = "lake"
    return conf


def _descriptions(s, local_descriptions, env):
    overridden = any(name.startswith("DATAHARNESS_") and name not in (
        "DATAHARNESS_SERVICES", "DATAHARNESS_JARS", "DATAHARNESS_SPARK_MASTER") for name in env)
    if local_descriptions and not overridden:
        return local_descriptions
    iceberg = ", ".join(f"{k}={'***' if is_secret(k) else mask_url(v)}"
                        for k, v in s["iceberg_catalog"].items())
    kafka_properties = ", ".join(f"{k}={'***' if is_secret(k) else v}"
                                 for k, v in s["kafka"]["properties"].items())
    return {
        "PostgreSQL": f"{mask_url(s['postgres']['jdbc_url'])} as {s['postgres']['user']}",
        "Kafka": s["kafka"]["bootstrap_servers"]
        + (f" ({kafka_properties})" if kafka_properties else ""),
        "Iceberg": f"catalog lake: {iceberg}",
        "Harness metadata": mask_url(s["metadata"]["uri"])
        + (f" as {s['metadata']['user']}" if s["metadata"]["user"] else ""),
    }


def describe(s=None):
    """Prints where each service is, secrets masked."""
    for name, where in (s or services())["descriptions"].items():
        print(f"{name:17} {where}")


def jar_paths():
    """The jars Spark needs: the harness runtime jar, Iceberg's Spark runtime, Spark's Kafka
    connector and its dependencies."""
    where = os.environ.get("DATAHARNESS_JARS", DEFAULT_JARS)
    if os.path.isdir(where):
        jars = sorted(glob.glob(os.path.join(where, "*.jar")))
    else:
        jars = [jar for jar in where.split(",") if jar]
    if not jars:
        raise RuntimeError(f"No jars in {where}: run ./mvnw -B -pl notebooks -am package "
                           "-DskipTests, or set DATAHARNESS_JARS")
    return jars


def spark_jars():
    return ",".join(jar_paths())


def runtime_jar():
    """The harness runtime jar (harness-spark-runtime-<spark>_<scala>-<version>.jar)."""
    jars = [jar for jar in jar_paths() if _RUNTIME_JAR_NAME.match(os.path.basename(jar))]
    if len(jars) != 1:
        raise RuntimeError(f"Expected one {RUNTIME_JAR}*.jar among the jars, found {jars}")
    return jars[0]


def _session_conf(app_name):
    return {
        "spark.app.name": app_name,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.driver.host": "localhost",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.session.timeZone": "UTC",
    }


def spark_session(app_name):
    """A SparkSession with the Iceberg catalog `lake` and the harness catalog `harness`."""
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(os.environ.get("DATAHARNESS_SPARK_MASTER", "local[2]"))
               .config("spark.jars", spark_jars()))
    for key, value in {**_session_conf(app_name), **services()["spark_conf"]}.items():
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


# --- Kafka -------------------------------------------------------------------------------------

def kafka_options(s=None):
    """The options of Spark's Kafka reader and writer for these services."""
    s = s or services()
    options = {"kafka.bootstrap.servers": s["kafka"]["bootstrap_servers"]}
    for key, value in s["kafka"]["properties"].items():
        options[f"kafka.{key}"] = value
    return options


def create_topic(spark, topic, partitions):
    """Creates a Kafka topic (the broker's default replication) unless it exists, with the Kafka
    admin client of Spark's JVM."""
    jvm = spark._jvm
    properties = jvm.java.util.Properties()
    for key, value in kafka_options().items():
        properties.setProperty(key.removeprefix("kafka."), value)
    admin = jvm.org.apache.kafka.clients.admin.Admin.create(properties)
    try:
        new_topic = jvm.org.apache.kafka.clients.admin.NewTopic(
            topic, jvm.java.util.Optional.of(partitions), jvm.java.util.Optional.empty())
        try:
            admin.createTopics(jvm.java.util.List.of(new_topic)).all().get()
        except Exception as error:  # py4j wraps the ExecutionException
            if "TopicExistsException" not in str(error):
                raise
    finally:
        admin.close()


def produce(spark, topic, rows, partition_of=None):
    """Writes each row (a dict) as one JSON message to a Kafka topic with Spark's Kafka sink, in
    order; partition_of(row) picks a row's partition (default: Kafka's partitioner)."""
    names = ", ".join(f"`{name}`" for name in rows[0])
    columns = [f"to_json(struct({names})) AS value"]
    if partition_of is None:
        frame = spark.createDataFrame(rows)
    else:
        frame = spark.createDataFrame([{**row, "_p": partition_of(row)} for row in rows])
        columns.append("CAST(_p AS INT) AS partition")
    # one task writes them all, so each partition gets its messages in the order of `rows`
    writer = frame.coalesce(1).selectExpr(*columns).write.format("kafka").option("topic", topic)
    for key, value in kafka_options().items():
        writer = writer.option(key, value)
    writer.save()


# --- PostgreSQL --------------------------------------------------------------------------------

def postgres():
    """A psycopg connection (autocommit) to the database of the jdbc sources."""
    import psycopg

    pg = services()["postgres"]
    return psycopg.connect(pg["jdbc_url"].removeprefix("jdbc:"), user=pg["user"],
                           password=pg["password"], autocommit=True)


# --- spark-submit jobs -------------------------------------------------------------------------

JobResult = namedtuple("JobResult", "exit_code result stdout stderr seconds")


def spark_submit_command(job, *args, properties_file="<properties file>"):
    """The spark-submit command line of a DataHarness job (the settings are in a properties file)."""
    import pyspark

    spark_submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    others = [jar for jar in jar_paths() if jar != runtime_jar()]
    return [spark_submit, "--master", os.environ.get("DATAHARNESS_SPARK_MASTER", "local[2]"),
            "--properties-file", properties_file, "--jars", ",".join(others),
            "--class", f"io.dataharness.spark.jobs.{job}", runtime_jar(), *args]


def _properties_file(app_name):
    handle, path = tempfile.mkstemp(prefix="dataharness-job-", suffix=".properties")
    os.fchmod(handle, stat.S_IRUSR | stat.S_IWUSR)
    settings = {**_session_conf(app_name), **services()["spark_conf"]}
    with os.fdopen(handle, "w") as f:
        for key, value in settings.items():
            escaped = value.replace("\\", "\\\\").replace("\n", "\\n")
            f.write(f"{key}={escaped}\n")
    return path


def _short(part):
    """A command line part with its jars' and spark-submit's directories left out."""
    if "/bin/" in part or part.endswith(".jar"):
        return ",".join(os.path.basename(path) for path in part.split(","))
    return part


def start_job(job, *args, log_dir=None):
    """Starts a DataHarness job with spark-submit in a process of its own; returns the Popen, with
    its stdout and stderr going to files (`process.stdout_path`, `process.stderr_path`)."""
    properties = _properties_file(f"{job} from a notebook")
    command = spark_submit_command(job, *args, properties_file=properties)
    print("$", " ".join(shlex.quote(_short(part)) for part in command))
    own_log_dir = log_dir is None
    log_dir = log_dir or tempfile.mkdtemp(prefix=f"dataharness-{job}-")
    stdout_path, stderr_path = os.path.join(log_dir, "stdout"), os.path.join(log_dir, "stderr")
    environment = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    environment.pop("PYSPARK_SUBMIT_ARGS", None)
    with open(stdout_path, "w") as out, open(stderr_path, "w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=environment,
                                   start_new_session=True)
    process.stdout_path, process.stderr_path = stdout_path, stderr_path
    process.properties_path, process.started = properties, time.time()
    process.log_dir = log_dir if own_log_dir else None
    return process


def finish_job(process, timeout=600):
    """Waits for a job started by start_job; returns its JobResult (exit code, the JSON object of
    its last stdout line or None, stdout, stderr, seconds)."""
    try:
        exit_code = process.wait(timeout=timeout)
    finally:
        if os.path.exists(process.properties_path):
            os.remove(process.properties_path)
    with open(process.stdout_path) as f:
        stdout = f.read()
    with open(process.stderr_path) as f:
        stderr = f.read()
    if process.log_dir:
        shutil.rmtree(process.log_dir, ignore_errors=True)
    lines = [line for line in stdout.splitlines() if line.strip()]
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            result = None
    return JobResult(exit_code, result, stdout, stderr, time.time() - process.started)


def spark_submit(job, *args, timeout=600):
    """Runs a DataHarness job with spark-submit and waits for it (see finish_job)."""
    return finish_job(start_job(job, *args), timeout=timeout)
