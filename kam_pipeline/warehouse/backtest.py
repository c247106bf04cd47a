"""marts.score_backtest kept up to date at the cost of the new data, not of the whole history.

A backtest row (D, h) depends on the stored snapshots D and F (the first stored snapshot on or
after D + h, up to the run's latest date) and on nothing else. A run that writes the snapshots
`run_dates` (new or rewritten) can therefore change only the rows of the snapshots D for which

- D itself is rewritten;
- a horizon is reached (D + h <= latest) but there is no row yet: a follow-up snapshot may now
  exist (or the cohort was empty, which a recomputation confirms cheaply);
- the row's F is later than the run's latest date: the mart, computed up to that date, drops it;
- a rewritten date lies in [D + h, F]: it is F itself, or a new snapshot before F;
- the row's horizon is no longer in the model (the full computation drops it).

Every other row is exactly what a computation from scratch over the same history returns, so it
is kept. A daily run (one new date after the stored ones) recomputes the dates D whose D + h it
reaches, one per horizon, instead of all of them. The rows kept are trusted to match the stored
scores: a run that rewrote a stored date's scores but failed before its backtest step leaves the
rows that read that date stale until the date is run again (a run of other dates does not see it).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from kam_pipeline.warehouse.database import write_snapshot
from kam_pipeline.warehouse.sql_files import read_sql

_AFFECTED = """
with
stored as (
    select distinct as_of_date from marts.account_scores where as_of_date <= $latest
),
horizons as (select unnest($horizons::integer[]) as h),
run_dates as (select unnest($run_dates::date[]) as r)
select distinct s.as_of_date
from stored as s
cross join horizons
left join marts.score_backtest as b on b.as_of_date = s.as_of_date and b.horizon_days = horizons.h
where list_contains($run_dates::date[], s.as_of_date)
    or (b.as_of_date is null and s.as_of_date + horizons.h <= $latest)
    or b.followed_as_of_date > $latest
    or exists (
        select 1 from run_dates
        where r >= s.as_of_date + horizons.h and r <= b.followed_as_of_date
    )
union
select distinct b.as_of_date
from marts.score_backtest as b
where b.as_of_date in (select as_of_date from stored)
    and not list_contains($horizons::integer[], b.horizon_days)
order by 1
"""


def _exists(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'marts' and table_name = 'score_backtest'"
        ).fetchall()[0][0]
    )


def stored_snapshots(conn: duckdb.DuckDBPyConnection, latest: dt.date) -> list[dt.date]:
    """The as-of dates of marts.account_scores up to `latest`, oldest first."""
    return [
        r[0]
        for r in conn.execute(
            "select distinct as_of_date from marts.account_scores where as_of_date <= ? order by 1", [latest]
        ).fetchall()
    ]


def backtest_dates(conn: duckdb.DuckDBPyConnection, run_dates: list[dt.date], horizons: list[int]) -> list[dt.date]:
    """The stored snapshots D whose marts.score_backtest rows a run of `run_dates` can change
    (see the module's docstring), oldest first; every stored one when the mart does not exist yet."""
    latest = max(run_dates)
    if not _exists(conn):
        return stored_snapshots(conn, latest)
    params = {"latest": latest, "horizons": list(horizons), "run_dates": list(run_dates)}
    return [r[0] for r in conn.execute(_AFFECTED, params).fetchall()]


def write_backtest(
    conn: duckdb.DuckDBPyConnection, run_dates: list[dt.date], horizons: list[int], *, incremental: bool = True
) -> list[dt.date]:
    """Bring marts.score_backtest up to date after a run that wrote the snapshots `run_dates`;
    return the as-of dates D recomputed (all stored ones up to the latest run date when not
    `incremental`: the computation from scratch)."""
    latest = max(run_dates)
    dates = backtest_dates(conn, run_dates, horizons) if incremental else stored_snapshots(conn, latest)
    params = {"as_of": latest, "horizons": list(horizons), "backtest_dates": dates}
    if dates or not _exists(conn):
        write_snapshot(conn, "score_backtest", read_sql("marts/score_backtest"), params, dates or [latest])
    return dates
