"""marts.score_backtest brought up to date run by run (kam_pipeline/warehouse/backtest.py): after
daily runs, a backfill of an earlier date, a rerun with other scores, a range and a change of
horizons, the table equals the one computed from scratch over the same history, and a daily run
recomputes only the snapshots whose horizon it reaches."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pytest

from kam_pipeline.warehouse.backtest import write_backtest

START = dt.date(2025, 1, 6)
ACCOUNTS = [f"a{i:02d}" for i in range(40)]


def _connect(path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path))
    conn.execute("create schema marts")
    conn.execute("create table marts.account_scores (as_of_date date, account_id varchar, score double)")
    conn.execute("create table marts.account_indicators (as_of_date date, account_id varchar, is_churned integer)")
    return conn


def _snapshot(day: dt.date, seed: int) -> tuple[list[tuple], list[tuple]]:
    """Scores (some missing, some tied) and churn flags of every account at `day`; an account that
    churned stays churned, a few drop out of the data."""
    rng = np.random.default_rng(seed)
    offset = (day - START).days
    scores, flags = [], []
    for i, account in enumerate(ACCOUNTS):
        if (i + offset) % 17 == 0:
            continue  # not in this snapshot
        churned = int(i % 5 == 0 and offset > 20 * (i % 7)) or int(rng.uniform() < 0.02 * (offset / 30))
        score = None if i % 13 == 0 else float(round(rng.uniform(0, 100) / 5) * 5)  # steps of 5: ties
        scores.append((day, account, score))
        flags.append((day, account, churned))
    return scores, flags


def _write(conn: duckdb.DuckDBPyConnection, day: dt.date, seed: int) -> None:
    scores, flags = _snapshot(day, seed)
    conn.execute("delete from marts.account_scores where as_of_date = ?", [day])
    conn.execute("delete from marts.account_indicators where as_of_date = ?", [day])
    conn.executemany("insert into marts.account_scores values (?, ?, ?)", scores)
    conn.executemany("insert into marts.account_indicators values (?, ?, ?)", flags)


def _table(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute("select * from marts.score_backtest order by as_of_date, horizon_days").fetchall()


def _from_scratch(tmp_path, history: dict[dt.date, int], latest: dt.date, horizons: list[int]) -> list[tuple]:
    """The table computed once over the same history (each date with the seed of its last write)."""
    path = tmp_path / f"scratch_{latest}_{'_'.join(map(str, horizons))}_{len(list(tmp_path.iterdir()))}.duckdb"
    with _connect(path) as conn:
        for day, seed in history.items():
            _write(conn, day, seed)
        write_backtest(conn, [latest], horizons, incremental=False)
        return _table(conn)


def _hand_pairs(history: dict[dt.date, int], latest: dt.date, horizons: list[int]) -> dict:
    """(D, h) -> (F, accounts, churned), worked out here from the generated snapshots."""
    stored = sorted(d for d in history if d <= latest)
    snaps = {d: _snapshot(d, history[d]) for d in stored}
    out = {}
    for d in stored:
        for h in horizons:
            later = [f for f in stored if f >= d + dt.timedelta(days=h)]
            if not later:
                continue
            f = later[0]
            flag_d = {a: c for _, a, c in snaps[d][1]}
            flag_f = {a: c for _, a, c in snaps[f][1]}
            cohort = [a for _, a, s in snaps[d][0] if s is not None and flag_d[a] == 0 and a in flag_f]
            if cohort:
                out[(d, h)] = (f, len(cohort), sum(flag_f[a] == 1 for a in cohort))
    return out


def test_incremental_runs_give_the_table_computed_from_scratch(tmp_path):
    horizons = [14, 30]
    history: dict[dt.date, int] = {}
    conn = _connect(tmp_path / "work.duckdb")
    # The same runs on a second database, each recomputing every stored snapshot (as before).
    scratch = _connect(tmp_path / "scratch.duckdb")
    recomputed_daily = []

    def run(dates: list[dt.date], seed: int, hz: list[int]) -> list[dt.date]:
        for day in dates:
            history[day] = seed
            _write(conn, day, seed)
            _write(scratch, day, seed)
        done = write_backtest(conn, dates, hz)
        write_backtest(scratch, dates, hz, incremental=False)
        assert _table(conn) == _table(scratch)
        return done

    # Daily runs, with gaps (weekends, a missed week): 24 snapshots over about 80 days.
    days = [START + dt.timedelta(days=k) for k in range(90) if k % 7 not in (5, 6) and not 40 <= k < 47][:48:2]
    for n, day in enumerate(days):
        recomputed_daily.append(run([day], n, horizons))
    # A daily run recomputes its own date and the snapshots D whose D + h it is the first to reach.
    for previous, day, done in zip(days[:-1], days[1:], recomputed_daily[1:], strict=True):
        reached = {d for d in days if any(previous < d + dt.timedelta(days=h) <= day for h in horizons)}
        assert done == sorted(reached | {day})
    assert sum(map(len, recomputed_daily)) < sum(range(1, len(days) + 1)) / 4  # from scratch: all, every run
    # After runs in date order, that is also the table computed once over the whole history.
    assert _table(conn) == _from_scratch(tmp_path, history, days[-1], horizons)
    got = {(r[0], r[1]): (r[2], r[3], r[4]) for r in _table(conn)}
    assert got == _hand_pairs(history, days[-1], horizons)
    assert len(got) > 20

    # A backfill of a date between stored ones: it becomes the follow-up of some earlier snapshots.
    missing = next(d for d in (days[5] + dt.timedelta(days=k) for k in range(1, 6)) if d not in history)
    run([missing], 100, horizons)
    # A rerun of an old date with other scores and churn flags, then a range of three new dates.
    run([days[8]], 101, horizons)
    last = days[-1]
    run([last + dt.timedelta(days=k) for k in (1, 2, 3)], 102, horizons)
    # The model's horizons change: a new one is computed for every stored snapshot, a dropped one goes.
    run([last + dt.timedelta(days=4)], 103, [14, 45])
    got = {(r[0], r[1]): (r[2], r[3], r[4]) for r in _table(conn)}
    assert got == _hand_pairs(history, last + dt.timedelta(days=4), [14, 45])
    assert {h for _, h in got} == {14, 45}
    conn.close()
    scratch.close()


def test_a_run_of_an_earlier_date_drops_what_it_cannot_follow_up_as_from_scratch(tmp_path):
    # Rerunning an old date computes the mart up to that date (as the full computation does):
    # the rows whose follow-up lies after it go, the rows of later snapshots stay.
    conn = _connect(tmp_path / "work.duckdb")
    days = [START + dt.timedelta(days=7 * k) for k in range(10)]
    history = {}
    for n, day in enumerate(days):
        history[day] = n
        _write(conn, day, n)
        write_backtest(conn, [day], [14])
    history[days[3]] = 50
    _write(conn, days[3], 50)
    write_backtest(conn, [days[3]], [14])
    scratch_path = tmp_path / "scratch.duckdb"
    with _connect(scratch_path) as scratch:
        for day, seed in history.items():
            _write(scratch, day, seed)
        for day in days:  # the same history of runs, each computed from scratch
            write_backtest(scratch, [day], [14], incremental=False)
        write_backtest(scratch, [days[3]], [14], incremental=False)
        assert _table(conn) == _table(scratch)
    rows = {(r[0], r[1]): r[2] for r in _table(conn)}
    assert (days[1], 14) in rows and (days[2], 14) not in rows and (days[4], 14) in rows
    conn.close()


@pytest.mark.parametrize("horizons", [[7], [14, 30]])
def test_the_first_run_computes_every_stored_snapshot(tmp_path, horizons):
    conn = _connect(tmp_path / "work.duckdb")
    days = [START + dt.timedelta(days=5 * k) for k in range(8)]
    for n, day in enumerate(days):
        _write(conn, day, n)
    assert write_backtest(conn, [days[-1]], horizons) == days
    assert _table(conn) == _from_scratch(tmp_path, {d: n for n, d in enumerate(days)}, days[-1], horizons)
    conn.close()
