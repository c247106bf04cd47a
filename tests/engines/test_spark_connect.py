"""`kam run --engine spark --spark-master sc://host:port` through a real Spark Connect server.

The server is a local Spark driver with the Connect plugin, started by the module in a child process of
its own, listening on 127.0.0.1 only and requiring a token. `kam run` runs in another process as a thin
client, in an environment where it cannot start a JVM of its own: the staging of the large sources, the
intermediate models and account_lifecycle are computed by the server (its event log says which files it
read), and what the run publishes must be what the DuckDB engine publishes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_spark_parity import TABLES, _differences, _rows

from kam_pipeline.cli import main
from kam_pipeline.demo.generate import generate_dataset
from kam_pipeline.engines.spark import CONNECT_TIMEOUT_S, shown
from kam_pipeline.engines.spark_sql import SESSION_CONF

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 6, 2)
TOKEN = "kam-connect-test"
# The sources a Spark run stages on Spark (from the archived copies of their CSV files).
SPARK_STAGED = ("orders", "invoices", "complaints", "surveys")
KAM = [sys.executable, "-m", "kam_pipeline.cli"]
# Generous: two cores shared with other jobs can make a JVM take minutes to start and a run to finish.
START_TIMEOUT_S = 300
RUN_TIMEOUT_S = 900

# A Spark Connect server: `argv[1]` its settings (JSON), up until its standard input closes. It is what
# `SparkSession.builder.remote("local[2]")` starts, configured directly: that client would look for
# its server on the default port 15002, which another job on the machine may hold.
SERVER = """
import json, sys
from pyspark.sql import SparkSession
builder = SparkSession.builder.master("local[2]")
for key, value in json.loads(sys.argv[1]).items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
print("ready", flush=True)
sys.stdin.read()
spark.stop()
"""


@dataclass(frozen=True)
class ConnectServer:
    url: str
    events: Path  # the server's Spark event log folder
    log: Path  # its standard error

    def connect_queries(self) -> list[dict]:
        """The SQL executions the server ran for Spark Connect clients (their jobs carry a Connect
        operation's tag), from its event log: each with `physicalPlanDescription` (the files it read)
        and `modifiedConfigs` (the session's settings)."""
        queries = []
        for path in sorted(self.events.rglob("events_*")):
            with path.open(errors="replace") as lines:
                for line in lines:
                    if "SparkListenerSQLExecutionStart" in line:
                        event = json.loads(line)
                        if any(tag.startswith("SparkConnect_OperationTag_") for tag in event.get("jobTags", [])):
                            queries.append(event)
        return queries

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    """A Spark Connect server running for this module, stopped (with its JVM) whatever happens."""
    folder = tmp_path_factory.mktemp("connect_server")
    port = _free_port()
    conf = {
        "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.authenticate.token": TOKEN,
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.compress": "false",
        "spark.eventLog.dir": str(folder / "events"),
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
    }
    (folder / "events").mkdir()
    server = ConnectServer(f"sc://localhost:{port}/;token={TOKEN}", folder / "events", folder / "server.log")
    with server.log.open("w") as log:
        # Its own process group: the JVM pyspark launches is in it too, and is stopped with it.
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(conf)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=START_TIMEOUT_S) and proc.stdout.readline().strip() == "ready"
        assert ready, f"the Spark Connect server did not start:\n{server.log_tail()}"
        deadline = time.monotonic() + 60
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _listening(port), f"the Spark Connect server does not listen on {port}:\n{server.log_tail()}"
        yield server
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the server if it did not stop, and any JVM it left
        except ProcessLookupError:
            pass
        proc.wait()


@pytest.fixture(scope="module")
def client_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the `kam` processes: a JAVA_HOME without Java, so a local driver cannot start."""
    return {**os.environ, "JAVA_HOME": str(tmp_path_factory.mktemp("no_java"))}


def kam(*args: str, env: dict[str, str], timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([*KAM, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("connect_data")
    # One daily order file besides orders.csv: each file is a Spark read of its own (seconds each).
    generate_dataset(folder, accounts=8, days=200, seed=5, end=AS_OF - dt.timedelta(days=1), daily_files=1)
    return folder


def test_the_clients_environment_cannot_start_a_local_spark_driver(client_env):
    """What makes the next test's point: in this environment only a Spark Connect server can run the work."""
    code = "from pyspark.sql import SparkSession; SparkSession.builder.master('local[1]').getOrCreate()"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=START_TIMEOUT_S, env=client_env
    )
    assert proc.returncode != 0
    assert "JAVA_GATEWAY_EXITED" in proc.stderr, proc.stderr[-2000:]


def test_a_run_through_spark_connect_publishes_what_duckdb_publishes(connect_server, client_env, data, tmp_path):
    dbs = {engine: tmp_path / engine / "kam.duckdb" for engine in ("duckdb", "connect")}
    assert main(["run", "--data", str(data), "--db", str(dbs["duckdb"]), "--as-of", AS_OF.isoformat(), "--quiet"]) == 0
    proc = kam(
        "run", "--engine", "spark", "--spark-master", connect_server.url, "--data", str(data),
        "--db", str(dbs["connect"]), "--as-of", AS_OF.isoformat(), "--quiet", env=client_env,
    )  # fmt: skip
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\nserver:\n{connect_server.log_tail()}"
    for table in TABLES:
        columns, expected = _rows(dbs["duckdb"], table)
        got_columns, got = _rows(dbs["connect"], table)
        assert got_columns == columns
        assert len(got) == len(expected) > 0, table
        assert _differences(columns, expected, got) == [], table
    # The server ran the Spark work for its Spark Connect client, with the settings the translation
    # relies on: it read every archived file of the sources staged on Spark, and the staged rows the
    # run wrote for the models.
    queries = connect_server.connect_queries()
    assert queries, f"no Spark Connect query in the server's event log:\n{connect_server.log_tail()}"
    assert [q["modifiedConfigs"] for q in queries if not SESSION_CONF.items() <= q["modifiedConfigs"].items()] == []
    plans = "\n".join(q["physicalPlanDescription"] for q in queries)
    work = dbs["connect"].with_name("kam.work.duckdb")
    archived = [path for source in SPARK_STAGED for path in sorted((work.with_suffix(".delivered") / source).glob("*"))]
    assert len(archived) >= len(SPARK_STAGED)
    assert [path for path in archived if str(path.resolve()) not in plans] == []
    assert str((work.with_name(work.name + ".spark") / "staging" / "staging_orders.parquet").resolve()) in plans


def test_a_wrong_token_fails_in_one_line_that_hides_the_token(connect_server, client_env, data, tmp_path):
    url = connect_server.url.replace(TOKEN, "not-the-token")
    proc = kam(
        "run", "--engine", "spark", "--spark-master", url, "--data", str(data), "--db", str(tmp_path / "kam.duckdb"),
        "--as-of", AS_OF.isoformat(), env=client_env,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"kam: error: ingest_sources: SparkUnavailable: cannot start Spark at {url.replace('not-the-token', '...')}: "
        "UNAUTHENTICATED: Invalid authentication token"
    )
    assert "not-the-token" not in proc.stdout + proc.stderr


def test_a_spark_connect_url_with_no_server_fails_at_once_in_one_line(client_env, data, tmp_path):
    port = _free_port()
    # pyspark's client would retry for ten minutes; the run must not (the timeout would fail the test).
    proc = kam(
        "run", "--engine", "spark", "--spark-master", f"sc://localhost:{port}", "--data", str(data),
        "--db", str(tmp_path / "kam.duckdb"), "--as-of", AS_OF.isoformat(), env=client_env, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"kam: error: ingest_sources: SparkUnavailable: cannot start Spark at sc://localhost:{port}: "
        f"no Spark Connect server at localhost:{port} (Connection refused)"
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where something accepts connections and never says anything (no TLS, no HTTP/2)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def _fails_without_a_handshake(url: str, client_env: dict[str, str], data: Path, db: Path) -> None:
    """`kam run` at `url` (a token, a host other than localhost: pyspark's client speaks TLS) fails within
    the handshake's timeout in one line that names the URL without its token and the likely cause."""
    started = time.monotonic()
    # pyspark's client alone would wait ten minutes for its first call; the timeout would fail the test.
    proc = kam(
        "run", "--engine", "spark", "--spark-master", url, "--data", str(data), "--db", str(db),
        "--as-of", AS_OF.isoformat(), env=client_env, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    endpoint = url.removeprefix("sc://").split("/", 1)[0]
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"kam: error: ingest_sources: SparkUnavailable: cannot start Spark at {shown(url)}: no handshake with "
        f"{endpoint} in {CONNECT_TIMEOUT_S:.0f} s (with a token, pyspark's client speaks TLS to any host but "
        "localhost, and the server did not complete a TLS handshake; a server without TLS takes a token only "
        "at sc://localhost:PORT)"
    )
    assert "Traceback" not in proc.stderr
    assert "secret-token" not in proc.stdout + proc.stderr
    # The process's start and the ingest up to Spark take seconds; the wait is the handshake's timeout.
    assert CONNECT_TIMEOUT_S <= elapsed < CONNECT_TIMEOUT_S + 120, elapsed


def test_a_server_that_never_answers_a_tls_handshake_fails_in_one_line(silent_port, client_env, data, tmp_path):
    url = f"sc://127.0.0.1:{silent_port}/;token=secret-token"
    _fails_without_a_handshake(url, client_env, data, tmp_path / "kam.duckdb")


def test_a_token_to_a_server_without_tls_at_127_0_0_1_fails_in_one_line(connect_server, client_env, data, tmp_path):
    """The real server speaks plain gRPC: given a token, pyspark's client speaks TLS to it unless the host is
    the literal `localhost`, and its first call would hang."""
    url = connect_server.url.replace("sc://localhost:", "sc://127.0.0.1:").replace(TOKEN, "secret-token")
    _fails_without_a_handshake(url, client_env, data, tmp_path / "kam.duckdb")
