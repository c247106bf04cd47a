"""Excel workbooks as sources, files of the data folder that are not read, and ingest_log counts.

The workbooks are written by the tests with real cell types (XlsxWriter for .xlsx, xlwt for .xls):
date cells, number cells and text cells, as a spreadsheet user leaves them.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter
import xlwt
from msoffcrypto.format.ooxml import OOXMLFile

from conftest import AS_OF
from ingest_support import (
    T1,
    T2,
    ingest,
    reasons,
    row,
    rows_of,
    staged,
    write,
    write_reference_data,
    write_source,
)
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import NO_SOURCE, record_ignored
from test_cli import kam

ORDER_HEADER = SOURCES["orders"].column_names
COMPLAINT_HEADER = SOURCES["complaints"].column_names


def write_xlsx(path: Path, sheets: dict[str, list[list[object] | None]]) -> Path:
    """Write a workbook with one sheet per entry; a row of None is left empty.

    Strings become text cells, numbers number cells, dates date cells (`yyyy-mm-dd`) and
    datetimes date cells with a time format (`yyyy-mm-dd hh:mm`), as Excel stores them.
    """
    workbook = xlsxwriter.Workbook(str(path))
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    time_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for name, rows in sheets.items():
        sheet = workbook.add_worksheet(name)
        for r, cells in enumerate(rows):
            for c, value in enumerate(cells or []):
                if value is None:
                    continue
                if isinstance(value, str):
                    sheet.write_string(r, c, value)
                elif isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, time_format)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_format)
                else:
                    sheet.write_number(r, c, value)
    workbook.close()
    return path


def write_xls(path: Path, sheet_name: str, rows: list[list[object]]) -> Path:
    """Write a legacy .xls workbook (BIFF8) with one sheet; dates as date cells."""
    book = xlwt.Workbook()
    sheet = book.add_sheet(sheet_name)
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for r, cells in enumerate(rows):
        for c, value in enumerate(cells):
            if isinstance(value, dt.date):
                sheet.write(r, c, dt.datetime.combine(value, dt.time()), date_style)
            elif value is not None:
                sheet.write(r, c, value)
    book.save(str(path))
    return path


def log_counts(conn: duckdb.DuckDBPyConnection, source: str) -> list[tuple]:
    """(file, rows_read, rows_valid, rows_quarantined) of the source's loaded files in raw.ingest_log."""
    return rows_of(
        conn,
        "select file_name, rows_read, rows_valid, rows_quarantined from raw.ingest_log "
        "where source = ? and status = 'loaded' order by file_name",
        [source],
    )


def table_counts(conn: duckdb.DuckDBPyConnection, source: str) -> list[tuple]:
    """(file, rows in staging.<source>, rows in quarantine.<source>) per loaded file, counted in the tables."""
    return rows_of(
        conn,
        f"""
        select f.file_name,
               (select count(*) from staging.{source} as s where s._source_file = f.file_name),
               (select count(*) from quarantine.{source} as q where q._source_file = f.file_name)
        from raw.ingest_log as f where f.source = ? and f.status = 'loaded' order by f.file_name""",
        [source],
    )


def assert_log_agrees_with_tables(conn: duckdb.DuckDBPyConnection, source: str) -> None:
    assert [(f, valid, quarantined) for f, _read, valid, quarantined in log_counts(conn, source)] == table_counts(
        conn, source
    )


# --- Excel sources -----------------------------------------------------------------------------


def test_excel_dates_and_numbers_keep_their_types_and_bad_cells_are_quarantined_by_row(conn, data_dir):
    write_reference_data(data_dir)
    write_xlsx(
        data_dir / "orders.xlsx",
        {
            "Sheet1": [
                ORDER_HEADER,
                ["O1", 1, "A1", dt.date(2025, 1, 31), "widgets", 2, 104664.47, 60000, "completed"],
                ["O2", 2, "A1", dt.date(2025, 2, 1), "widgets", -1, 100000, None, "completed"],
                None,  # an empty row still counts, as a blank line of a CSV file does
                ["O3", 1, "A2", "2025-02-03", "机械", "many", 12.5, 1.25, "cancelled"],
                ["O4", 1.0, "A2", dt.date(2025, 2, 4), "gadgets", 0.5, 1e5, 123456789.5, "Returned"],
            ]
        },
    )

    report = ingest(conn, data_dir)["orders"]

    assert [(f.file, f.status, f.rows_read, f.rows_valid, f.rows_quarantined) for f in report.files] == [
        ("orders.xlsx", "loaded", 4, 2, 2)
    ]
    assert staged(
        conn,
        "orders",
        "order_id, line_no, order_date, quantity, cast(net_amount as double), "
        "cast(cost_amount as double), status, _row_number",
    ) == [
        ("O1", 1, dt.date(2025, 1, 31), 2.0, 104664.47, 60000.0, "completed", 1),
        ("O4", 1, dt.date(2025, 2, 4), 0.5, 100000.0, 123456789.5, "returned", 5),
    ]
    assert reasons(conn, "orders") == [
        ("orders.xlsx", 2, "quantity: greater_than_or_equal_to(0) (value '-1.0')", 1),
        ("orders.xlsx", 4, "quantity: not a number (value 'many')", 1),
    ]
    # raw keeps the cells as text: a date cell as its ISO date, a number as its digits.
    assert rows_of(
        conn, "select line_no, order_date, quantity, net_amount, cost_amount from raw.orders order by _row_number"
    ) == [
        ("1", "2025-01-31", "2", "104664.47", "60000"),
        ("2", "2025-02-01", "-1", "100000", None),
        ("1", "2025-02-03", "many", "12.5", "1.25"),
        ("1", "2025-02-04", "0.5", "100000", "123456789.5"),
    ]
    assert log_counts(conn, "orders") == [("orders.xlsx", 4, 2, 2)]


def test_excel_timestamps_keep_the_time_of_day_and_text_cells_stay_as_typed(conn, data_dir):
    write_reference_data(data_dir)
    write_xlsx(
        data_dir / "complaints.xlsx",
        {
            "Sheet1": [
                COMPLAINT_HEADER,
                ["C1", "A1", dt.datetime(2026, 7, 13, 14, 5), dt.datetime(2026, 7, 14), "high", "delivery"],
                ["C2", "A2", "2026-07-15 00:00:00", None, "Low", "billing"],
                ["C3", "A2", "yesterday", None, "low", "billing"],
            ]
        },
    )

    report = ingest(conn, data_dir)["complaints"]

    assert (report.staged_rows, report.quarantined_rows) == (2, 1)
    assert staged(conn, "complaints", "complaint_id, opened_at, resolved_at, severity") == [
        ("C1", dt.datetime(2026, 7, 13, 14, 5), dt.datetime(2026, 7, 14), "high"),
        ("C2", dt.datetime(2026, 7, 15), None, "low"),
    ]
    assert rows_of(conn, "select opened_at, resolved_at from raw.complaints order by _row_number") == [
        ("2026-07-13 14:05:00", "2026-07-14"),
        ("2026-07-15 00:00:00", None),
        ("yesterday", None),
    ]
    assert reasons(conn, "complaints") == [
        (
            "complaints.xlsx",
            3,
            "opened_at: not a timestamp (year first: YYYY-MM-DD HH:MM[:SS] or ISO 8601, also YYYY/M/D H:MM[:SS]) "
            "(value 'yesterday')",
            1,
        )
    ]


def test_the_sheet_named_after_the_source_is_read_else_the_first(conn, data_dir):
    write_xlsx(
        data_dir / "managers.xlsx",
        {
            "Read me": [["This workbook lists our managers"]],
            " Managers ": [SOURCES["managers"].column_names, ["M1", "Wang Wei", "T1", "East"]],
        },
    )
    write_xlsx(
        data_dir / "managers_new.xlsx",
        {
            "Sheet1": [SOURCES["managers"].column_names, ["M2", "Li Na", "T2", "South"]],
            "Sheet2": [SOURCES["managers"].column_names, ["M9", "Not read", "T9", "Nowhere"]],
        },
    )

    ingest(conn, data_dir, "managers")

    assert staged(conn, "managers", "manager_id, manager_name, _source_file") == [
        ("M1", "Wang Wei", "managers.xlsx"),
        ("M2", "Li Na", "managers_new.xlsx"),
    ]


def test_legacy_xls_loads_like_xlsx(conn, data_dir):
    header = SOURCES["accounts"].column_names
    rows = [
        ["A1", "Acme", "strategic", "retail", "east", "M1", dt.date(2020, 1, 15)],
        ["A2", "Beta", "key", "retail", "east", "M1", "2020-13-01"],
    ]
    write_source(data_dir, "managers", [row("managers")])
    write_xls(data_dir / "accounts.xls", "accounts", [header, *rows])

    report = ingest(conn, data_dir, "managers", "accounts")["accounts"]

    assert [(f.file, f.status, f.rows_read) for f in report.files] == [("accounts.xls", "loaded", 2)]
    assert staged(conn, "accounts", "account_id, since") == [("A1", dt.date(2020, 1, 15))]
    assert reasons(conn, "accounts") == [
        ("accounts.xls", 2, "since: not a date (year first: YYYY-MM-DD, YYYY/M/D or YYYY.M.D) (value '2020-13-01')", 1)
    ]


def test_excel_header_is_normalised_like_csv_and_empty_columns_are_no_columns(conn, data_dir):
    write_xlsx(
        data_dir / "managers.xlsx",
        {
            "Sheet1": [
                [" Manager ID", "MANAGER_NAME", "team id", "Team_Name", None, "备注"],
                ["M1", "Wang Wei", "T1", "East", None, "加急"],
            ]
        },
    )

    ingest(conn, data_dir, "managers")

    assert staged(conn, "managers", "manager_id, manager_name, team_id, team_name") == [
        ("M1", "Wang Wei", "T1", "East")
    ]
    assert rows_of(conn, "select _extra from raw.managers") == [('{"备注":"加急"}',)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("orders_broken.xlsx", b"PK\x03\x04 not really a zip archive"),
        ("orders_empty.xls", b""),
        ("orders_web.xls", b"<html><body><table><tr><td>order_id</td></tr></table></body></html>"),
    ],
    ids=["corrupt", "empty", "html-named-xls"],
)
def test_unreadable_workbook_fails_with_its_reason_and_the_others_load(conn, data_dir, name, content):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")])
    write(data_dir, name, content)

    report = ingest(conn, data_dir)["orders"]

    assert [(f.file, f.status) for f in report.files] == sorted([("orders.csv", "loaded"), (name, "failed")])
    (failed,) = report.unreadable
    assert failed.reason.startswith("not a readable Excel file: ")
    assert rows_of(conn, "select status, reason from raw.ingest_log where file_name = ?", [name]) == [
        ("failed", failed.reason)
    ]
    assert report.staged_rows == 1


def test_password_protected_workbook_fails_saying_so(conn, data_dir, tmp_path):
    write_reference_data(data_dir)
    plain = write_xlsx(
        tmp_path / "plain.xlsx",
        {"Sheet1": [ORDER_HEADER, ["O1", 1, "A1", dt.date(2025, 1, 31), "widgets", 2, 10, 5, "completed"]]},
    )
    with plain.open("rb") as source, (data_dir / "orders.xlsx").open("wb") as encrypted:
        OOXMLFile(source).encrypt("secret", encrypted)

    report = ingest(conn, data_dir)["orders"]

    assert [(f.file, f.status) for f in report.files] == [("orders.xlsx", "failed")]
    assert "password protected" in report.files[0].reason
    assert rows_of(conn, "select status, reason from raw.ingest_log where file_name = 'orders.xlsx'") == [
        ("failed", report.files[0].reason)
    ]


def test_workbook_with_a_header_only_or_an_empty_sheet_loads_no_rows(conn, data_dir):
    write_reference_data(data_dir)
    write_xlsx(data_dir / "orders.xlsx", {"Sheet1": [ORDER_HEADER]})
    write_xlsx(data_dir / "orders_blank.xlsx", {"Sheet1": []})

    report = ingest(conn, data_dir)["orders"]

    assert [(f.file, f.status, f.rows_read, f.reason) for f in report.files] == [
        ("orders.xlsx", "loaded", 0, None),
        ("orders_blank.xlsx", "loaded", 0, None),
    ]


# --- files that are not read -------------------------------------------------------------------


def _ignored(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return rows_of(
        conn,
        "select source, file_name, status, rows_read, reason from raw.ingest_log "
        "where status = 'ignored' order by source, file_name",
    )


def test_files_not_read_are_listed_as_ignored_with_the_reason(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")])
    for name in (
        "orders.xlsm",
        "orders_2024.json",
        "customers.csv",
        "notes.txt",
        "README",
        "~$orders.xlsx",
        "orders-2024.csv",
        "Sources.yaml",
    ):
        write(data_dir, name, "something")
    # Not data files: hidden files, the mapping file and folders are not listed.
    for name in (".DS_Store", "sources.yaml"):
        write(data_dir, name, "something")
    (data_dir / "archive").mkdir()
    write_source(data_dir / "archive", "orders", [row("orders", order_id="OLD")])

    record_ignored(conn, data_dir, now=T1)
    reports = ingest(conn, data_dir)

    sources = ", ".join(sorted(SOURCES))
    accepted = "(accepted: csv, parquet, xlsx, xls)"
    assert _ignored(conn) == [
        (NO_SOURCE, "README", "ignored", None, f"unsupported file type none {accepted}"),
        # The mapping file is found by its exact name only: another spelling is listed, not lost.
        (NO_SOURCE, "Sources.yaml", "ignored", None, f"unsupported file type '.yaml' {accepted}"),
        (NO_SOURCE, "customers.csv", "ignored", None, f"no source named 'customers' (sources: {sources})"),
        (NO_SOURCE, "notes.txt", "ignored", None, f"unsupported file type '.txt' {accepted}"),
        (NO_SOURCE, "~$orders.xlsx", "ignored", None, "a lock file Excel keeps while the workbook is open"),
        (
            "orders",
            "orders-2024.csv",
            "ignored",
            None,
            "not a file name of source 'orders' (name it orders.csv or orders_<anything>.csv)",
        ),
        ("orders", "orders.xlsm", "ignored", None, f"unsupported file type '.xlsm' {accepted}"),
        ("orders", "orders_2024.json", "ignored", None, f"unsupported file type '.json' {accepted}"),
    ]
    # The ignored files of a source are not its files: they are neither read nor removed.
    assert [(f.file, f.status) for f in reports["orders"].files] == [("orders.csv", "loaded")]
    assert staged(conn, "orders", "order_id") == [("O1",)]

    # A re-run writes nothing; an ignored file that leaves the folder leaves the log.
    before = rows_of(conn, "select * from raw.ingest_log order by all")
    record_ignored(conn, data_dir, now=T2)
    again = ingest(conn, data_dir, now=T2)
    assert rows_of(conn, "select * from raw.ingest_log order by all") == before
    assert [(f.file, f.status) for f in again["orders"].files] == [("orders.csv", "unchanged")]
    (data_dir / "notes.txt").unlink()
    (data_dir / "orders.xlsm").unlink()
    record_ignored(conn, data_dir, now=T2)
    assert [r[1] for r in _ignored(conn)] == [
        "README",
        "Sources.yaml",
        "customers.csv",
        "~$orders.xlsx",
        "orders-2024.csv",
        "orders_2024.json",
    ]


def test_an_ignored_file_that_changes_is_listed_anew(conn, data_dir):
    path = write(data_dir, "orders.json", "[]")
    record_ignored(conn, data_dir, now=T1)
    write(data_dir, "orders.json", "[1, 2, 3]")

    record_ignored(conn, data_dir, now=T2)

    assert rows_of(conn, "select file_name, size_bytes, ingested_at from raw.ingest_log") == [
        ("orders.json", path.stat().st_size, T2)
    ]


# --- raw.ingest_log counts after the cross-row rules -------------------------------------------


def test_ingest_log_counts_agree_with_staging_and_quarantine_after_cross_row_rules(conn, data_dir):
    write_reference_data(data_dir)
    write_source(
        data_dir,
        "orders",
        [
            row("orders"),
            row("orders", order_id="O2", account_id="A9"),  # unknown account: a cross-row rule
            row("orders", order_id="O3", quantity="-1"),  # a row rule
            row("orders", order_id="O5", quantity="1"),  # conflicts with orders_b.csv: a cross-row rule
        ],
        name="orders_a.csv",
    )
    write_source(
        data_dir,
        "orders",
        [
            row("orders"),  # an identical copy of orders_a.csv's first row: collapsed, neither valid nor quarantined
            row("orders", order_id="O4"),
            row("orders", order_id="O5", quantity="2"),
        ],
        name="orders_b.csv",
    )

    ingest(conn, data_dir, now=T1)

    assert log_counts(conn, "orders") == [("orders_a.csv", 4, 1, 3), ("orders_b.csv", 3, 1, 1)]
    assert_log_agrees_with_tables(conn, "orders")

    # The account becomes known: only accounts' files changed, the orders are re-judged and the log follows.
    write_source(data_dir, "accounts", [row("accounts", account_id="A9")], name="accounts_more.csv")
    reports = ingest(conn, data_dir, now=T2)
    assert [f.status for f in reports["orders"].files] == ["unchanged", "unchanged"]
    assert log_counts(conn, "orders") == [("orders_a.csv", 4, 2, 2), ("orders_b.csv", 3, 1, 1)]
    assert_log_agrees_with_tables(conn, "orders")

    # And unknown again when that file goes.
    (data_dir / "accounts_more.csv").unlink()
    ingest(conn, data_dir, now=T2)
    assert log_counts(conn, "orders") == [("orders_a.csv", 4, 1, 3), ("orders_b.csv", 3, 1, 1)]
    assert_log_agrees_with_tables(conn, "orders")
    for source in SOURCES:
        assert_log_agrees_with_tables(conn, source)


def test_run_outcomes_report_the_counts_after_cross_row_rules(conn, data_dir):
    write_reference_data(data_dir)
    write_xlsx(
        data_dir / "orders.xlsx",
        {
            "orders": [
                ORDER_HEADER,
                ["O1", 1, "A1", dt.date(2025, 1, 31), "widgets", 2, 10, 5, "completed"],
                ["O2", 1, "A404", dt.date(2025, 1, 31), "widgets", 2, 10, 5, "completed"],
            ]
        },
    )

    report = ingest(conn, data_dir)["orders"]

    assert [(f.rows_read, f.rows_valid, f.rows_quarantined) for f in report.files] == [(2, 1, 1)]
    assert reasons(conn, "orders") == [
        ("orders.xlsx", 2, "account_id: unknown account_id (not in accounts) (value 'A404')", 1)
    ]
    assert_log_agrees_with_tables(conn, "orders")


# --- the kam command ---------------------------------------------------------------------------


@pytest.mark.integration
def test_kam_run_reads_excel_and_lists_the_files_it_does_not_read(generated_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    accounts = pl.read_csv(data / "accounts.csv", try_parse_dates=True)
    assert accounts.schema["since"] == pl.Date  # written as real date cells
    accounts.write_excel(data / "accounts.xlsx", worksheet="accounts")
    (data / "accounts.csv").unlink()
    write(data, "customers.csv", "id,name\n1,x\n")
    write(data, "surveys_2025.numbers", "not read")
    db = tmp_path / "kam.duckdb"

    proc = kam("run", "--data", str(data), "--db", str(db), "--as-of", AS_OF.isoformat())

    assert proc.returncode == 0, proc.stderr
    assert "ignored file: customers.csv: no source named 'customers' (sources: accounts," in proc.stdout
    assert (
        "ignored file: surveys_2025.numbers (surveys): unsupported file type '.numbers' "
        "(accepted: csv, parquet, xlsx, xls)"
    ) in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    with duckdb.connect(str(db), read_only=True) as out:
        assert out.execute("select count(*), min(since), max(since) from staging.accounts").fetchall() == [
            (accounts.height, accounts["since"].min(), accounts["since"].max())
        ]
        assert out.execute(
            "select source, file_name from raw.ingest_log where status = 'ignored' order by file_name"
        ).fetchall() == [(NO_SOURCE, "customers.csv"), ("surveys", "surveys_2025.numbers")]
        assert out.execute("select count(*) from marts.account_scores where as_of_date = ?", [AS_OF]).fetchall() == [
            (accounts.height,)
        ]


@pytest.mark.integration
def test_required_source_with_only_unsupported_files_names_them(generated_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_data, data)
    for f in data.glob("orders*.csv"):
        f.rename(f.with_suffix(".json"))

    proc = kam("run", "--data", str(data), "--db", str(tmp_path / "kam.duckdb"), "--as-of", AS_OF.isoformat())

    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    names = sorted(f.name for f in data.glob("orders*.json"))
    # One line, the reason itself: no Dagster class name in front of it.
    assert lines[0].startswith(f"kam: error: ingest_sources: required source 'orders' has no readable file in {data}: ")
    assert lines[0].endswith(", ".join(f"{n} (unsupported file type '.json')" for n in names))


@pytest.mark.integration
def test_dagster_metadata_lists_a_sources_ignored_files(data_dir, tmp_path):
    import dagster as dg

    from kam_pipeline.defs.assets.ingest import ingest_assets
    from kam_pipeline.defs.resources import build_resources
    from kam_pipeline.settings import Settings

    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")])
    write(data_dir, "orders_old.xlsm", "macro workbook")
    write(data_dir, "customers.csv", "id\n1\n")

    result = dg.materialize(
        ingest_assets,
        resources=build_resources(Settings(data_dir=data_dir, db_path=tmp_path / "kam.duckdb", model_path=None)),
    )

    assert result.success
    metadata = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("ingest_sources")}
    assert metadata["orders"]["ignored_files"].value == (
        "orders_old.xlsm (unsupported file type '.xlsm' (accepted: csv, parquet, xlsx, xls))"
    )
    assert "| orders_old.xlsm | ignored |" in metadata["orders"]["files"].value
    assert metadata["accounts"]["ignored_files"].value == "none"
    # A file no source's name starts with is logged (source '(none)'), in no source's metadata.
    assert not [s for s, m in metadata.items() if "customers.csv" in m["files"].value]


def test_counts_of_a_database_from_an_older_version_are_corrected_on_the_next_run(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2", account_id="A9")])
    ingest(conn, data_dir, now=T1)
    # As an older version left it: the unknown account not counted, and its own signature.
    conn.execute("update raw.ingest_log set rows_valid = rows_read, rows_quarantined = 0 where source = 'orders'")
    conn.execute("update raw.staging_state set signature = 'written by an older version'")

    ingest(conn, data_dir, now=T2)

    assert log_counts(conn, "orders") == [("orders.csv", 2, 1, 1)]
    assert_log_agrees_with_tables(conn, "orders")
