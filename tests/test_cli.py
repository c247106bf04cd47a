"""The `kam` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF

pytestmark = pytest.mark.integration

KAM = [sys.executable, "-m", "kam_pipeline.cli"]
INCONSISTENT_6X6 = """
name: broken
groups:
  a: {indicators: {revenue: {}}}
  b: {indicators: {csat: {}}}
  c: {indicators: {nps: {}}}
  d: {indicators: {tenure_years: {}}}
  e: {indicators: {order_count: {}}}
  f: {indicators: {product_breadth: {}}}
profiles:
  default:
    group_weights:
      method: ahp
      matrix:
        - [1,   4,   3,   1,   3,   4]
        - [1/4, 1,   7,   3,   1/5, 1]
        - [1/3, 1/7, 1,   1/5, 1/5, 1/6]
        - [1,   1/3, 5,   1,   1,   1/3]
        - [1/3, 5,   5,   1,   1,   3]
        - [1/4, 1,   6,   3,   1/3, 1]
    indicator_weights:
      a: {method: fixed, weights: {revenue: 1}}
      b: {method: fixed, weights: {csat: 1}}
      c: {method: fixed, weights: {nps: 1}}
      d: {method: fixed, weights: {tenure_years: 1}}
      e: {method: fixed, weights: {order_count: 1}}
      f: {method: fixed, weights: {product_breadth: 1}}
"""


def kam(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*KAM, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def test_run_succeeds_and_prints_a_summary(generated_data, tmp_path):
    db = tmp_path / "out" / "kam.duckdb"
    proc = kam("run", "--data", str(generated_data), "--db", str(db), "--as-of", AS_OF.isoformat())
    assert proc.returncode == 0, proc.stderr
    assert f"scored as of {AS_OF}" in proc.stdout
    assert "top accounts:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    with duckdb.connect(str(db), read_only=True) as conn:
        n = conn.execute("select count(*) from marts.account_scores where as_of_date = ?", [AS_OF]).fetchall()
    assert n[0][0] == 24


def test_environment_variables_give_the_same_settings(generated_data, tmp_path):
    db = tmp_path / "env.duckdb"
    proc = kam("run", "--as-of", AS_OF.isoformat(), "--quiet",
               env={"KAM_DATA_DIR": str(generated_data), "KAM_DB_PATH": str(db)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert db.exists()


def test_inconsistent_ahp_model_fails_before_touching_data(generated_data, tmp_path):
    model = tmp_path / "broken.yaml"
    model.write_text(INCONSISTENT_6X6, encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    proc = kam("run", "--data", str(generated_data), "--db", str(db), "--as-of", AS_OF.isoformat(),
               "--model", str(model))
    assert proc.returncode != 0
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1
    assert str(model) in line
    assert "profiles.default.group_weights.matrix" in line
    assert "CR = 0.229" in line
    assert not db.exists() and not (tmp_path / "kam.work.duckdb").exists()


def test_unknown_indicator_is_named(tmp_path):
    model = tmp_path / "typo.yaml"
    model.write_text(INCONSISTENT_6X6.replace("revenue", "revnue"), encoding="utf-8")
    proc = kam("check-model", str(model))
    assert proc.returncode != 0
    assert "groups.a.indicators.revnue: unknown indicator 'revnue'" in proc.stderr


def test_missing_data_folder_is_one_line(tmp_path):
    proc = kam("run", "--data", str(tmp_path / "nowhere"), "--db", str(tmp_path / "x.duckdb"))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"kam: error: data folder not found: {tmp_path / 'nowhere'}"]


def test_missing_required_source_is_one_line(generated_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    for f in data.glob("orders*.csv"):
        f.unlink()
    proc = kam("run", "--data", str(data), "--db", str(tmp_path / "kam.duckdb"), "--as-of", AS_OF.isoformat())
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "required source 'orders' has no file" in lines[0], proc.stderr


def test_unreadable_file_is_named_and_the_rest_loads(generated_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    (data / "surveys_broken.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    proc = kam("run", "--data", str(data), "--db", str(tmp_path / "kam.duckdb"), "--as-of", AS_OF.isoformat())
    assert proc.returncode == 0, proc.stderr
    assert "unreadable file: surveys_broken.csv (surveys)" in proc.stdout
    with duckdb.connect(str(tmp_path / "kam.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from staging.surveys").fetchall()[0][0] > 0


def test_generate_is_deterministic(tmp_path):
    args = ["--accounts", "8", "--days", "200", "--seed", "5", "--end", "2026-03-31"]
    assert kam("generate", "--out", str(tmp_path / "a"), *args).returncode == 0
    assert kam("generate", "--out", str(tmp_path / "b"), *args).returncode == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "orders.csv" in files and "accounts.csv" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_flag_is_reported_without_traceback(tmp_path):
    proc = kam("run", "--as-of", "2026-02-30")
    assert proc.returncode == 2
    assert "not a date" in proc.stderr and "Traceback" not in proc.stderr


def test_a_backfill_range_scores_every_date_in_one_run(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    timings = tmp_path / "timings.json"
    first = AS_OF - dt.timedelta(days=2)
    proc = kam("run", "--data", str(generated_data), "--db", str(db), "--from", first.isoformat(),
               "--to", AS_OF.isoformat(), "--quiet", "--timings", str(timings))
    assert proc.returncode == 0, proc.stderr
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "select as_of_date, count(*), count(score_change) from marts.account_scores group by 1 order by 1"
        ).fetchall()
    assert [r[0] for r in rows] == [first + dt.timedelta(days=k) for k in range(3)]
    assert [r[1] for r in rows] == [24, 24, 24]
    assert rows[0][2] == 0 and rows[1][2] == 24  # each date's change is against the day before

    steps = json.loads(timings.read_text())
    assert "ingest_sources" in steps and "published_snapshot" in steps
    assert all(seconds >= 0 for seconds in steps.values())


def test_range_flags_are_checked(tmp_path):
    proc = kam("run", "--data", str(tmp_path), "--from", "2026-01-02")
    assert proc.returncode == 1 and proc.stderr.strip() == "kam: error: --from and --to go together"
    proc = kam("run", "--data", str(tmp_path), "--from", "2026-01-05", "--to", "2026-01-02")
    assert proc.returncode == 1 and "--to 2026-01-02 is before --from 2026-01-05" in proc.stderr
