"""Incremental ingestion by file: unchanged files are not re-read, re-deliveries replace, removals disappear."""

from __future__ import annotations

import datetime as dt
import os

import duckdb

from ingest_support import (
    DEPENDENCY_ORDER,
    T1,
    T2,
    count,
    ingest,
    reasons,
    row,
    rows_of,
    staged,
    write,
    write_reference_data,
    write_source,
)
from kam_pipeline.ingest.load import ingest_source


def _two_order_files(data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2")], name="orders_a.csv")
    write_source(
        data_dir,
        "orders",
        [row("orders", order_id="O3"), row("orders", order_id="O4", quantity="-1")],
        name="orders_b.csv",
    )


def _ingested_at(conn, source="orders"):
    return rows_of(
        conn, f"select _source_file, _row_number, _ingested_at from raw.{source} order by _source_file, _row_number"
    )


def _everything(conn) -> dict[str, list[tuple]]:
    tables = [f"{layer}.{s}" for s in DEPENDENCY_ORDER for layer in ("staging", "quarantine")]
    return {t: rows_of(conn, f"select * from {t} order by all") for t in tables}


def test_unchanged_file_is_not_read_again(conn, data_dir):
    _two_order_files(data_dir)
    ingest(conn, data_dir, now=T1)
    log_before = rows_of(conn, "select * from raw.ingest_log order by all")

    report = ingest(conn, data_dir, now=T2)["orders"]

    assert [(f.file, f.status) for f in report.files] == [("orders_a.csv", "unchanged"), ("orders_b.csv", "unchanged")]
    assert {at for _, _, at in _ingested_at(conn)} == {T1}
    assert rows_of(conn, "select * from raw.ingest_log order by all") == log_before
    assert (report.staged_rows, report.quarantined_rows) == (3, 1)


def test_touching_a_file_without_changing_it_is_unchanged(conn, data_dir):
    _two_order_files(data_dir)
    ingest(conn, data_dir, now=T1)
    path = data_dir / "orders_a.csv"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    report = ingest(conn, data_dir, now=T2)["orders"]

    assert [f.status for f in report.files] == ["unchanged", "unchanged"]
    assert {at for _, _, at in _ingested_at(conn)} == {T1}
    assert rows_of(conn, "select modified_ns, ingested_at from raw.ingest_log where file_name = 'orders_a.csv'") == [
        (stat.st_mtime_ns + 5_000_000_000, T1)
    ]


def test_corrected_redelivery_replaces_exactly_that_files_rows(conn, data_dir):
    _two_order_files(data_dir)
    ingest(conn, data_dir, now=T1)
    assert reasons(conn, "orders") == [("orders_b.csv", 2, "quantity: greater_than_or_equal_to(0) (value '-1.0')", 1)]

    write_source(data_dir, "orders", [row("orders", order_id="O4", quantity="1")], name="orders_b.csv")
    report = ingest(conn, data_dir, now=T2)["orders"]

    assert [(f.file, f.status, f.rows_read) for f in report.files] == [
        ("orders_a.csv", "unchanged", 0),
        ("orders_b.csv", "loaded", 1),
    ]
    assert _ingested_at(conn) == [("orders_a.csv", 1, T1), ("orders_a.csv", 2, T1), ("orders_b.csv", 1, T2)]
    assert staged(conn, "orders", "order_id, quantity, _source_file") == [
        ("O1", 2.0, "orders_a.csv"),
        ("O2", 2.0, "orders_a.csv"),
        ("O4", 1.0, "orders_b.csv"),
    ]
    assert count(conn, "quarantine.orders") == 0
    assert count(conn, "quarantine.rule_violations where source = 'orders'") == 0
    assert rows_of(
        conn,
        "select rows_read, rows_valid, rows_quarantined, status, ingested_at from raw.ingest_log "
        "where file_name = 'orders_b.csv'",
    ) == [(1, 1, 0, "loaded", T2)]


def test_redelivery_that_resolves_a_duplicate_conflict(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")], name="orders_a.csv")
    write_source(data_dir, "orders", [row("orders", quantity="5")], name="orders_b.csv")
    ingest(conn, data_dir, now=T1)
    assert count(conn, "quarantine.orders") == 2

    write_source(data_dir, "orders", [row("orders")], name="orders_b.csv")
    report = ingest(conn, data_dir, now=T2)["orders"]

    assert (report.staged_rows, report.quarantined_rows, report.duplicates_collapsed) == (1, 0, 1)


def test_removed_file_rows_disappear(conn, data_dir):
    _two_order_files(data_dir)
    ingest(conn, data_dir, now=T1)

    (data_dir / "orders_b.csv").unlink()
    report = ingest(conn, data_dir, now=T2)["orders"]

    assert [(f.file, f.status) for f in report.files] == [("orders_b.csv", "removed"), ("orders_a.csv", "unchanged")]
    assert staged(conn, "orders", "order_id") == [("O1",), ("O2",)]
    assert count(conn, "quarantine.orders") == 0
    assert rows_of(conn, "select distinct _source_file from raw.orders") == [("orders_a.csv",)]
    assert rows_of(conn, "select file_name from raw.ingest_log where source = 'orders'") == [("orders_a.csv",)]
    assert count(conn, "quarantine.rule_violations") == 0


def test_failed_file_that_is_fixed_then_loads(conn, data_dir):
    _two_order_files(data_dir)
    write(data_dir, "orders_c.csv", "order_id;quantity\nO5;1\n")
    first = ingest(conn, data_dir, now=T1)["orders"]
    assert [f.file for f in first.unreadable] == ["orders_c.csv"]

    write_source(data_dir, "orders", [row("orders", order_id="O5")], name="orders_c.csv")
    second = ingest(conn, data_dir, now=T2)["orders"]

    assert second.unreadable == []
    assert [(f.file, f.status) for f in second.files][-1] == ("orders_c.csv", "loaded")
    assert staged(conn, "orders", "order_id") == [("O1",), ("O2",), ("O3",), ("O5",)]


def test_same_call_twice_gives_identical_contents(conn, data_dir):
    _two_order_files(data_dir)
    write_source(data_dir, "orders", [row("orders")], name="orders_c.csv")  # an identical duplicate
    write_source(data_dir, "complaints", [row("complaints"), row("complaints", complaint_id="C2", account_id="A9")])
    write(data_dir, "invoices.csv", b"\x00\xff\x00 not text")

    first_reports = ingest(conn, data_dir, now=T1)
    first = _everything(conn)
    second_reports = ingest(conn, data_dir, now=T2)
    second = _everything(conn)

    assert second == first
    for source in DEPENDENCY_ORDER:
        a, b = first_reports[source], second_reports[source]
        assert (a.staged_rows, a.quarantined_rows, a.duplicates_collapsed) == (
            b.staged_rows,
            b.quarantined_rows,
            b.duplicates_collapsed,
        ), source
    assert first_reports["orders"].duplicates_collapsed == 1


def test_state_survives_reopening_the_database(tmp_path, data_dir):
    _two_order_files(data_dir)
    db = tmp_path / "kam.duckdb"
    with duckdb.connect(str(db)) as first:
        ingest(first, data_dir, now=T1)

    with duckdb.connect(str(db)) as second:
        report = ingest(second, data_dir, now=T2)["orders"]
        assert [f.status for f in report.files] == ["unchanged", "unchanged"]
        assert count(second, "staging.orders") == 3


def _contract(conn, data_dir):
    import dagster as dg

    from kam_pipeline.defs.checks import staging_check_results

    contract, _ = staging_check_results(conn, "orders", dg.AssetKey(["staging", "orders"]))
    return contract.passed, {
        k: v.value for k, v in contract.metadata.items() if k in ("rows_checked", "rows_validated_this_run")
    }


def test_pandera_contract_check_validates_each_file_once(conn, data_dir):
    _two_order_files(data_dir)
    ingest(conn, data_dir, now=T1)
    assert _contract(conn, data_dir) == (True, {"rows_checked": 3, "rows_validated_this_run": 3})
    # Nothing changed: the verdicts of both files stand.
    assert _contract(conn, data_dir) == (True, {"rows_checked": 3, "rows_validated_this_run": 0})

    # A daily drop: only its rows are validated again; staging holds old and new rows.
    write_source(data_dir, "orders", [row("orders", order_id="O9")], name="orders_c.csv")
    ingest(conn, data_dir, now=T2)
    assert _contract(conn, data_dir) == (True, {"rows_checked": 4, "rows_validated_this_run": 1})

    # A staged row that breaks the model (written behind the loader's back) fails the check
    # once its file is validated again, i.e. when the file's content changes.
    conn.execute("update staging.orders_typed set quantity = -5 where _source_file = 'orders_c.csv'")
    conn.execute("update raw.ingest_log set sha256 = 'changed' where file_name = 'orders_c.csv'")
    assert _contract(conn, data_dir) == (False, {"rows_checked": 4, "rows_validated_this_run": 1})


def test_staging_is_a_view_of_delivered_rows_minus_rejected_and_repeated_ones(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2")], name="orders_a.csv")
    # O1 again, identical (collapsed), O2 with other content (both copies rejected), an unknown account.
    write_source(
        data_dir,
        "orders",
        [row("orders"), row("orders", order_id="O2", quantity="7"), row("orders", order_id="O3", account_id="A404")],
        name="orders_b.csv",
    )
    report = ingest(conn, data_dir, now=T1)["orders"]

    assert rows_of(
        conn,
        "select table_type from information_schema.tables where table_schema = 'staging' and table_name = 'orders'",
    ) == [("VIEW",)]
    assert staged(conn, "orders", "order_id, _source_file, _row_number") == [("O1", "orders_a.csv", 1)]
    assert (report.staged_rows, report.duplicates_collapsed) == (1, 1)
    assert count(conn, "staging.orders_typed") == 5
    assert rows_of(conn, "select _source_file, _row_number from staging.orders_excluded order by all") == [
        ("orders_a.csv", 2),
        ("orders_b.csv", 1),
        ("orders_b.csv", 2),
        ("orders_b.csv", 3),
    ]


def test_duplicate_keys_found_run_after_run_are_those_of_a_load_from_scratch(conn, data_dir):
    """The duplicate keys are looked up among the files loaded since the last run and the keys found
    then (ingest/cross_rows.py): after each delivery below, the staged rows, the quarantine with its
    reasons and the collapsed copies are those a fresh database gives for the same folder."""
    write_reference_data(data_dir)
    first = [row("orders"), row("orders", order_id="O2"), row("orders", order_id="O3")]
    steps = [
        ("orders_a.csv", first),
        ("orders_b.csv", [row("orders"), row("orders", order_id="O4")]),  # O1 again, identical
        ("orders_c.csv", [row("orders", quantity="7")]),  # O1 a third time, different: a conflict
        ("orders_c.csv", None),  # removed: O1 is an identical copy again
        ("orders_b.csv", [row("orders", order_id="O2", quantity="9")]),  # replaced: O2 conflicts, O1 is single
        ("orders_d.csv", [row("orders", order_id="O3"), row("orders", order_id="O3")]),  # twice in one file
    ]
    for step, (name, rows) in enumerate(steps):
        if rows is None:
            (data_dir / name).unlink()
        else:
            write_source(data_dir, "orders", rows, name=name)
        now = T1 + dt.timedelta(days=step)
        report = ingest(conn, data_dir, now=now)["orders"]
        with duckdb.connect() as fresh:
            expected = ingest(fresh, data_dir, now=now)["orders"]
            assert reasons(conn, "orders") == reasons(fresh, "orders"), name
            columns = "_source_file, _row_number, order_id, line_no, quantity"
            assert staged(conn, "orders", columns) == staged(fresh, "orders", columns), name
            assert (report.staged_rows, report.quarantined_rows, report.duplicates_collapsed) == (
                expected.staged_rows,
                expected.quarantined_rows,
                expected.duplicates_collapsed,
            ), name
    # The last state, worked by hand: O2 conflicts (orders_a row 2, orders_b row 1), O3 is delivered
    # three times identically (orders_a row 3, orders_d rows 1 and 2: the two later copies collapse).
    assert [(f, r) for f, r, *_ in reasons(conn, "orders")] == [("orders_a.csv", 2), ("orders_b.csv", 1)]
    assert staged(conn, "orders", "_source_file, order_id") == [("orders_a.csv", "O1"), ("orders_a.csv", "O3")]
    assert report.duplicates_collapsed == 2


def test_unknown_references_found_run_after_run_are_those_of_a_load_from_scratch(conn, data_dir):
    """The references are checked for the rows of the files loaded since the last run while the
    referenced sources are unchanged, and for every row when one changed (ingest/cross_rows.py):
    after each delivery below, the quarantine with its reasons and the staged rows are those a fresh
    database gives for the same folder, and every delivered row naming no staged account is quarantined."""
    write_reference_data(data_dir)  # accounts A1, A2
    steps = [
        ("orders_a.csv", "orders", [row("orders"), row("orders", order_id="O2", account_id="A9")]),
        ("orders_b.csv", "orders", [row("orders", order_id="O3", account_id="A9")]),  # A9 unknown again
        ("accounts_b.csv", "accounts", [row("accounts", account_id="A9")]),  # now A9 is known
        ("orders_c.csv", "orders", [row("orders", order_id="O4", account_id="A7", quantity="-1")]),  # two rules
        ("accounts_b.csv", "accounts", None),  # removed: A9 unknown once more
        ("orders_b.csv", "orders", [row("orders", order_id="O3", account_id="A2")]),  # replaced: known
        ("orders_d.csv", "orders", [row("orders", order_id="O5", account_id="A8")]),
    ]
    for step, (name, source, rows) in enumerate(steps):
        if rows is None:
            (data_dir / name).unlink()
        else:
            write_source(data_dir, source, rows, name=name)
        now = T1 + dt.timedelta(days=step)
        ingest(conn, data_dir, now=now)
        with duckdb.connect() as fresh:
            ingest(fresh, data_dir, now=now)
            assert reasons(conn, "orders") == reasons(fresh, "orders"), name
            columns = "_source_file, _row_number, order_id, account_id"
            assert staged(conn, "orders", columns) == staged(fresh, "orders", columns), name
        # Independently of the rule's code: the delivered rows whose account_id no staged account has.
        unknown = rows_of(
            conn,
            "select _source_file, _row_number from staging.orders_typed "
            "where account_id not in (select account_id from staging.accounts) order by all",
        )
        flagged = rows_of(
            conn,
            "select _source_file, _row_number from quarantine.rule_violations "
            "where source = 'orders' and rule = 'unknown account_id (not in accounts)' order by all",
        )
        assert flagged == unknown, name
    # A rerun with nothing new keeps every violation: the files were all checked against the same accounts.
    before = reasons(conn, "orders")
    ingest(conn, data_dir, now=T2 + dt.timedelta(days=len(steps)))
    assert reasons(conn, "orders") == before
    # The last state, worked by hand: A9 (orders_a row 2), A7 (orders_c, also a negative quantity)
    # and A8 (orders_d) are unknown; orders_b names A2 now.
    assert [(f, r) for f, r, *_ in before] == [
        ("orders_a.csv", 2),
        ("orders_c.csv", 1),
        ("orders_d.csv", 1),
    ]
    assert staged(conn, "orders", "_source_file, order_id") == [("orders_a.csv", "O1"), ("orders_b.csv", "O3")]


def test_a_duplicate_key_record_from_an_older_version_is_rebuilt_from_every_key(conn, data_dir):
    """A database from before the record of checked files named each file's mapping holds
    state.orders_duplicate_files without it: the next run groups every key again and records the
    files in the present form. Here the older record is emptied of its keys, so a lookup among the
    files loaded since (orders_b.csv) would miss O1's conflict between two rows of orders_a.csv."""
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", quantity="7")], name="orders_a.csv")
    ingest(conn, data_dir, now=T1)
    conn.execute(
        "create or replace table state.orders_duplicate_files as "
        "select file_name, sha256, ingested_at from raw.ingest_log where source = 'orders'"
    )
    conn.execute("delete from state.orders_duplicate_keys")
    write_source(data_dir, "orders", [row("orders", order_id="O3")], name="orders_b.csv")
    ingest(conn, data_dir, now=T2)
    with duckdb.connect() as fresh:
        ingest(fresh, data_dir, now=T2)
        assert reasons(conn, "orders") == reasons(fresh, "orders")
    assert [(f, r) for f, r, *_ in reasons(conn, "orders")] == [("orders_a.csv", 1), ("orders_a.csv", 2)]
    columns = rows_of(conn, "select column_name from duckdb_columns() where table_name = 'orders_duplicate_files'")
    assert ("mapping",) in columns


def test_before_load_is_called_for_each_file_loaded_and_not_for_an_unchanged_one(conn, data_dir):
    _two_order_files(data_dir)
    write_source(data_dir, "orders", [row("orders", order_id="O9")], name="orders_c.csv")
    calls, sizes = [], []

    def before_load(size: int) -> None:
        calls.append(count_loaded(conn))
        sizes.append(size)

    report = ingest_source(conn, data_dir, "orders", now=T1, before_load=before_load)
    # Called before each of the three loads, with the file's size: the files loaded so far, when it is called.
    assert [f.status for f in report.files] == ["loaded"] * 3
    assert calls == [0, 1, 2]
    assert sizes == [(data_dir / f.file).stat().st_size for f in report.files]

    write_source(data_dir, "orders", [row("orders", order_id="O10")], name="orders_d.csv")
    calls.clear()
    report = ingest_source(conn, data_dir, "orders", now=T2, before_load=before_load)
    assert [(f.file, f.status) for f in report.files if f.status != "unchanged"] == [("orders_d.csv", "loaded")]
    assert calls == [3]

    calls.clear()
    ingest_source(conn, data_dir, "orders", now=T2, before_load=before_load)
    assert calls == []


def count_loaded(conn) -> int:
    return rows_of(conn, "select count(*) from raw.ingest_log where source = 'orders' and status <> 'ignored'")[0][0]
