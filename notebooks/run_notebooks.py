#!/usr/bin/env python3
"""Executes every notebook in this directory against fresh local services.

    python3 run_notebooks.py --jars-dir target/spark-jars \
        --services-classpath ../harness-quickstart/target --work-dir target
    python3 run_notebooks.py --only 07,08   # only the notebooks whose names start with 07 or 08
    python3 run_notebooks.py --no-local-services   # against the services DATAHARNESS_* name
    python3 run_notebooks.py --strip        # remove outputs from the notebooks (before committing)
    python3 run_notebooks.py --venv-only    # only create target/venv (for Jupyter)

Run by `./mvnw -B verify` (module `notebooks`, integration-test phase). It creates a venv under
the work directory with the pinned requirements.txt, checks that the committed notebooks carry no
outputs, starts io.dataharness.quickstart.LocalServices (PostgreSQL, Kafka, Iceberg catalog,
embedded metadata store), executes each notebook in memory with nbclient (outputs are never written
back) and stops the services. Any failing cell fails the run with that cell's error.

With --no-local-services it starts nothing: the notebooks find the services through the
DATAHARNESS_* environment variables (or the DATAHARNESS_SERVICES file) described in
harness_local.py. Maven passes --only from -Dnotebooks.only=07,08 (default: every notebook).
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")


def notebooks():
    return sorted(glob.glob(os.path.join(HERE, "*.ipynb")))


def strip(paths):
    import nbformat

    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for cell in notebook.cells:
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count):
                cell.outputs, cell.execution_count = [], None
                changed = True
        if changed:
            nbformat.write(notebook, path)
            print(f"stripped outputs of {os.path.basename(path)}")


def unstripped(paths):
    with_outputs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            notebook = json.load(f)
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                with_outputs.append(os.path.basename(path))
                break
    return with_outputs


def ensure_venv(work_dir):
    """Re-executes this script inside target/venv with requirements.txt installed."""
    venv_dir = os.path.join(work_dir, "venv")
    python = os.path.join(venv_dir, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv_dir):
        return
    with open(REQUIREMENTS, "rb") as f:
        wanted = hashlib.sha256(f.read()).hexdigest()
    marker = os.path.join(venv_dir, ".requirements-sha256")
    installed = open(marker).read().strip() if os.path.exists(marker) else None
    if installed != wanted:
        started = time.time()
        if not os.path.exists(python):
            print(f"Creating venv {venv_dir}", flush=True)
            venv.EnvBuilder(with_pip=True).create(venv_dir)
        print("Installing requirements.txt (PySpark is a large download the first time)", flush=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", REQUIREMENTS], check=True)
        with open(marker, "w") as f:
            f.write(wanted)
        print(f"venv ready in {time.time() - started:.0f} s", flush=True)
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


def start_services(classpath_dir, work_dir):
    data = os.path.join(work_dir, "notebooks-data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(os.path.join(data, "tmp"))
    services_json = os.path.join(work_dir, "local-services.json")
    if os.path.exists(services_json):
        os.remove(services_json)
    with open(os.path.join(classpath_dir, "jvm-flags.txt")) as f:
        flags = f.read().split()
    with open(os.path.join(classpath_dir, "classpath.txt")) as f:
        classpath = os.path.join(classpath_dir, "classes") + os.pathsep + f.read().strip()
    log = open(os.path.join(work_dir, "local-services.log"), "w")
    process = subprocess.Popen(
        ["java", *flags, "-Xmx1g", f"-Djava.io.tmpdir={os.path.join(data, 'tmp')}",
         "-Dlog4j2.configurationFile=log4j2-quickstart.properties", "-cp", classpath,
         "io.dataharness.quickstart.LocalServices", "--output", services_json, "--data-dir", data],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while not os.path.exists(services_json):
        if process.poll() is not None or time.time() > deadline:
            stop_services(process)
            raise SystemExit(f"LocalServices did not start; see {log.name}")
        time.sleep(0.5)
    return process, services_json


def stop_services(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def service_variables(services_json):
    """The DATAHARNESS_* variables that name the services of a LocalServices JSON file."""
    with open(services_json) as f:
        local = json.load(f)
    return {
        "DATAHARNESS_KAFKA_BOOTSTRAP_SERVERS": local["kafka"]["bootstrap_servers"],
        "DATAHARNESS_PG_JDBC_URL": local["postgres"]["jdbc_url"],
        "DATAHARNESS_PG_USER": local["postgres"]["user"],
        "DATAHARNESS_PG_PASSWORD": local["postgres"]["password"],
        "DATAHARNESS_ICEBERG_CATALOG": json.dumps(local["iceberg_catalog"]),
        "DATAHARNESS_METADATA_URI": local["metadata_uri"],
        "DATAHARNESS_SERVICES": "",  # no file: the variables alone
    }


def execute(paths, services_json, jars_dir):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if services_json:
        os.environ["DATAHARNESS_SERVICES"] = services_json
    os.environ["DATAHARNESS_JARS"] = jars_dir
    base = dict(os.environ)
    failures = []
    for path in paths:
        name = os.path.basename(path)
        started = time.time()
        # Each kernel inherits this environment. 01 finds the local services through their JSON
        # file (the default); the others get them as DATAHARNESS_* variables, as a user gives
        # other services, so that both ways stay tested.
        os.environ.clear()
        os.environ.update(base)
        how = ""
        if services_json and not name.startswith("01"):
            os.environ.update(service_variables(services_json))
            how = " (services from DATAHARNESS_* variables)"
        print(f"Running {name}{how} ...", flush=True)
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": HERE}})
        try:
            client.execute()
            print(f"  {name}: {len(notebook.cells)} cells ok in {time.time() - started:.0f} s",
                  flush=True)
        except CellExecutionError as error:
            print(f"  {name}: FAILED after {time.time() - started:.0f} s\n{error}", flush=True)
            failures.append(name)
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strip", action="store_true", help="strip outputs and exit")
    parser.add_argument("--venv-only", action="store_true",
                        help="create target/venv with requirements.txt and exit")
    parser.add_argument("--jars-dir", default=os.path.join(HERE, "target", "spark-jars"))
    parser.add_argument("--services-classpath",
                        default=os.path.join(HERE, "..", "harness-quickstart", "target"))
    parser.add_argument("--work-dir", default=os.path.join(HERE, "target"))
    parser.add_argument("--only", default="",
                        help="comma-separated name prefixes of the notebooks to run, such as 07,08"
                             " (default: all)")
    parser.add_argument("--no-local-services", action="store_true",
                        help="start no services: the notebooks use the DATAHARNESS_* environment"
                             " variables (see harness_local.py)")
    parser.add_argument("notebook", nargs="*", help="notebooks to run (default: all)")
    args = parser.parse_args()
    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    ensure_venv(work_dir)
    if args.venv_only:
        print(f"venv ready: {sys.prefix}")
        return
    paths = [os.path.abspath(p) for p in args.notebook] or notebooks()
    prefixes = [p.strip() for p in args.only.split(",") if p.strip()]
    if prefixes:
        paths = [p for p in paths if any(os.path.basename(p).startswith(x) for x in prefixes)]
        if not paths:
            raise SystemExit(f"No notebook starts with {', '.join(prefixes)}; the notebooks are "
                             + ", ".join(os.path.basename(p) for p in notebooks()))
    if args.strip:
        strip(paths)
        return
    with_outputs = unstripped(paths)
    if with_outputs:
        raise SystemExit(f"Notebooks committed with outputs: {', '.join(with_outputs)}; "
                         "run `python3 notebooks/run_notebooks.py --strip`")
    started = time.time()
    if args.no_local_services:
        process, services_json = None, None
    else:
        process, services_json = start_services(os.path.abspath(args.services_classpath), work_dir)
        print(f"LocalServices up in {time.time() - started:.0f} s ({services_json})", flush=True)
    jars = os.environ.get("DATAHARNESS_JARS") if args.no_local_services else None
    environment = dict(os.environ)
    try:
        failures = execute(paths, services_json, jars or os.path.abspath(args.jars_dir))
    finally:
        os.environ.clear()
        os.environ.update(environment)
        if process:
            stop_services(process)
    if failures:
        raise SystemExit(f"{len(failures)} notebook(s) failed: {', '.join(failures)}")
    print(f"All {len(paths)} notebooks passed in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
