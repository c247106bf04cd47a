"""The DuckDB side of the pipeline: connections, snapshot writes, column comments.

The pipeline works in its own database (`<db>.work.duckdb`); warehouse/publish.py publishes
each run's snapshots from it as the `--db` catalog BI reads, so BI readers never meet a lock
or a half-written run.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import duckdb

from kam_pipeline.settings import env
from kam_pipeline.warehouse.catalog import column_comment
from kam_pipeline.warehouse.sql_files import bind, read_sql, tables_read, takes_date_range


def work_path_for(db_path: str | Path) -> Path:
    """Return the working database next to the published one: `kam.duckdb` -> `kam.work.duckdb`."""
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.stem}.work{db_path.suffix or '.duckdb'}")


# When another process holds the working database (a second run, a stray `kam run`),
# DuckDBResource already retries the connect for about 100 s; past that the step is
# handed back to Dagster to retry later. Only this lock error is retried: a validation
# failure is final and retrying it would only repeat it.
LOCK_RETRIES = 3
LOCK_RETRY_SECONDS = 60.0


def is_lock_error(exc: BaseException) -> bool:
    """Return True for DuckDB's "could not set lock / conflicting lock" IO error (transient)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException) and ("could not set lock" in text or "conflicting lock" in text)


def bounded_memory() -> dict[str, object]:
    """DuckDB settings that bound a connection's memory as a run's: the buffer pool capped at
    KAM_DUCKDB_MEMORY (DuckDB's default is 80 % of RAM) and freed memory handed back to the system by
    DuckDB's own threads (without them, reading the indicators of 440,000 accounts left 200 MB resident
    until the connection closed)."""
    return {"memory_limit": env("KAM_DUCKDB_MEMORY"), "allocator_background_threads": True}


def read_only(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a DuckDB file (the published catalog) with the run's memory bounds: the
    report, the Parquet export and the run's summary read it in the run's own process.

    The file is attached to an in-memory database of those settings rather than opened: DuckDB refuses a
    second connection to a file this process holds open (a notebook, a test) with other settings.
    """
    conn = duckdb.connect(config=bounded_memory())
    try:
        conn.execute(f"attach {literal(str(db_path))} as published (read_only)")
        conn.execute("use published")
    except BaseException:
        conn.close()
        raise
    return conn


def ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def open_connection(resource: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection from a DuckDBResource and close it even when the body raises.

    A lock held by another process raises `dagster.RetryRequested` (the step is
    retried up to LOCK_RETRIES times, LOCK_RETRY_SECONDS apart); any other error propagates.
    """
    manager = resource.get_connection()
    try:
        conn = manager.__enter__()
    except duckdb.IOException as exc:
        if not is_lock_error(exc):
            raise
        import dagster as dg  # only here: the rest of this module is plain DuckDB

        raise dg.RetryRequested(max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_SECONDS) from exc
    try:
        yield conn
    finally:
        conn.close()
        manager.__exit__(None, None, None)  # the resource's own end of a connection (WorkDatabase's)


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the body in one transaction: committed when it returns, rolled back when it raises (also on
    KeyboardInterrupt), so a failure leaves the tables as they were."""
    conn.execute("begin transaction")
    try:
        yield conn
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """Return the first column of the first row of a query (the whole result is consumed)."""
    rows = conn.execute(sql, params).fetchall()
    return rows[0][0] if rows else None


def memory_limit_gib(conn: duckdb.DuckDBPyConnection) -> float:
    """DuckDB's memory_limit setting ('953.6 MiB', '2.0 GiB', ...) in GiB."""
    number, unit = scalar(conn, "select current_setting('memory_limit')").split()
    return float(number) * {"KiB": 2**-20, "MiB": 2**-10, "GiB": 1.0, "TiB": 2**10}.get(unit, 1.0)


@contextmanager
def setting(conn: duckdb.DuckDBPyConnection, name: str, value: object, restore: object = None) -> Iterator[None]:
    """Run the body with DuckDB's setting `name` (ours, not a user's text) at `value`, then set it back to
    what it was, or to `restore` when given, also when the body fails."""
    previous = scalar(conn, "select current_setting(?)", [name]) if restore is None else restore
    conn.execute(f"set {name} = {_setting_literal(value)}")
    try:
        yield
    finally:
        conn.execute(f"set {name} = {_setting_literal(previous)}")


def _setting_literal(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else literal(str(value))


def memory_capped(conn: duckdb.DuckDBPyConnection, gib: float) -> AbstractContextManager[None]:
    """Run the body with DuckDB's buffer pool capped at `gib` (its own cap if lower), then set the cap back.

    DuckDB shows its cap to a tenth of its unit and keeps a cap set in bytes to a multiple of 256 KiB:
    the cap comes back as shown, rounded up to a whole MiB, which it then shows and keeps unchanged, so
    that capping again does not wear it down.
    """
    previous = memory_limit_gib(conn)
    return setting(
        conn, "memory_limit", f"{math.ceil(min(gib, previous) * 2**10)}MiB", restore=f"{math.ceil(previous * 2**10)}MiB"
    )


def has_tables(conn: duckdb.DuckDBPyConnection, schema: str, *tables: str) -> bool:
    """Whether the connection's own database holds every one of `tables` in `schema` (tables, not views)."""
    found = scalar(
        conn,
        "select count(*) from duckdb_tables() where database_name = current_database() and schema_name = ? "
        "and table_name in (select unnest(?::varchar[]))",
        [schema, list(tables)],
    )
    return found == len(tables)


def write_snapshot(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    select_sql: str,
    params: dict[str, Any],
    as_of: dt.date | list[dt.date],
    scope: dict[str, str] | None = None,
    schema: str = "marts",
) -> int:
    """Replace the `as_of` snapshot of `<schema>.<table>` (a marts table unless told) by the rows of
    `select_sql`; return the row count.

    One transaction: a failure leaves the previous snapshot in place. New columns (for
    example a group added to the scoring model) are added, so history is kept. `scope`
    (column -> value, columns named by our code) narrows what is replaced, for tables
    that several assets write parts of. With a list of dates, the snapshots of all of
    them are replaced by what `select_sql` returns (the count is that of the last date).
    Only marts tables carry the catalog's column comments.
    """
    bound = bind(select_sql, params)
    dates = as_of if isinstance(as_of, list) else [as_of]
    with transaction(conn):
        comments = _clear_snapshot(conn, table, select_sql, bound, dates, scope, schema)
        conn.execute(f"insert into {schema}.{table} by name select * from ({select_sql})", bound)
        return _finish_snapshot(conn, table, comments, dates[-1], scope, schema)


def _clear_snapshot(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    select_sql: str,
    bound: Any,
    dates: list[dt.date],
    scope: dict[str, str] | None,
    schema: str,
) -> dict[str | None, str | None]:
    """Create `<schema>.<table>` from `select_sql` if needed, add the columns it lacks and delete the
    snapshots of `dates` (within `scope`); return the table's comments."""
    scope = scope or {}
    scope_sql = "".join(f' and "{column}" = ?' for column in scope)
    conn.execute(f"create table if not exists {schema}.{table} as select * from ({select_sql}) limit 0", bound)
    comments = _comments(conn, table, schema)
    described = conn.execute(f"describe select * from ({select_sql})", bound).fetchall()
    for name, data_type, *_ in described:
        if name not in comments:
            conn.execute(f'alter table {schema}.{table} add column "{name}" {data_type}')
            comments[name] = None
    conn.execute(
        f"delete from {schema}.{table} where as_of_date between ? and ? "
        f"and list_contains(?::date[], as_of_date){scope_sql}",
        [min(dates), max(dates), dates, *scope.values()],
    )
    return comments


def _finish_snapshot(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    comments: dict[str | None, str | None],
    as_of: dt.date,
    scope: dict[str, str] | None,
    schema: str,
) -> int:
    """The row count of the `as_of` snapshot (within `scope`), after setting a marts table's comments."""
    scope = scope or {}
    scope_sql = "".join(f' and "{column}" = ?' for column in scope)
    count = scalar(
        conn, f"select count(*) from {schema}.{table} where as_of_date = ?{scope_sql}", [as_of, *scope.values()]
    )
    if schema == "marts":
        _comment_columns(conn, table, comments)
    return count


def write_frame_snapshot(
    conn: duckdb.DuckDBPyConnection, table: str, frame: Any, as_of: dt.date, scope: dict[str, str] | None = None
) -> int:
    """Write a polars frame as the `as_of` snapshot of `marts.<table>` (see write_snapshot); return the row count."""
    return write_frames_snapshot(conn, table, [frame], as_of, scope)


def write_frames_snapshot(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frames: Iterable[Any],
    as_of: dt.date,
    scope: dict[str, str] | None = None,
) -> int:
    """Write polars frames with the same columns, in turn, as the `as_of` snapshot of `marts.<table>`
    in one transaction (see write_snapshot); return the row count.

    `frames` may be a generator: a snapshot too large to hold at once is then built and inserted a
    batch at a time, the next batch made after the last one is inserted. At least one frame (it may
    be empty: it gives the columns).
    """
    select_sql = "select * from snapshot_frame"
    comments = None
    with transaction(conn):
        for snapshot_frame in frames:
            if comments is None:
                conn.register("snapshot_frame", snapshot_frame)
                try:
                    comments = _clear_snapshot(conn, table, select_sql, [], [as_of], scope, "marts")
                finally:
                    conn.unregister("snapshot_frame")
            # DuckDB reads the loop's variable by its name (a replacement scan): a frame registered
            # with conn.register stays in memory until the transaction ends, 10M rows of
            # score_contributions were 1.2 GB more of it.
            conn.execute(f"insert into marts.{table} by name {select_sql}")
            del snapshot_frame
        if comments is None:
            raise ValueError(f"no frame to write as the {as_of} snapshot of marts.{table}")
        return _finish_snapshot(conn, table, comments, as_of, scope, "marts")


def write_sql_snapshot(
    conn: duckdb.DuckDBPyConnection, table: str, params: dict[str, Any], layer: str = "marts"
) -> int:
    """Write the snapshot of `<layer>.<table>` from `sql/<layer>/<table>.sql`; return the row count.

    A file that takes `$as_of_dates` writes the snapshots of all those dates at once. A file that reads
    state.account_order_days (the running order totals) brings it up to date first.
    """
    dates = params["as_of_dates"] if takes_date_range(table, layer) else params["as_of"]
    if ("state", "account_order_days") in tables_read(f"{layer}/{table}"):
        # Imported here: warehouse/order_days.py uses this module's transaction().
        from kam_pipeline.warehouse.order_days import refresh_order_days

        refresh_order_days(conn)
    if layer != "marts":
        conn.execute(f"create schema if not exists {layer}")
    return write_snapshot(conn, table, read_sql(f"{layer}/{table}"), params, dates, schema=layer)


def _comments(conn: duckdb.DuckDBPyConnection, table: str, schema: str = "marts") -> dict[str | None, str | None]:
    """The comments of `<schema>.<table>` (key None) and of each of its columns (by name): one catalog
    query tells both which columns exist and which comments to set."""
    return dict(
        conn.execute(
            "select null, comment from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ? "
            "union all select column_name, comment from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, table, schema, table],
        ).fetchall()
    )


def _comment_columns(conn: duckdb.DuckDBPyConnection, table: str, stored: dict[str | None, str | None]) -> None:
    """Set the catalog's comments on `marts.<table>` and its columns where they differ from `stored`
    (one statement each), so a snapshot of an unchanged table costs no statement."""
    for name, comment in stored.items():
        wanted = column_comment(table, name)
        if comment == wanted:
            continue
        target = f"table marts.{table}" if name is None else f'column marts.{table}."{name}"'
        conn.execute(f"comment on {target} is {literal(wanted)}")


def literal(text: str) -> str:
    """`text` as a quoted SQL string literal, for the statements that take no parameters (COMMENT ON,
    COPY, ATTACH)."""
    return "'" + text.replace("'", "''") + "'"
