"""Publishing under stress, with real `kam run` processes: kill -9 inside ingestion, the marts and
the publish itself; two runs on one database; re-running a date."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF, run_pipeline
from kam_pipeline.warehouse.publish import parquet_dir_for

pytestmark = pytest.mark.integration

KAM = [sys.executable, "-m", "kam_pipeline.cli"]
ACCOUNTS = 24
FIRST = AS_OF - dt.timedelta(days=1)


def kam_run(data: Path, db: Path, as_of: dt.date, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*KAM, "run", "--data", str(data), "--db", str(db), "--as-of", as_of.isoformat(), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def _step_started(home: Path, step: str) -> bool:
    """Whether the run recorded in the Dagster home `home` has started `step` (its event log, read live)."""
    for log in (home / "history" / "runs").glob("*.db"):
        try:
            with sqlite3.connect(f"file:{log}?mode=ro", uri=True, timeout=1) as db:
                found = db.execute(
                    "select 1 from event_logs where dagster_event_type = 'STEP_START' and step_key = ?", [step]
                ).fetchone()
        except sqlite3.Error:
            continue
        if found:
            return True
    return False


def _publishing(db: Path, as_of: dt.date) -> bool:
    """Whether a publish of `as_of` has begun writing its Parquet files."""
    return any(parquet_dir_for(db).glob(f"marts/*/as_of_date={as_of}/*.parquet"))


def _published_state(db: Path) -> dict[str, object]:
    """What a reader of the published file sees: the score dates and rows per date, every relation
    readable, and the Parquet files its catalog names."""
    with duckdb.connect(str(db), read_only=True) as conn:
        views = conn.execute(
            "select schema_name || '.' || view_name from duckdb_views() where not internal order by 1"
        ).fetchall()
        for (view,) in views:
            conn.execute(f"select count(*) from {view}").fetchone()  # every file it names is there
        scores = conn.execute("select as_of_date, count(*) from marts.account_scores group by 1 order by 1").fetchall()
        kpi_dates = conn.execute("select distinct as_of_date from marts.portfolio_kpis order by 1").fetchall()
        named = {
            p
            for (p,) in conn.execute("select path from publish.files union select path from publish.retired").fetchall()
        }
    return {"scores": scores, "kpi_dates": [d for (d,) in kpi_dates], "views": len(views), "named": named}


@pytest.mark.parametrize("point", ["ingest_sources", "account_scores", "publish"])
def test_sigkill_inside_a_step_leaves_the_last_published_state(generated_data, tmp_path, point):
    db = tmp_path / "kam.duckdb"
    assert run_pipeline(generated_data, db, FIRST).success
    before = _published_state(db)
    home = tmp_path / "dagster_home"
    home.mkdir()
    proc = kam_run(generated_data, db, AS_OF, env={"DAGSTER_HOME": str(home)})
    deadline = time.monotonic() + 300
    reached = _publishing if point == "publish" else (lambda *_: _step_started(home, point))
    while not reached(db, AS_OF) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before {point}: {proc.stderr.read()}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    after = _published_state(db)
    # The last published state, whole: the first snapshot only, or (killed after the catalog was
    # swapped, possible only inside the publish) both snapshots, never part of the second.
    whole_second = {**after, "named": before["named"]} != before
    if point != "publish" or not whole_second:
        assert after == before
    assert after["scores"] in ([(FIRST, ACCOUNTS)], [(FIRST, ACCOUNTS), (AS_OF, ACCOUNTS)])
    assert after["kpi_dates"] == [d for d, _ in after["scores"]]
    # The next run recovers and the folder then holds only the files a catalog names.
    rerun = kam_run(generated_data, db, AS_OF)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    final = _published_state(db)
    assert final["scores"] == [(FIRST, ACCOUNTS), (AS_OF, ACCOUNTS)]
    assert {str(p) for p in parquet_dir_for(db).rglob("*.parquet")} == final["named"]
    assert not list(tmp_path.glob(".kam.duckdb.*"))


def test_two_runs_on_one_database_wait_or_fail_with_one_line(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    assert run_pipeline(generated_data, db, FIRST - dt.timedelta(days=1)).success
    first = kam_run(generated_data, db, FIRST)
    info = db.with_name("kam.duckdb.lock.json")
    deadline = time.monotonic() + 120
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.poll() is None
    # --wait 0: fails at once, one line naming the running run, never DuckDB's lock text.
    refused = kam_run(generated_data, db, AS_OF, "--wait", "0")
    out, err = refused.communicate(timeout=300)
    assert refused.returncode == 1
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"kam: error: another run is using {db} (pid {first.pid}, started ")
    # A waiting run says whom it waits for, then runs once the first has finished.
    waiting = kam_run(generated_data, db, AS_OF, "--wait", "600")
    _, first_err = first.communicate(timeout=600)
    _, waiting_err = waiting.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert waiting.returncode == 0, waiting_err
    assert f"kam: waiting up to 600 s for the run using {db} (pid {first.pid}, started " in waiting_err
    assert "lock" not in first_err.lower()
    state = _published_state(db)
    assert state["scores"] == [(FIRST - dt.timedelta(days=1), ACCOUNTS), (FIRST, ACCOUNTS), (AS_OF, ACCOUNTS)]


HOLDER = textwrap.dedent(
    """
    import sys, time
    from kam_pipeline.warehouse.runlock import run_lock
    with run_lock(sys.argv[1], 0):
        print("held", flush=True)
        time.sleep(600)
    """
)


def test_a_dagster_run_on_a_database_in_use_fails_naming_the_other_run(generated_data, tmp_path, monkeypatch):
    db = tmp_path / "kam.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("KAM_RUN_WAIT", "0")
        result = run_pipeline(generated_data, db, AS_OF)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert not result.success
    # Dagster records the resource's refusal (what the UI shows for the run) with our one line.
    errors = [getattr(e.event_specific_data, "error", None) for e in result.all_events]
    messages = " ".join(error.message for error in errors if error is not None)
    assert f"another run is using {db} (pid {holder.pid}, started " in messages
    assert not db.exists() and not db.with_name("kam.work.duckdb").exists()


def test_re_running_a_date_replaces_that_date_and_nothing_else(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    for as_of in (FIRST, AS_OF):
        assert run_pipeline(generated_data, db, as_of).success

    def files() -> dict:
        with duckdb.connect(str(db), read_only=True) as conn:
            return {
                (r, d): p for r, d, p in conn.execute("select relation, as_of_date, path from publish.files").fetchall()
            }

    def rows(as_of: dt.date) -> list:
        with duckdb.connect(str(db), read_only=True) as conn:
            return conn.execute(
                "select * from marts.account_scores where as_of_date = ? order by all", [as_of]
            ).fetchall()

    before, first_rows, second_rows = files(), rows(FIRST), rows(AS_OF)
    assert run_pipeline(generated_data, db, AS_OF).success
    after = files()
    assert {k: v for k, v in after.items() if k[1] == FIRST} == {k: v for k, v in before.items() if k[1] == FIRST}
    replaced = {k for k in after if k[1] == AS_OF}
    with duckdb.connect(str(db), read_only=True) as conn:
        marts = [
            v for (v,) in conn.execute("select view_name from duckdb_views() where schema_name = 'marts'").fetchall()
        ]
        with_rows = {
            (f"marts.{v}", AS_OF)
            for v in marts
            if conn.execute(f"select count(*) from marts.{v} where as_of_date = ?", [AS_OF]).fetchone()[0]
        }
    assert len(marts) >= 14 and replaced == with_rows and all(after[k] != before[k] for k in replaced)
    assert rows(FIRST) == first_rows and rows(AS_OF) == second_rows
