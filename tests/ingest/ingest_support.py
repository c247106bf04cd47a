"""Shared helpers for the ingestion tests: contract-shaped CSV rows, a real DuckDB file, queries.

Kept in a `test_ingest_*` module so the ingestion tests own it; it holds no tests itself. Its
fixtures (`conn`, `data_dir`) are in conftest.py, so that tests request them without importing them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import duckdb

from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import SourceReport, ingest_source

# The order in which sources must be ingested: referenced sources first.
DEPENDENCY_ORDER = (
    "managers",
    "accounts",
    "orders",
    "surveys",
    "complaints",
    "wallet",
    "market",
    "assessments",
    "feedback",
    "invoices",
    "acquisition",
)

T1 = dt.datetime(2026, 1, 1, 8, 0, 0)
T2 = dt.datetime(2026, 1, 2, 8, 0, 0)

# One valid row per source; tests change single cells of it.
VALID: dict[str, dict[str, str]] = {
    "managers": {"manager_id": "M1", "manager_name": "Wang Wei", "team_id": "T1", "team_name": "East"},
    "accounts": {
        "account_id": "A1",
        "account_name": "Acme",
        "segment": "strategic",
        "industry": "retail",
        "region": "east",
        "manager_id": "M1",
        "since": "2020-01-01",
    },
    "orders": {
        "order_id": "O1",
        "line_no": "1",
        "account_id": "A1",
        "order_date": "2024-01-05",
        "product_category": "widgets",
        "quantity": "2",
        "net_amount": "100.50",
        "cost_amount": "60",
        "status": "completed",
    },
    "surveys": {
        "response_id": "S1",
        "account_id": "A1",
        "responded_on": "2024-02-01",
        "overall": "4",
        "product_quality": "4",
        "service_quality": "5",
        "price_value": "3",
        "responsiveness": "4",
        "recommend": "9",
    },
    "complaints": {
        "complaint_id": "C1",
        "account_id": "A1",
        "opened_at": "2024-03-01T10:00:00",
        "resolved_at": "2024-03-02T09:00:00",
        "severity": "high",
        "category": "delivery",
    },
    "wallet": {"account_id": "A1", "year": "2024", "wallet_amount": "5000"},
    "market": {"industry": "retail", "region": "east", "year": "2024", "market_size": "1000000"},
    "assessments": {
        "account_id": "A1",
        "assessed_on": "2024-01-10",
        "assessor": "expert1",
        "dimension": "strategy",
        "score": "4",
    },
    "feedback": {
        "manager_id": "M1",
        "reviewed_on": "2024-01-10",
        "reviewer_role": "peer",
        "competency": "communication",
        "score": "4",
    },
    "invoices": {
        "invoice_id": "I1",
        "account_id": "A1",
        "issued_on": "2024-01-10",
        "due_on": "2024-02-10",
        "paid_on": "",
        "amount": "500",
    },
    "acquisition": {"account_id": "A1", "acquired_on": "2019-12-01", "acquisition_cost": "1500"},
}

# Cells that give a second valid row of each source a key of its own.
OTHER_KEY: dict[str, dict[str, str]] = {
    "managers": {"manager_id": "M3"},
    "accounts": {"account_id": "A3"},
    "orders": {"order_id": "O2"},
    "surveys": {"response_id": "S2"},
    "complaints": {"complaint_id": "C2"},
    "wallet": {"year": "2023"},
    "market": {"year": "2023"},
    "assessments": {},
    "feedback": {},
    "invoices": {"invoice_id": "I2"},
    "acquisition": {"account_id": "A3"},
}


def row(source: str, **cells: str) -> dict[str, str]:
    """Return the valid row of `source` with `cells` replaced."""
    unknown = cells.keys() - VALID[source].keys()
    assert not unknown, f"not a {source} column: {unknown}"
    return {**VALID[source], **cells}


def csv_text(source: str, rows: list[dict[str, str]], header: list[str] | None = None) -> str:
    """Return CSV text (header + rows) with the contract's columns, or `header` in that order."""
    header = header or SOURCES[source].column_names
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.get(c, "") for c in header])
    return out.getvalue()


def write(data_dir: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    """Write a delivered file and return its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def write_source(data_dir: Path, source: str, rows: list[dict[str, str]], name: str | None = None) -> Path:
    """Write `rows` as `<source>.csv` (or `name`) with the contract header."""
    return write(data_dir, name or f"{source}.csv", csv_text(source, rows))


def write_reference_data(data_dir: Path) -> None:
    """Managers M1, M2 and their accounts A1 (of M1), A2 (of M2): what the other sources refer to."""
    write_source(data_dir, "managers", [row("managers"), row("managers", manager_id="M2", manager_name="Li Na")])
    write_source(data_dir, "accounts", [row("accounts"), row("accounts", account_id="A2", manager_id="M2")])


def ingest(
    conn: duckdb.DuckDBPyConnection, data_dir: Path, *sources: str, now: dt.datetime = T1
) -> dict[str, SourceReport]:
    """Ingest `sources` (default: all, in dependency order); return their reports by name."""
    order = [s for s in DEPENDENCY_ORDER if not sources or s in sources]
    return {s: ingest_source(conn, data_dir, s, now=now) for s in order}


def rows_of(conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple]:
    """Return every row of a query (fully consumed, as DuckDB 2.0 wants)."""
    return conn.execute(sql, params).fetchall()


def count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    """Return the number of rows of a table."""
    return rows_of(conn, f"select count(*) from {table}")[0][0]


def reasons(conn: duckdb.DuckDBPyConnection, source: str) -> list[tuple[str, int, str, int]]:
    """Return (file, row, reason, rules_broken) of every quarantined row of `source`, in file order."""
    return rows_of(
        conn,
        f"select _source_file, _row_number, reason, rules_broken from quarantine.{source} "
        "order by _source_file, _row_number",
    )


def staged(conn: duckdb.DuckDBPyConnection, source: str, columns: str = "*") -> list[tuple]:
    """Return the rows of staging.<source> in file order."""
    return rows_of(conn, f"select {columns} from staging.{source} order by _source_file, _row_number")
