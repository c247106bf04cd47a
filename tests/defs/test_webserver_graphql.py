"""The real Dagster server: `dagster dev` on loopback, queried and driven through its GraphQL API.

One server for the module, started against workspace.yaml with the example
production instance (deploy/dagster.yaml) in a temporary DAGSTER_HOME and a small
generated data set; always terminated, whatever happens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from kam_pipeline.demo.generate import generate_dataset

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 7, 1)
START_TIMEOUT = 180
RUN_TIMEOUT = 300


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A `dagster dev` process group on 127.0.0.1 and a tiny GraphQL client for it."""

    def __init__(self, port: int, process: subprocess.Popen, log: Path):
        self.port, self.process, self.log = port, process, log

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """Return the `data` of a GraphQL query; fail the test on GraphQL errors."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def wait_until_loaded(self) -> str:
        """Wait until the code location is loaded; return its name."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dagster dev exited:\n{self.log.read_text()[-3000:]}"
            try:
                data = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
                    " locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["loadStatus"] == "LOADED":
                    location = entries[0]["locationOrLoadError"]
                    assert location["__typename"] == "RepositoryLocation", location
                    return entries[0]["name"]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        pytest.fail(f"dagster dev did not load the workspace in {START_TIMEOUT} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Terminate the whole process group (webserver, daemon, code server, run workers)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("webserver")
    data, home = root / "data", root / "dagster_home"
    generate_dataset(data, accounts=12, days=400, end=AS_OF - dt.timedelta(days=1))
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAM_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        KAM_DATA_DIR=str(data),
        KAM_DB_PATH=str(root / "kam.duckdb"),
        KAM_PARTITION_START="2026-01-01",
    )
    port = _free_port()
    log = root / "dagster_dev.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    srv = Server(port, process, log)
    try:
        srv.location = srv.wait_until_loaded()
        srv.db_path = root / "kam.duckdb"
        yield srv
    finally:
        srv.stop()


ASSETS = """{ assetNodes { assetKey { path } groupName isPartitioned pools
  internalFreshnessPolicy { __typename ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } }
  assetChecksOrError { __typename ... on AssetChecks { checks { name blocking
    executionForLatestMaterialization { status } } } } } }"""


def _assets(server: Server) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in server.graphql(ASSETS)["assetNodes"]}


def test_graphql_lists_the_assets_with_their_checks_pool_and_freshness(server):
    assets = _assets(server)
    assert {
        "staging/accounts",
        "staging/orders",
        "marts/account_scores",
        "marts/portfolio_kpis",
        "published_snapshot",
    } <= assets.keys()
    writers = [k for k in assets if k.startswith(("staging/", "marts/")) or k == "published_snapshot"]
    for key in writers:
        assert assets[key]["pools"] == ["kam_duckdb_writer"], key
    checks = {
        key: {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]} for key, node in assets.items()
    }
    assert checks["staging/orders"] == {"satisfies_contract": True, "quarantine_share": False}
    assert checks["marts/account_scores"]["gx_snapshot_valid"] is True
    assert checks["marts/indicator_weights"]["gx_weights_sum_to_one"] is True
    freshness = assets["marts/account_scores"]["internalFreshnessPolicy"]
    assert freshness["__typename"] == "TimeWindowFreshnessPolicy"
    assert freshness["failWindowSeconds"] == 30 * 3600
    assert assets["staging/orders"]["internalFreshnessPolicy"] is None
    assert assets["marts/account_scores"]["isPartitioned"] and not assets["staging/orders"]["isPartitioned"]


def test_graphql_lists_the_schedule_and_the_sensors(server):
    data = server.graphql(
        """query($sel: RepositorySelector!) { repositoryOrError(repositorySelector: $sel) { __typename
          ... on Repository { schedules { name cronSchedule executionTimezone pipelineName }
            sensors { name sensorType minIntervalSeconds sensorState { status } targets { pipelineName } } } } }""",
        {"sel": {"repositoryLocationName": server.location, "repositoryName": "__repository__"}},
    )["repositoryOrError"]
    assert data["__typename"] == "Repository"
    assert data["schedules"] == [
        {
            "name": "kam_daily_schedule",
            "cronSchedule": "0 6 * * *",
            "executionTimezone": "UTC",
            "pipelineName": "kam_daily",
        }
    ]
    sensors = {s["name"]: s for s in data["sensors"]}
    assert sensors["kam_data_folder_sensor"]["sensorType"] == "STANDARD"
    assert sensors["kam_data_folder_sensor"]["targets"] == [{"pipelineName": "kam_daily"}]
    assert sensors["kam_run_failure_alert"]["sensorType"] == "RUN_STATUS"
    assert sensors["kam_run_failure_alert"]["sensorState"]["status"] == "RUNNING"


def test_the_instance_applies_the_production_limits(server):
    instance = server.graphql(
        "{ instance { runQueueConfig { maxConcurrentRuns } poolConfig { poolGranularity defaultPoolLimit } } }"
    )["instance"]
    assert instance["poolConfig"] == {"poolGranularity": "op", "defaultPoolLimit": 1}
    assert instance["runQueueConfig"]["maxConcurrentRuns"] == 4


# dagster-graphql 1.13's client still calls gql 4 the old way (a DocumentNode plus
# variable_values); gql warns, the client works. Not ours to fix, so only these two.
@pytest.mark.filterwarnings("ignore:Using (a DocumentNode|variable_values):DeprecationWarning")
def test_a_partition_launched_through_graphql_succeeds_and_publishes(server):
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=server.port, timeout=60)
    run_id = client.submit_job_execution(
        "kam_daily",
        repository_location_name=server.location,
        repository_name="__repository__",
        tags={"dagster/partition": AS_OF.isoformat()},
    )
    deadline = time.monotonic() + RUN_TIMEOUT
    status = client.get_run_status(run_id).value
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
        time.sleep(2)
        status = client.get_run_status(run_id).value
    assert status == "SUCCESS", _run_errors(server, run_id) or server.log.read_text()[-3000:]

    run = server.graphql(
        "query($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }", {"id": run_id}
    )["runOrError"]
    assert {"key": "dagster/partition", "value": AS_OF.isoformat()} in run["tags"]
    # The run's steps took their turns in the pool with its default limit of 1.
    pool = server.graphql('{ instance { concurrencyLimit(concurrencyKey: "kam_duckdb_writer") { slotCount } } }')
    assert pool["instance"]["concurrencyLimit"]["slotCount"] == 1
    checks = _assets(server)["marts/account_scores"]["assetChecksOrError"]["checks"]
    assert {c["name"]: c["executionForLatestMaterialization"]["status"] for c in checks}[
        "gx_snapshot_valid"
    ] == "SUCCEEDED"
    with duckdb.connect(str(server.db_path), read_only=True) as conn:
        scored = conn.execute("select count(*) from marts.account_scores where as_of_date = ?", [AS_OF]).fetchone()
        accounts = conn.execute("select count(*) from staging.accounts where since < ?", [AS_OF]).fetchone()
    assert scored == accounts and accounts[0] > 0


def _run_errors(server: Server, run_id: str) -> str:
    data = server.graphql(
        """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { __typename
          ... on ExecutionStepFailureEvent { stepKey error { message } }
          ... on RunFailureEvent { message } } } } }""",
        {"id": run_id},
    )
    events = data["logsForRun"].get("events", [])
    return "\n".join(json.dumps(e) for e in events if len(e) > 1)
