"""The blocking `satisfies_contract` check: pandera's own models, run inside DuckDB over the staged rows.

Ingestion only stages rows that pass the SQL generated from the models, so to see the check
catch a bad row the test writes rows straight into the typed staging table, as a fault in the
generated SQL would leave them.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest

from kam_pipeline.defs import checks
from kam_pipeline.defs.checks import database_contract_failures, staging_check_results
from kam_pipeline.ingest.load import ingest_source

T0 = dt.datetime(2026, 1, 1, 8, 0, 0)


def _ingest(conn: duckdb.DuckDBPyConnection, data_dir) -> None:
    for source in ("managers", "accounts", "invoices"):
        ingest_source(conn, data_dir, source, now=T0)


def _sneak_in(conn: duckdb.DuckDBPyConnection, values: str, row_number: int) -> None:
    """Stage an invoice row that no SQL rule looked at (file invoices.csv, as if delivered there)."""
    # No rule broken is recorded with it (`_violations` stays null).
    conn.execute(f"insert into staging.invoices_typed values ({values}, 'invoices.csv', {row_number}, null)")


@pytest.fixture
def staged(conn, data_dir):
    (data_dir / "managers.csv").write_text("manager_id,manager_name,team_id,team_name\nM1,Wang Wei,T1,East\n")
    (data_dir / "accounts.csv").write_text(
        "account_id,account_name,segment,industry,region,manager_id,since\nA1,Acme,strategic,retail,east,M1,2020-01-01\n"
    )
    (data_dir / "invoices.csv").write_text(
        "invoice_id,account_id,issued_on,due_on,paid_on,amount\n"
        "I1,A1,2025-01-01,2025-01-31,,100\nI2,A1,2025-02-01,2025-02-28,2025-02-20,50\n"
    )
    _ingest(conn, data_dir)
    return conn


def test_clean_staged_rows_pass(staged):
    contract, _ = staging_check_results(staged, "invoices", dg.AssetKey(["staging", "invoices"]))
    assert contract.passed
    assert contract.metadata["rows_checked"].value == 2


def test_a_column_check_and_a_check_across_columns_fail_in_the_database(staged):
    # A negative amount (ge 0) and a due date before the issue date (not_before), each on its own row.
    _sneak_in(staged, "'I8', 'A1', date '2025-03-01', date '2025-03-31', null, -5", 8)
    _sneak_in(staged, "'I9', 'A1', date '2025-03-01', date '2025-02-27', null, 5", 9)
    failures = database_contract_failures(staged, "invoices", ["invoices.csv"])
    assert sorted(set(zip(failures["column"], failures["check"], strict=True))) == [
        ("Invoices", "due_on must not be before issued_on"),
        ("amount", "greater_than_or_equal_to(0)"),
    ]
    assert failures.filter(failures["column"] == "amount")["failure_case"].to_list() == ["-5.0000"]
    # The verdict of the file is no longer current: the check is evaluated again and blocks.
    staged.execute("update raw.ingest_log set ingested_at = ingested_at + interval 1 second where source = 'invoices'")
    contract, _ = staging_check_results(staged, "invoices", dg.AssetKey(["staging", "invoices"]))
    assert not contract.passed
    assert contract.metadata["failures"].value == 2


def test_a_null_in_a_required_column_fails(staged):
    _sneak_in(staged, "'I7', null, date '2025-03-01', date '2025-03-31', null, 5", 7)
    failures = database_contract_failures(staged, "invoices", ["invoices.csv"])
    assert set(zip(failures["column"], failures["check"], strict=True)) == {("account_id", "not_nullable")}


def test_files_are_judged_together_and_only_the_failing_file_keeps_a_failing_verdict(staged, data_dir):
    (data_dir / "invoices_b.csv").write_text(
        "invoice_id,account_id,issued_on,due_on,paid_on,amount\nI3,A1,2025-03-01,2025-03-31,,70\n"
    )
    ingest_source(staged, data_dir, "invoices", now=T0)
    _sneak_in(staged, "'I8', 'A1', date '2025-03-01', date '2025-03-31', null, -5", 8)
    contract, _ = staging_check_results(staged, "invoices", dg.AssetKey(["staging", "invoices"]))
    assert not contract.passed
    verdicts = staged.execute(
        "select file_name, rows_checked, failures from raw.contract_verdicts where source = 'invoices' order by 1"
    ).fetchall()
    assert verdicts == [("invoices.csv", 3, 1), ("invoices_b.csv", 1, 0)]


def _cases(failures) -> set[tuple[str, str]]:
    return set(zip(failures["column"], failures["check"], strict=True))


def test_in_memory_and_in_duckdb_the_same_rows_fail_the_same_checks(staged):
    _sneak_in(staged, "'I8', 'A1', date '2025-03-01', date '2025-03-31', null, -5", 8)
    _sneak_in(staged, "'I9', 'A1', date '2025-03-01', date '2025-02-27', null, 5", 9)
    _sneak_in(staged, "'I7', null, date '2025-03-01', date '2025-03-31', null, 5", 7)
    rows = 5
    in_memory = checks.staged_contract_failures(staged, "invoices", ["invoices.csv"], rows)
    in_duckdb = database_contract_failures(staged, "invoices", ["invoices.csv"])
    assert (
        _cases(in_memory)
        == _cases(in_duckdb)
        == {
            ("Invoices", "due_on must not be before issued_on"),
            ("amount", "greater_than_or_equal_to(0)"),
            ("account_id", "not_nullable"),
        }
    )
    # In memory, a null is shown as null (not as the query that found it) and a row across columns by its values.
    shown = dict(zip(in_memory["column"], in_memory["failure_case"], strict=True))
    assert shown["account_id"] is None and '"invoice_id":"I9"' in shown["Invoices"]
    assert float(shown["amount"]) == -5.0
    # Clean files pass either way; more rows than the limit are judged inside DuckDB.
    clean = ["nothing.csv"]
    assert checks.staged_contract_failures(staged, "invoices", clean, 0).height == 0
    assert _cases(checks.staged_contract_failures(staged, "invoices", ["invoices.csv"], 10**9)) == _cases(in_duckdb)


def test_the_verdicts_are_the_same_in_memory_and_in_duckdb(staged, data_dir, monkeypatch):
    (data_dir / "invoices_b.csv").write_text(
        "invoice_id,account_id,issued_on,due_on,paid_on,amount\nI3,A1,2025-03-01,2025-03-31,,70\n"
    )
    ingest_source(staged, data_dir, "invoices", now=T0)
    _sneak_in(staged, "'I8', 'A1', date '2025-03-01', date '2025-03-31', null, -5", 8)
    verdicts = {}
    for limit in (0, 10**6):
        monkeypatch.setattr(checks, "CONTRACT_MEMORY_ROWS", limit)
        checks.ensure_verdicts(staged)
        staged.execute("delete from raw.contract_verdicts")
        contract, _ = staging_check_results(staged, "invoices", dg.AssetKey(["staging", "invoices"]))
        assert not contract.passed and contract.metadata["failures"].value == 1
        verdicts[limit] = staged.execute(
            "select file_name, rows_checked, failures from raw.contract_verdicts order by 1"
        ).fetchall()
    assert verdicts[0] == verdicts[10**6] == [("invoices.csv", 3, 1), ("invoices_b.csv", 1, 0)]
