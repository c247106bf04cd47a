"""Operations: the example production instance, freshness, the schedule hour, lock retries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kam_pipeline.definitions import defs
from kam_pipeline.defs.freshness import MARTS_FRESHNESS
from kam_pipeline.warehouse import database as warehouse

REPO = Path(__file__).resolve().parents[2]


def test_the_example_dagster_yaml_is_not_picked_up_by_accident():
    # Dagster reads dagster.yaml from $DAGSTER_HOME only; the repo root must not hold one.
    assert not (REPO / "dagster.yaml").exists()
    assert (REPO / "deploy" / "dagster.yaml").exists()


def test_the_example_dagster_yaml_configures_a_production_instance(tmp_path):
    shutil.copy(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1
        assert pools.pool_granularity.value == "op"
        # Crashed runs are retried; runs failed by an asset or a check are not.
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure is False
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds == 7200


def test_every_duckdb_writer_is_in_the_pool_limited_by_the_example_instance():
    for assets_def in defs.assets or []:
        if any(spec.group_name in ("staging", "marts", "publish") for spec in assets_def.specs):
            assert assets_def.node_def.pools == {"kam_duckdb_writer"}, assets_def.keys


def test_marts_and_the_published_snapshot_carry_the_freshness_policy():
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for key, spec in specs.items():
        if spec.group_name in ("marts", "publish"):
            assert spec.freshness_policy == MARTS_FRESHNESS, key
        elif spec.group_name == "staging":
            assert spec.freshness_policy is None, key
    assert MARTS_FRESHNESS.fail_window.to_timedelta().total_seconds() == 30 * 3600


def test_definitions_wire_the_sensors():
    assert defs.resolve_sensor_def("kam_data_folder_sensor").job_name == "kam_daily"
    failure = defs.resolve_sensor_def("kam_run_failure_alert")
    assert failure.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.integration
def test_the_schedule_hour_comes_from_kam_schedule_hour():
    code = "from kam_pipeline.definitions import defs; print(defs.resolve_schedule_def('kam_daily_schedule').cron_schedule)"
    env = {**os.environ, "KAM_SCHEDULE_HOUR": "4"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "0 4 * * *"


# ---------------------------------------------------------------------------------------------
# Transient lock errors are retried; everything else fails at once.


class _DirectConnect:
    """A resource like DuckDBResource without its built-in backoff (which waits ~100 s)."""

    def __init__(self, path: Path):
        self.path = path

    def get_connection(self):
        from contextlib import contextmanager

        @contextmanager
        def manager():
            conn = duckdb.connect(str(self.path))
            yield conn

        return manager()


@pytest.fixture()
def locked_db(tmp_path):
    """A DuckDB file held open for writing by another process until the test ends."""
    path = tmp_path / "kam.work.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys
            conn = duckdb.connect({str(path)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield path
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_locked_database_requests_a_retry(locked_db):
    with pytest.raises(dg.RetryRequested) as raised:
        with warehouse.open_connection(_DirectConnect(locked_db)):
            pass
    assert raised.value.max_retries == warehouse.LOCK_RETRIES
    assert isinstance(raised.value.__cause__, duckdb.IOException)


def test_other_io_errors_are_not_retried(tmp_path):
    not_a_db = tmp_path / "kam.work.duckdb"
    not_a_db.write_bytes(b"this is not a DuckDB file" * 100)
    with pytest.raises(duckdb.Error) as raised:
        with warehouse.open_connection(_DirectConnect(not_a_db)):
            pass
    assert not isinstance(raised.value, dg.RetryRequested)


@pytest.mark.integration
def test_a_step_meeting_a_lock_is_retried_by_dagster_then_fails(locked_db, monkeypatch):
    monkeypatch.setattr(warehouse, "LOCK_RETRIES", 2)
    monkeypatch.setattr(warehouse, "LOCK_RETRY_SECONDS", 0.1)

    @dg.asset
    def writer() -> None:
        with warehouse.open_connection(_DirectConnect(locked_db)) as conn:
            conn.execute("select 1")

    result = dg.materialize([writer], raise_on_error=False)
    types = [e.event_type for e in result.all_events]
    assert types.count(dg.DagsterEventType.STEP_UP_FOR_RETRY) == 2
    assert not result.success


@pytest.mark.integration
def test_a_validation_failure_is_not_retried(tmp_path):
    @dg.asset
    def validating() -> None:
        with warehouse.open_connection(_DirectConnect(tmp_path / "ok.duckdb")):
            raise dg.Failure("blocking check failed")

    result = dg.materialize([validating], raise_on_error=False)
    types = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in types
    assert dg.DagsterEventType.STEP_FAILURE in types


def test_no_asset_declares_a_blanket_retry_policy():
    for assets_def in defs.assets or []:
        policy = getattr(assets_def.node_def, "retry_policy", None)
        assert policy is None, (assets_def.keys, policy)
