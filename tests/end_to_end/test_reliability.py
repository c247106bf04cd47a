"""BI readers never blocked, crash safety, idempotency: real processes against real files."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF, run_pipeline

pytestmark = pytest.mark.integration

KAM = [sys.executable, "-m", "kam_pipeline.cli"]
ACCOUNTS = 24

POLLER = textwrap.dedent(
    """
    import sys, time, duckdb
    db, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
    reads = errors = 0
    seen = set()
    import os
    while not os.path.exists(stop):
        try:
            with duckdb.connect(db, read_only=True) as conn:
                rows = conn.execute(
                    "select as_of_date, count(*) from marts.account_scores group by 1 order by 1").fetchall()
                kpis = conn.execute("select count(distinct as_of_date) from marts.portfolio_kpis").fetchall()[0][0]
            for d, n in rows:
                seen.add((str(d), n))
            if kpis != len(rows):
                raise RuntimeError(f"half-finished snapshot: {len(rows)} score dates, {kpis} kpi dates")
            reads += 1
        except Exception as exc:
            errors += 1
            print(repr(exc), file=sys.stderr)
        time.sleep(0.01)
    with open(out, "w") as fh:
        fh.write(f"{reads} {errors}\\n")
        for d, n in sorted(seen):
            fh.write(f"{d} {n}\\n")
    """
)


def kam_run(data: Path, db: Path, as_of: dt.date, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*KAM, "run", "--data", str(data), "--db", str(db), "--as-of", as_of.isoformat(), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_a_reader_polling_during_runs_never_fails(generated_data, tmp_path):
    db = tmp_path / "kam.duckdb"
    first = AS_OF - dt.timedelta(days=2)
    assert run_pipeline(generated_data, db, first).success
    stop, out = tmp_path / "stop", tmp_path / "poll.txt"
    poller = subprocess.Popen(
        [sys.executable, "-c", POLLER, str(db), str(stop), str(out)], stderr=subprocess.PIPE, text=True
    )
    try:
        for as_of in (AS_OF - dt.timedelta(days=1), AS_OF):
            proc = kam_run(generated_data, db, as_of)
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
    finally:
        stop.touch()
        _, poll_err = poller.communicate(timeout=60)
    reads, errors, *seen = out.read_text().split("\n")[0].split() + out.read_text().split("\n")[1:]
    assert int(errors) == 0, poll_err
    assert int(reads) > 20
    snapshots = [line.split() for line in seen if line.strip()]
    # every snapshot a reader ever saw was complete
    assert all(int(n) == ACCOUNTS for _, n in snapshots)
    assert {d for d, _ in snapshots} >= {str(first), str(AS_OF)}


@pytest.mark.parametrize("kill_after", [0.8, 2.5, 4.5, 6.0])
def test_sigkill_leaves_the_last_snapshot_and_the_next_run_recovers(generated_data, tmp_path, kill_after):
    db = tmp_path / "kam.duckdb"
    first = AS_OF - dt.timedelta(days=1)
    assert run_pipeline(generated_data, db, first).success
    proc = kam_run(generated_data, db, AS_OF, start_new_session=True)
    time.sleep(kill_after)
    finished = proc.poll() is not None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # the run and all it started had ended by then (a fast machine)
        finished = True
    proc.wait(timeout=60)
    with duckdb.connect(str(db), read_only=True) as conn:
        dates = [
            r[0] for r in conn.execute("select distinct as_of_date from marts.account_scores order by 1").fetchall()
        ]
        counts = conn.execute("select count(*) from marts.account_scores group by as_of_date").fetchall()
    assert dates in ([first], [first, AS_OF]) if not finished else dates == [first, AS_OF]
    assert all(n == ACCOUNTS for (n,) in counts)
    rerun = kam_run(generated_data, db, AS_OF)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    with duckdb.connect(str(db), read_only=True) as conn:
        dates = [
            r[0] for r in conn.execute("select distinct as_of_date from marts.account_scores order by 1").fetchall()
        ]
    assert dates == [first, AS_OF]
    assert not list(tmp_path.glob(".kam.duckdb.*.tmp"))


def _marts(db: Path) -> dict[str, list]:
    with duckdb.connect(str(db), read_only=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        return {t: conn.execute(f"select * from marts.{t} order by all").fetchall() for t in tables}


def test_same_inputs_and_date_give_identical_marts(generated_data, tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert run_pipeline(generated_data, a, AS_OF).success
    assert run_pipeline(generated_data, b, AS_OF).success
    marts_a, marts_b = _marts(a), _marts(b)
    assert len(marts_a) >= 10
    for table in marts_a:
        assert marts_a[table] == marts_b[table], table
    # and re-running the same date on the same database changes nothing
    assert run_pipeline(generated_data, a, AS_OF).success
    assert _marts(a) == marts_a
