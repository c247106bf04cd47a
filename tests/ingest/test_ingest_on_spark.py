"""The typing and row rules on Spark (`engines/spark_ingest.py`) stage and quarantine what DuckDB does.

The bad-input corpus of the ingestion tests (the row-rule cases of test_rules.py, the spreadsheet
and ambiguous forms of test_formats.py, the seeded edge rows of test_rules_sql.py) and files that
test the reading itself (a quoted field over two lines, a quoted empty row, a row wider than the
header, a byte that is not UTF-8) are ingested into two working databases: with DuckDB's typing
and with Spark's. Staged rows (every typed value and its `_violations`), quarantine reasons and
row numbers, and the per-file counts must be the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from test_formats import AMOUNTS, DATES, TIMESTAMP_REASON, TIMESTAMPS
from test_rules import ROW_RULES
from test_rules_sql import MANAGERS, ROWS, generate

from ingest_support import csv_text, row, rows_of, write
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import ingest_source

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 1, 1, 8, 0, 0)
SOURCES_ON_SPARK = ("orders", "invoices", "complaints", "surveys")
# Reason cells of test_formats' quarantine cases for orders (one row each).
AMBIGUOUS = ["03/07/2025", "07/03/25", "2025/2/30", "2026/7/13 25:00", "25-03-07", "25-3-7 00:00:00"]
# Timestamps of complaints with and without an offset: converted to UTC, kept as delivered when none,
# quarantined when the offset is not one DuckDB reads (one-digit hours, a zone name, minutes in one
# digit, a blank before it), and a day past the month's end or a two-digit year (quarantined on both).
OFFSETS = [
    "2026-07-13T14:05:00+05:30",
    "2026-07-13 14:05:00.125-0530",
    "2026-07-13T14:05:00Z",
    "2026-07-13T14:05:00z",
    "2026-07-13T14:05:00+08",
    "2026-07-13T14:05:00-00:00",
    "2026-07-13T14:05:00+05:30:15",
    "2026-07-13T14:05:00",
    "2026-07-13 14:05",
    "2026-07-13T14:05:00+5",
    "2026-07-13T14:05:00+05:3",
    "2026-07-13T14:05:00 +05:00",
    "2026-07-13T14:05:00UTC",
    "2026-07-13T14:05:00+0530:00",
    "2026-07-13T14:05+05:30",
    "2026-02-30T14:05:00+01:00",
    "2026-02-32T14:05:00+01:00",
    "2026-07-13T25:05:00+01:00",
    "26-07-13T14:05:00+01:00",
    "26-07-13 14:05",
]


def write_corpus(data_dir: Path) -> None:
    managers = [row("managers", manager_id=f"M{m}") for m in range(MANAGERS)]
    accounts = [row("accounts", account_id=f"A{a}", manager_id=f"M{a % MANAGERS}") for a in range(ROWS)]
    write(data_dir, "managers.csv", csv_text("managers", managers))
    write(data_dir, "accounts.csv", csv_text("accounts", accounts))
    for source in SOURCES_ON_SPARK:
        # A quoted line break sends a file to polars on either engine (orders_quoted.csv): the seeded
        # rows keep theirs as a blank, so Spark types them.
        generated = [{c: text.replace("\n", " ") for c, (_, text) in r.items()} for r in generate(source, 7)]
        write(data_dir, f"{source}.csv", csv_text(source, generated))
        rules = [row(s, **cells) for s, cells, _ in ROW_RULES if s == source]
        write(data_dir, f"{source}_rules.csv", csv_text(source, rules))
    forms = [row("orders", order_id=f"D{i}", order_date=text) for i, (text, _) in enumerate(DATES)]
    forms += [row("orders", order_id=f"N{i}", net_amount=text) for i, (text, _) in enumerate(AMOUNTS)]
    forms += [row("orders", order_id=f"X{i}", order_date=text) for i, text in enumerate(AMBIGUOUS)]
    write(data_dir, "orders_forms.csv", csv_text("orders", forms))
    stamps = [row("complaints", complaint_id=f"T{i}", opened_at=text) for i, (text, _) in enumerate(TIMESTAMPS)]
    stamps += [
        row("complaints", complaint_id=f"Z{i}", opened_at="2026-01-01 09:00", resolved_at=text)
        for i, text in enumerate(OFFSETS)
    ]
    write(data_dir, "complaints_offsets.csv", csv_text("complaints", stamps))
    header = ",".join(SOURCES["orders"].column_names)
    valid = ",".join(row("orders").values())
    bad_status = ",".join(row("orders", order_id="O3", status="shipped").values())
    # Row 2 spans two lines; rows 3 and 5 are quarantined; row 4 is only quoted empty cells.
    # A quoted line break makes both engines read the file with polars (DuckDB's reader does not
    # take it with null padding); a quoted empty row is tested by itself too.
    empty = ",".join('""' for _ in SOURCES["orders"].column_names)
    product = row("orders", order_id="O2", product_category="two\nlines")
    spanning = ",".join(f'"{v}"' for v in product.values())
    write(data_dir, "orders_quoted.csv", f"{header}\n{valid}\n{spanning}\n{bad_status}\n{empty}\n{bad_status}\n")
    write(data_dir, "orders_empty.csv", f"{header}\n{bad_status}\n{empty}\n{bad_status}\n,,,,,,,,\n{bad_status}\n")
    # A row wider than the header, and a byte that is not UTF-8: both read by polars on either engine.
    write(data_dir, "orders_ragged.csv", f"{header}\n{valid},surplus\n{bad_status}\n")
    write(
        data_dir,
        "orders_latin1.csv",
        f"{header}\n{bad_status}\n".encode() + valid.replace("O1", "O\xe9").encode("latin-1") + b"\n",
    )


def ingest_all(db: Path, data_dir: Path, stager=None) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(db))
    for source in ("managers", "accounts", *SOURCES_ON_SPARK):
        ingest_source(conn, data_dir, source, now=NOW, stager=stager)
    return conn


def outcome(conn: duckdb.DuckDBPyConnection, source: str) -> dict[str, list[tuple]]:
    return {
        "typed": rows_of(conn, f"select * from staging.{source}_typed order by _source_file, _row_number"),
        "violations": rows_of(
            conn,
            'select _source_file, _row_number, "column", rule, value, stage from quarantine.rule_violations '
            "where source = ? order by all",
            [source],
        ),
        "quarantine": rows_of(
            conn,
            f"select _source_file, _row_number, reason from quarantine.{source} order by _source_file, _row_number",
        ),
        "files": rows_of(
            conn,
            "select file_name, status, rows_read, rows_valid, rows_quarantined from raw.ingest_log "
            "where source = ? order by file_name",
            [source],
        ),
    }


def test_the_bad_input_corpus_stages_and_quarantines_the_same_rows_on_spark(spark, tmp_path, data_dir):
    from kam_pipeline.engines.spark_ingest import SparkStager

    class Recording(SparkStager):
        """The engine's stager, noting the files Spark staged."""

        staged: list[str] = []

        def stage(self, spec, path, file_name, columns, values):
            query = super().stage(spec, path, file_name, columns, values)
            self.staged.append(file_name)
            return query

    write_corpus(data_dir)
    (tmp_path / "duckdb").mkdir()
    (tmp_path / "spark").mkdir()
    on_duckdb = ingest_all(tmp_path / "duckdb" / "kam.duckdb", data_dir)
    stager = Recording("local[2]", tmp_path / "spark" / "kam.work.duckdb")
    on_spark = ingest_all(tmp_path / "spark" / "kam.duckdb", data_dir, stager)
    for source in SOURCES_ON_SPARK:
        got, expected = outcome(on_spark, source), outcome(on_duckdb, source)
        for part in expected:
            only = [r for r in got[part] if r not in expected[part]], [r for r in expected[part] if r not in got[part]]
            assert got[part] == expected[part], f"{source} {part}: Spark only {only[0][:3]}, DuckDB only {only[1][:3]}"
    # Spark staged every plain CSV file but those DuckDB's reader hands to polars too: the ragged
    # one, the one that is not UTF-8 and the one with a quoted line break.
    assert sorted(stager.staged) == sorted(
        [f"{s}.csv" for s in SOURCES_ON_SPARK]
        + [f"{s}_rules.csv" for s in SOURCES_ON_SPARK]
        + ["orders_forms.csv", "orders_empty.csv", "complaints_offsets.csv"]
    )
    # Offsets converted to UTC, as computed by hand; those DuckDB does not read quarantined.
    offsets = dict(
        rows_of(
            on_spark,
            "select complaint_id, resolved_at from staging.complaints_typed "
            "where _source_file = 'complaints_offsets.csv' and complaint_id like 'Z%'",
        )
    )
    local = dt.datetime(2026, 7, 13, 14, 5)
    assert offsets == {
        "Z0": local - dt.timedelta(hours=5, minutes=30),
        "Z1": local + dt.timedelta(hours=5, minutes=30, milliseconds=125),
        "Z2": local,
        "Z3": local,
        "Z4": local - dt.timedelta(hours=8),
        "Z5": local,
        "Z6": local - dt.timedelta(hours=5, minutes=30, seconds=15),
        "Z7": local,
        "Z8": local,
        "Z9": None,
        "Z10": None,
        "Z11": None,
        "Z12": None,
        "Z13": None,
        "Z14": None,
        "Z15": None,
        "Z16": None,
        "Z17": None,
        "Z18": None,
        "Z19": None,
    }
    bad = rows_of(
        on_spark,
        "select reason from quarantine.complaints where _source_file = 'complaints_offsets.csv' order by _row_number",
    )
    assert [r for (r,) in bad if r.startswith("resolved_at: not a timestamp")] == [
        f"resolved_at: {TIMESTAMP_REASON} (value '{OFFSETS[i]}')" for i in range(9, len(OFFSETS))
    ]
    # The corpus has quarantined rows, numbered as the file reads (row 2 spans two lines).
    quoted = rows_of(
        on_spark,
        "select _row_number, reason from quarantine.orders where _source_file = 'orders_quoted.csv' "
        "and reason like 'status%'",
    )
    assert sorted(quoted) == [
        (3, "status: isin(['completed', 'cancelled', 'returned']) (value 'shipped')"),
        (5, "status: isin(['completed', 'cancelled', 'returned']) (value 'shipped')"),
    ]
    empty = rows_of(on_spark, "select _row_number from quarantine.orders where _source_file = 'orders_empty.csv'")
    assert sorted(empty) == [(1,), (3,), (5,)]
    rules = {source for source, _, _ in ROW_RULES if source in SOURCES_ON_SPARK}
    for source in rules:
        assert len(outcome(on_spark, source)["quarantine"]) >= 2, source
    assert rows_of(
        on_spark,
        "select product_category from staging.orders_typed where _source_file = 'orders_quoted.csv' and _row_number = 2",
    ) == [("two\nlines",)]
