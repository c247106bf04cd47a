"""Shared fixtures: a small generated data set and a pipeline run on it (real Dagster, real DuckDB)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kam_pipeline.definitions import all_assets
from kam_pipeline.defs.resources import build_resources
from kam_pipeline.demo.generate import generate_dataset
from kam_pipeline.settings import Settings

AS_OF = dt.date(2026, 7, 1)


def run_pipeline(data_dir: Path, db_path: Path, as_of: dt.date, model: Path | None = None):
    """Materialize every asset and check for `as_of` in-process; return the Dagster result."""
    return dg.materialize(
        all_assets,
        partition_key=as_of.isoformat(),
        resources=build_resources(Settings(data_dir=data_dir, db_path=db_path, model_path=model)),
        raise_on_error=False,
    )


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deterministic small data set ending the day before AS_OF."""
    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, accounts=24, days=800, seed=11, end=AS_OF - dt.timedelta(days=1))
    return out


@pytest.fixture(scope="session")
def pipeline_db(generated_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published DuckDB file after two daily runs (AS_OF - 7 days, then AS_OF)."""
    db = tmp_path_factory.mktemp("db") / "kam.duckdb"
    for as_of in (AS_OF - dt.timedelta(days=7), AS_OF):
        result = run_pipeline(generated_data, db, as_of)
        assert result.success
    return db


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a new DuckDB file (`kam.duckdb` in the test's folder), closed after the test."""
    connection = duckdb.connect(str(tmp_path / "kam.duckdb"))
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data folder."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def spark():
    """The test session's one local Spark session (local[2], few shuffle partitions): a JVM takes ~10 s to start.

    Started through the engine's own entry point, so the tests run with the settings a run uses."""
    from kam_pipeline.engines.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()
