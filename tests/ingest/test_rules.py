"""Row rules and cross-row rules of the input contract: what is staged, what is quarantined and why."""

from __future__ import annotations

import pytest

from ingest_support import (
    OTHER_KEY,
    count,
    ingest,
    reasons,
    row,
    rows_of,
    staged,
    write_reference_data,
    write_source,
)

STATUSES = "['completed', 'cancelled', 'returned']"
SEVERITIES = "['low', 'medium', 'high', 'critical']"
ROLES = "['self', 'supervisor', 'peer', 'subordinate', 'customer']"

# (source, cells of the bad row, the reason its quarantine row gives)
ROW_RULES = [
    (
        "orders",
        {"order_date": "2024-13-01"},
        "order_date: not a date (year first: YYYY-MM-DD, YYYY/M/D or YYYY.M.D) (value '2024-13-01')",
    ),
    (
        "complaints",
        {"opened_at": "yesterday"},
        "opened_at: not a timestamp (year first: YYYY-MM-DD HH:MM[:SS] or ISO 8601, also YYYY/M/D H:MM[:SS]) (value 'yesterday')",
    ),
    ("orders", {"quantity": "abc"}, "quantity: not a number (value 'abc')"),
    ("orders", {"line_no": "1.5"}, "line_no: not a whole number (value '1.5')"),
    (
        "orders",
        {"net_amount": "1e20"},
        "net_amount: amount out of range (magnitude must be below 1e+14) (value '1e20')",
    ),
    ("wallet", {"year": "twenty"}, "year: not a whole number (value 'twenty')"),
    ("orders", {"account_id": ""}, "account_id: not_nullable"),
    ("accounts", {"since": " "}, "since: not_nullable"),
    ("orders", {"quantity": "-1"}, "quantity: greater_than_or_equal_to(0) (value '-1.0')"),
    ("orders", {"cost_amount": "-0.01"}, "cost_amount: greater_than_or_equal_to(0) (value '-0.01')"),
    ("surveys", {"overall": "6"}, "overall: less_than_or_equal_to(5) (value '6.0')"),
    ("surveys", {"service_quality": "0"}, "service_quality: greater_than_or_equal_to(1) (value '0.0')"),
    ("surveys", {"recommend": "11"}, "recommend: less_than_or_equal_to(10) (value '11.0')"),
    ("wallet", {"wallet_amount": "-5"}, "wallet_amount: greater_than_or_equal_to(0) (value '-5.0')"),
    ("market", {"market_size": "-1"}, "market_size: greater_than_or_equal_to(0) (value '-1.0')"),
    ("invoices", {"amount": "-1"}, "amount: greater_than_or_equal_to(0) (value '-1.0')"),
    ("assessments", {"score": "0"}, "score: greater_than_or_equal_to(1) (value '0.0')"),
    ("feedback", {"score": "5.5"}, "score: less_than_or_equal_to(5) (value '5.5')"),
    ("orders", {"status": "shipped"}, f"status: isin({STATUSES}) (value 'shipped')"),
    ("complaints", {"severity": "urgent"}, f"severity: isin({SEVERITIES}) (value 'urgent')"),
    ("feedback", {"reviewer_role": "boss"}, f"reviewer_role: isin({ROLES}) (value 'boss')"),
    (
        "complaints",
        {"opened_at": "2024-03-01T10:00:00", "resolved_at": "2024-02-01T10:00:00"},
        "resolved_at: resolved_at must not be before opened_at (value '2024-02-01 10:00:00')",
    ),
    (
        "invoices",
        {"issued_on": "2024-03-01", "due_on": "2024-02-28"},
        "due_on: due_on must not be before issued_on (value '2024-02-28')",
    ),
]


@pytest.mark.parametrize(
    ("source", "cells", "reason"),
    ROW_RULES,
    ids=[f"{s}-{next(iter(c))}={next(iter(c.values()))!r}" for s, c, _ in ROW_RULES],
)
def test_a_row_breaking_one_rule_is_quarantined_with_that_rule(conn, data_dir, source, cells, reason):
    write_reference_data(data_dir)
    bad = row(source, **{**OTHER_KEY[source], **cells})
    if source in ("managers", "accounts"):
        # A file of its own, so the reference rows the others need stay valid.
        write_source(data_dir, source, [bad], name=f"{source}_bad.csv")
    else:
        write_source(data_dir, source, [row(source), bad])

    reports = ingest(conn, data_dir)

    bad_file = f"{source}_bad.csv" if source in ("managers", "accounts") else f"{source}.csv"
    bad_row = 1 if source in ("managers", "accounts") else 2
    assert reasons(conn, source) == [(bad_file, bad_row, reason, 1)]
    assert count(conn, f"quarantine.{source}") == 1
    assert reports[source].quarantined_rows == 1
    assert reports[source].staged_rows == (2 if source in ("managers", "accounts") else 1)
    assert count(conn, f"staging.{source}") == reports[source].staged_rows


def test_timestamps_with_an_offset_or_z_are_converted_to_utc(conn, data_dir):
    write_reference_data(data_dir)
    write_source(
        data_dir,
        "complaints",
        [
            row("complaints", opened_at="2024-03-01T10:00:00Z", resolved_at="2024-03-01T18:30:00+08:00"),
            row("complaints", complaint_id="C2", opened_at="2024-03-01 10:00", resolved_at="2024-03-02"),
        ],
    )

    ingest(conn, data_dir)

    assert staged(conn, "complaints", "complaint_id, cast(opened_at as varchar), cast(resolved_at as varchar)") == [
        ("C1", "2024-03-01 10:00:00", "2024-03-01 10:30:00"),
        ("C2", "2024-03-01 10:00:00", "2024-03-02 00:00:00"),
    ]
    assert count(conn, "quarantine.complaints") == 0


def test_categorical_values_are_trimmed_and_lower_cased(conn, data_dir):
    """A user typing ' Completed ' means `completed`; the raw layer keeps what was typed."""
    write_reference_data(data_dir)
    write_source(
        data_dir,
        "orders",
        [
            row("orders", status=" Completed "),
            row("orders", order_id="O2", status="CANCELLED"),
            row("orders", order_id="O3", status="Returned\t"),
            row("orders", order_id="O4", status="Complete"),
        ],
    )
    write_source(data_dir, "complaints", [row("complaints", severity=" High")])
    write_source(data_dir, "feedback", [row("feedback", reviewer_role="Peer ")])

    ingest(conn, data_dir)

    assert staged(conn, "orders", "order_id, status") == [("O1", "completed"), ("O2", "cancelled"), ("O3", "returned")]
    assert rows_of(conn, "select status from raw.orders order by _row_number") == [
        (" Completed ",),
        ("CANCELLED",),
        ("Returned\t",),
        ("Complete",),
    ]
    assert reasons(conn, "orders") == [("orders.csv", 4, f"status: isin({STATUSES}) (value 'complete')", 1)]
    assert staged(conn, "complaints", "severity") == [("high",)]
    assert staged(conn, "feedback", "reviewer_role") == [("peer",)]


def test_text_cells_are_trimmed_so_references_still_match(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders", account_id=" A1 ", order_id=" O1")])

    ingest(conn, data_dir)

    assert staged(conn, "orders", "order_id, account_id") == [("O1", "A1")]
    assert count(conn, "quarantine.orders") == 0


def test_unknown_account_is_quarantined(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2", account_id="A9")])
    write_source(data_dir, "invoices", [row("invoices", account_id="a1")])

    reports = ingest(conn, data_dir)

    assert reasons(conn, "orders") == [
        ("orders.csv", 2, "account_id: unknown account_id (not in accounts) (value 'A9')", 1)
    ]
    assert staged(conn, "orders", "order_id") == [("O1",)]
    # Identifiers are case-sensitive: `a1` is not `A1`.
    assert reasons(conn, "invoices") == [
        ("invoices.csv", 1, "account_id: unknown account_id (not in accounts) (value 'a1')", 1)
    ]
    assert (reports["orders"].staged_rows, reports["orders"].quarantined_rows) == (1, 1)


def test_account_with_unknown_manager_cascades_to_its_orders_and_recovers(conn, data_dir):
    write_source(data_dir, "managers", [row("managers")])
    write_source(data_dir, "accounts", [row("accounts"), row("accounts", account_id="A2", manager_id="M9")])
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2", account_id="A2")])
    write_source(data_dir, "feedback", [row("feedback"), row("feedback", manager_id="M9")])

    ingest(conn, data_dir)

    assert reasons(conn, "accounts") == [
        ("accounts.csv", 2, "manager_id: unknown manager_id (not in managers) (value 'M9')", 1)
    ]
    assert reasons(conn, "orders") == [
        ("orders.csv", 2, "account_id: unknown account_id (not in accounts) (value 'A2')", 1)
    ]
    assert reasons(conn, "feedback") == [
        ("feedback.csv", 2, "manager_id: unknown manager_id (not in managers) (value 'M9')", 1)
    ]
    assert staged(conn, "accounts", "account_id") == [("A1",)]
    assert staged(conn, "orders", "order_id") == [("O1",)]

    # The manager arrives later: every dependent row is staged again, nothing else re-read.
    write_source(data_dir, "managers", [row("managers", manager_id="M9")], name="managers_late.csv")
    reports = ingest(conn, data_dir)

    assert [(f.file, f.status) for f in reports["orders"].files] == [("orders.csv", "unchanged")]
    assert count(conn, "quarantine.accounts") == count(conn, "quarantine.orders") == 0
    assert count(conn, "quarantine.feedback") == 0
    assert staged(conn, "orders", "order_id") == [("O1",), ("O2",)]


def test_referenced_source_not_yet_ingested_makes_every_reference_unknown(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders")])

    report = ingest(conn, data_dir, "orders")["orders"]

    assert (report.staged_rows, report.quarantined_rows) == (0, 1)
    assert reasons(conn, "orders") == [
        ("orders.csv", 1, "account_id: unknown account_id (not in accounts) (value 'A1')", 1)
    ]


def test_identical_duplicate_across_two_files_is_collapsed(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2")], name="orders_2024-01.csv")
    # The same line again, typed differently ("2.0" and "100.5" are the same numbers).
    write_source(data_dir, "orders", [row("orders", quantity="2.0", net_amount="100.5")], name="orders_2024-02.csv")

    report = ingest(conn, data_dir)["orders"]

    assert (report.staged_rows, report.quarantined_rows, report.duplicates_collapsed) == (2, 0, 1)
    assert staged(conn, "orders", "order_id, _source_file, _row_number") == [
        ("O1", "orders_2024-01.csv", 1),
        ("O2", "orders_2024-01.csv", 2),
    ]


def test_duplicate_key_with_different_content_quarantines_every_version(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders"), row("orders", order_id="O2")], name="orders_a.csv")
    write_source(
        data_dir,
        "orders",
        [row("orders", quantity="3"), row("orders", order_id="O2", line_no="2")],
        name="orders_b.csv",
    )
    write_source(data_dir, "wallet", [row("wallet"), row("wallet", wallet_amount="6000")])

    report = ingest(conn, data_dir)["orders"]

    key_reason = "order_id, line_no: duplicate key with different content (value 'O1/1')"
    assert reasons(conn, "orders") == [("orders_a.csv", 1, key_reason, 1), ("orders_b.csv", 1, key_reason, 1)]
    assert staged(conn, "orders", "order_id, line_no") == [("O2", 1), ("O2", 2)]
    assert (report.staged_rows, report.quarantined_rows, report.duplicates_collapsed) == (2, 2, 0)
    wallet_reason = "account_id, year: duplicate key with different content (value 'A1/2024')"
    assert reasons(conn, "wallet") == [("wallet.csv", 1, wallet_reason, 1), ("wallet.csv", 2, wallet_reason, 1)]
    assert count(conn, "staging.wallet") == 0


def test_keyless_sources_keep_repeated_rows(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "assessments", [row("assessments"), row("assessments")])

    report = ingest(conn, data_dir)["assessments"]

    assert (report.staged_rows, report.quarantined_rows, report.duplicates_collapsed) == (2, 0, 0)


def test_a_row_breaking_several_rules_lists_every_rule(conn, data_dir):
    write_reference_data(data_dir)
    write_source(
        data_dir,
        "orders",
        [
            row("orders"),
            row(
                "orders",
                order_id="O2",
                account_id="A9",
                order_date="2024-02-30",
                quantity="-3",
                status="shipped",
                cost_amount="abc",
            ),
        ],
    )

    ingest(conn, data_dir)

    assert reasons(conn, "orders") == [
        (
            "orders.csv",
            2,
            "cost_amount: not a number (value 'abc'); "
            "order_date: not a date (year first: YYYY-MM-DD, YYYY/M/D or YYYY.M.D) (value '2024-02-30'); "
            "quantity: greater_than_or_equal_to(0) (value '-3.0'); "
            f"status: isin({STATUSES}) (value 'shipped'); "
            "account_id: unknown account_id (not in accounts) (value 'A9')",
            5,
        )
    ]
    assert rows_of(
        conn, "select count(*), count(distinct rule) from quarantine.rule_violations where source = 'orders'"
    ) == [(5, 5)]
    assert staged(conn, "orders", "order_id") == [("O1",)]


def test_staged_rows_have_contract_types(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [row("orders", cost_amount="")])

    ingest(conn, data_dir)

    types = dict(
        rows_of(
            conn,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'staging' and table_name = 'orders'",
        )
    )
    assert types == {
        "order_id": "VARCHAR",
        "line_no": "BIGINT",
        "account_id": "VARCHAR",
        "order_date": "DATE",
        "product_category": "VARCHAR",
        "quantity": "DOUBLE",
        "net_amount": "DECIMAL(18,4)",
        "cost_amount": "DECIMAL(18,4)",
        "status": "VARCHAR",
        "_source_file": "VARCHAR",
        "_row_number": "BIGINT",
    }
    assert staged(conn, "orders", "quantity, cast(net_amount as varchar), cost_amount") == [(2.0, "100.5000", None)]
