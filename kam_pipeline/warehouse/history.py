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


def _manifest(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether `conn` is a published catalog: its `publish.files` lists every snapshot's file."""
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'publish' and table_name = 'files'"
        ).fetchall()[0][0]
    )


def _dates_sql(conn: duckdb.DuckDBPyConnection, table: str) -> tuple[str, list[str]]:
    """A query of the distinct stored as_of_dates of `marts.<table>`, and its parameters.

    In a published catalog the dates come from its file list, a few hundred rows, instead of a
    scan of the view, which opens every snapshot's Parquet file."""
    if _manifest(conn):
        return (
            "select distinct as_of_date from publish.files where relation = ? and as_of_date is not null",
            [f"marts.{table}"],
        )
    return f'select distinct as_of_date from marts."{table}" where as_of_date is not null', []


def stored_snapshots(conn: duckdb.DuckDBPyConnection, table: str = "account_scores") -> list[dt.date]:
    """Every as_of_date stored in `marts.<table>`, oldest first (empty when the table is absent)."""
    if not _stored(conn, table):
        return []
    sql, params = _dates_sql(conn, table)
    return [row[0] for row in conn.execute(f"{sql} order by 1", params).fetchall()]


def previous_snapshots(
    conn: duckdb.DuckDBPyConnection, dates: list[dt.date], table: str = "account_scores"
) -> list[dt.date | None]:
    """Return, for each date of `dates` (in order), the latest as_of_date before it in `marts.<table>`, or None."""
    if not dates:
        return []
    if not _stored(conn, table):
        return [None] * len(dates)
    stored, params = _dates_sql(conn, table)
    # One asof join over the table's distinct dates answers every date of a backfill range at once.
    rows = conn.execute(
        f"""
        select dates.position, stored.as_of_date
        from (select unnest(?::date[]) as as_of_date, generate_subscripts(?::date[], 1) as position) as dates
        asof left join ({stored}) as stored
            on dates.as_of_date > stored.as_of_date
        """,
        [list(dates), list(dates), *params],
    ).fetchall()
    found = dict(rows)
    return [found.get(i + 1) for i in range(len(dates))]


def previous_snapshot(conn: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = "account_scores") -> dt.date | None:
    """Return the latest as_of_date before `as_of` stored in `marts.<table>`, or None (the first snapshot)."""
    return previous_snapshots(conn, [as_of], table)[0]


def previous_params(conn: duckdb.DuckDBPyConnection, dates: list[dt.date]) -> dict[str, list[dt.date | None]]:
    """The SQL parameter `previous_as_of_dates`: the previous stored snapshot of each of `dates`, same order."""
    return {"previous_as_of_dates": previous_snapshots(conn, dates)}
