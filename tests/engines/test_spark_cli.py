"""`kam run` refuses a Spark setting it cannot use in one line, before any data is read."""

from __future__ import annotations

import dagster as dg
import pytest

from conftest import AS_OF
from kam_pipeline.definitions import all_assets
from kam_pipeline.defs.resources import build_resources
from kam_pipeline.settings import Settings
from test_cli import kam


@pytest.mark.integration
def test_an_unknown_spark_master_fails_before_any_data_is_read(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    proc = kam(
        "run", "--engine", "spark", "--spark-master", "localhost:7077", "--data", str(generated_data), "--db", str(db)
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "kam: error: not a Spark master: 'localhost:7077' (local[N], spark://host:port, "
        "sc://host:port for Spark Connect, yarn, k8s://...)"
    ]
    assert not db.exists() and not db.with_name("kam.work.duckdb").exists()


@pytest.mark.integration
def test_an_unknown_engine_from_the_environment_fails_in_one_line(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    proc = kam("run", "--data", str(generated_data), "--db", str(db), env={"KAM_ENGINE": "polars"})
    assert proc.returncode != 0
    assert proc.stderr.strip() == "kam: error: unknown engine 'polars' (KAM_ENGINE): duckdb or spark"
    assert not db.exists()


@pytest.mark.integration
def test_dagster_refuses_an_unknown_engine_before_any_asset_runs(generated_data, tmp_path):
    settings = Settings(data_dir=generated_data, db_path=tmp_path / "kam.duckdb", model_path=None, engine="polars")
    result = dg.materialize(
        all_assets, partition_key=AS_OF.isoformat(), resources=build_resources(settings), raise_on_error=False
    )
    assert not result.success
    assert not any(event.is_step_success for event in result.all_events)
    errors = " ".join(str(event.event_specific_data) for event in result.all_events if event.is_failure)
    assert "unknown engine 'polars' (KAM_ENGINE): duckdb or spark" in errors
    assert not (tmp_path / "kam.work.duckdb").exists()
