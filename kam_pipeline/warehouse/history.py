"""The stored history of the marts: which snapshot came before a date.

"The previous snapshot" of a date D is the latest as_of_date < D stored in a marts table
(marts.account_scores unless told otherwise), whether or not D itself is stored. It is
computed here only, and handed to SQL files as the bound parameter `$previous_as_of_dates`
(one date or NULL per date of `$as_of_dates`, in the same order), so every comparison with
the past (score_change, score_changes, alerts, row-count checks, the report) uses the same date.
"""

from __future__ import annotations

import datetime as dt

import duckdb


def _stored(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        conn.execute(
            # information_schema.tables lists views too (the published file is a catalog of views).
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'marts' and table_name = ?",
            [table],
        ).fetchall()[0][0]
    )


def previous_snapshots(
    conn: duckdb.DuckDBPyConnection, dates: list[dt.date], table: str = "account_scores"
) -> list[dt.date | None]:
    """Return, for each date of `dates` (in order), the latest as_of_date before it in `marts.<table>`, or None."""
    if not dates:
        return []
    if not _stored(conn, table):
        return [None] * len(dates)
    # One asof join over the table's distinct dates answers every date of a backfill range at once.
    rows = conn.execute(
        f"""
        select dates.position, stored.as_of_date
        from (select unnest(?::date[]) as as_of_date, generate_subscripts(?::date[], 1) as position) as dates
        asof left join (select distinct as_of_date from marts."{table}") as stored
            on dates.as_of_date > stored.as_of_date
        """,
        [list(dates), list(dates)],
    ).fetchall()
    found = dict(rows)
    return [found.get(i + 1) for i in range(len(dates))]


def previous_snapshot(conn: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = "account_scores") -> dt.date | None:
    """Return the latest as_of_date before `as_of` stored in `marts.<table>`, or None (the first snapshot)."""
    return previous_snapshots(conn, [as_of], table)[0]


def previous_params(conn: duckdb.DuckDBPyConnection, dates: list[dt.date]) -> dict[str, list[dt.date | None]]:
    """The SQL parameter `previous_as_of_dates`: the previous stored snapshot of each of `dates`, same order."""
    return {"previous_as_of_dates": previous_snapshots(conn, dates)}
