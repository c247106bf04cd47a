"""`kam run` refuses a Spark setting it cannot use in one line, before any data is read."""

from __future__ import annotations

import pytest

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
