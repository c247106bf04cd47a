"""Tiny DuckDB databases for the SQL-file tests: staging laid out by the ingest's own DDL, rows by hand.

staging.<source> is what production reads: the view of staging.<source>_typed minus the rows
listed in staging.<source>_excluded. Rows are inserted as typed rows (with their lineage), so a
SQL file is tested on exactly the shape it reads in production.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import ensure_source
from kam_pipeline.warehouse.order_days import TABLE as ORDER_DAYS
from kam_pipeline.warehouse.order_days import refresh_order_days
from kam_pipeline.warehouse.sql_files import bind, mart_files, read_sql, tables_read

AS_OF = dt.date(2025, 3, 1)

DEFAULT_PARAMS: dict[str, Any] = {
    "as_of": AS_OF,
    "window_days": 365,
    "churn_days": 180,
    "retention_cap": 2.0,
    "sla_low_hours": 240.0,
    "sla_medium_hours": 120.0,
    "sla_high_hours": 72.0,
    "sla_critical_hours": 24.0,
}


def make_db(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """Return a connection to a new DuckDB file with the pipeline's layers and every source's (empty)
    staging, created by the ingest itself."""
    conn = duckdb.connect(str(tmp_path / "test.duckdb"))
    for source in SOURCES:
        ensure_source(conn, source)
    return conn


def insert_staging(conn: duckdb.DuckDBPyConnection, source: str, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` as typed rows of `source` (staging.<source>_typed); return their row numbers.

    Absent nullable columns are NULL, absent defaulted ones take the contract's default, and the
    lineage columns are filled: file `<source>_test.csv`, row numbers following those already there.
    """
    spec = SOURCES[source]
    first = conn.execute(f"select count(*) from staging.{source}_typed").fetchall()[0][0] + 1
    numbers = []
    for number, row in enumerate(rows, start=first):
        unknown = row.keys() - set(spec.column_names)
        if unknown:
            raise KeyError(f"{source}: unknown columns {sorted(unknown)}")
        values = []
        for column in spec.columns:
            if column.name in row:
                values.append(row[column.name])
            elif column.default is not None:
                values.append(int(column.default))
            elif column.nullable:
                values.append(None)
            else:
                raise KeyError(f"{source}: row {number} lacks required column {column.name}")
        names = [*spec.column_names, "_source_file", "_row_number"]
        placeholders = ", ".join("?" for _ in names)
        conn.execute(
            f"insert into staging.{source}_typed ({', '.join(names)}) values ({placeholders})",
            [*values, f"{source}_test.csv", number],
        )
        numbers.append(number)
    return numbers


def exclude_staging(conn: duckdb.DuckDBPyConnection, source: str, numbers: list[int]) -> None:
    """List typed rows of `source` (by row number) in staging.<source>_excluded, as the ingest does
    for a row that broke a rule: staging.<source> no longer shows them."""
    for number in numbers:
        conn.execute(
            f"insert into staging.{source}_excluded (_source_file, _row_number) values (?, ?)",
            [f"{source}_test.csv", number],
        )


def with_dates(params: dict[str, Any]) -> dict[str, Any]:
    """`params` with `as_of_dates` = [as_of] unless given: one snapshot, as a daily run computes it."""
    return {"as_of_dates": [params["as_of"]], **params}


def materialize_inputs(conn: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> None:
    """(Re)build, for `params`, every intermediate table `sql/<name>.sql` reads, their own inputs first, and
    the marts it reads that the test did not make (as the pipeline's lineage runs them first: e.g.
    account_lifecycle before account_indicators)."""
    made = {
        row[0] for row in conn.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
    }
    for schema, table in sorted(tables_read(name)):
        if schema == "intermediate":
            sql = read_sql(f"intermediate/{table}")
            materialize_inputs(conn, f"intermediate/{table}", params)
            conn.execute("create schema if not exists intermediate")
            conn.execute(f"create or replace table intermediate.{table} as {sql}", bind(sql, params))
        elif schema == "state" and table == ORDER_DAYS:
            refresh_order_days(conn)
        elif schema == "marts" and table not in made and table in mart_files():
            materialize_mart(conn, table, **params)


def create_mart_like(conn: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> None:
    """Create `marts.<name>` empty, with exactly the columns and types the SQL file `marts/<name>` returns."""
    params = with_dates(params or DEFAULT_PARAMS)
    sql = read_sql(f"marts/{name}")
    materialize_inputs(conn, f"marts/{name}", params)
    conn.execute(f"create table marts.{name} as select * from ({sql}) as q limit 0", bind(sql, params))


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` by column name into `table` (e.g. a hand-made `marts.account_indicators` snapshot)."""
    for row in rows:
        names = list(row)
        conn.execute(
            f"insert into {table} ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
            list(row.values()),
        )


def run_sql(conn: duckdb.DuckDBPyConnection, name: str, **overrides: Any) -> list[dict[str, Any]]:
    """Run `sql/<name>.sql` with the default parameters (or `overrides`), after building the intermediate
    tables it reads for the same parameters; return its rows as dicts."""
    params = with_dates({**DEFAULT_PARAMS, **overrides})
    sql = read_sql(name)
    materialize_inputs(conn, name, params)
    result = conn.execute(sql, bind(sql, params))
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def run_mart(conn: duckdb.DuckDBPyConnection, name: str, **overrides: Any) -> list[dict[str, Any]]:
    """Run `sql/marts/<name>.sql` (see run_sql); return its rows as dicts."""
    return run_sql(conn, f"marts/{name}", **overrides)


def run_intermediate(conn: duckdb.DuckDBPyConnection, name: str, **overrides: Any) -> list[dict[str, Any]]:
    """Run `sql/intermediate/<name>.sql` (see run_sql); return its rows as dicts."""
    return run_sql(conn, f"intermediate/{name}", **overrides)


def materialize_mart(conn: duckdb.DuckDBPyConnection, name: str, **overrides: Any) -> None:
    """Write `sql/marts/<name>.sql` into `marts.<name>` the way the pipeline does (`insert ... by name`)."""
    params = with_dates({**DEFAULT_PARAMS, **overrides})
    sql = read_sql(f"marts/{name}")
    create_mart_like(conn, name, params)
    conn.execute(f"insert into marts.{name} by name {sql}", bind(sql, params))


def _same(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is expected
    if isinstance(expected, bool) or isinstance(expected, (str, dt.date)):
        return actual == expected
    if isinstance(expected, (int, float, Decimal)):
        if isinstance(actual, float) and math.isnan(actual):
            return False
        return float(actual) == pytest.approx(float(expected), rel=1e-9, abs=1e-9)
    return actual == expected


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    """Assert both lists hold the same rows (matched on `key`), column for column; floats compared approximately."""
    by_key = {tuple(r[k] for k in key): r for r in actual}
    assert len(by_key) == len(actual), "duplicate keys in the result"
    assert sorted(by_key) == sorted(tuple(r[k] for k in key) for r in expected)
    for exp in expected:
        row = by_key[tuple(exp[k] for k in key)]
        assert set(row) == set(exp), f"{exp[key[0]]}: columns differ: {set(row) ^ set(exp)}"
        wrong = {c: (row[c], exp[c]) for c in exp if not _same(row[c], exp[c])}
        assert not wrong, f"{tuple(exp[k] for k in key)}: (actual, expected) {wrong}"
