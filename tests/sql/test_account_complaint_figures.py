"""sql/intermediate/account_complaint_figures.sql on hand-made staging rows (indicator_inputs.load, windows
in its docstring); every expected value is worked out by hand below."""

from __future__ import annotations

from datetime import datetime

from indicator_inputs import D, complaint_row, load
from sql_fixtures import assert_rows, exclude_staging, insert_staging, make_db, run_intermediate


def expected_at_d():
    # Only accounts with a complaint opened in C have a row (the mart counts 0 for the others).
    return [
        {
            "as_of_date": D,
            "account_id": "acc_a",
            "complaint_count": 5,  # c1, c2, c3, c4, c7 (c5 opened before C, c6 at D 00:00)
            # c1 36 h, c4 144 h resolved; c2, c3, c7 still open at D 00:00 count with their age then:
            # c2 8 d 16 h = 208 h, c3 12 h, c7 (resolved exactly at D 00:00) 48 h.
            "avg_resolution_hours": (36 + 208 + 12 + 144 + 48) / 5,
            # c4: 144 h > 120 (medium); c2 open at D for 208 h > 24 (critical);
            # c7 open at D for 48 h <= 72 (high); c3 open 12 h <= 240 (low); c1 36 h <= 72
            "sla_breach_rate": 2 / 5,
            "open_complaints": 3,  # c2, c3, c7
        },
        {
            "as_of_date": D,
            "account_id": "acc_e",
            "complaint_count": 1,
            "avg_resolution_hours": 10.0,
            "sla_breach_rate": 0 / 1,
            "open_complaints": 0,
        },
    ]


def test_complaint_figures_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_intermediate(conn, "account_complaint_figures"), expected_at_d(), key=("account_id",))


def test_sla_hours_are_parameters(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    rows = {r["account_id"]: r for r in run_intermediate(conn, "account_complaint_figures", sla_critical_hours=300.0)}
    assert rows["acc_a"]["sla_breach_rate"] == 1 / 5  # c2 (208 h) within 300 h now; c4 still late
    rows = {r["account_id"]: r for r in run_intermediate(conn, "account_complaint_figures", sla_low_hours=9.0)}
    assert rows["acc_e"]["sla_breach_rate"] == 1.0  # c8: 10 h > 9 h
    assert rows["acc_a"]["sla_breach_rate"] == 3 / 5  # c3 open 12 h > 9 h too


def test_excluded_rows_are_not_read(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    numbers = insert_staging(conn, "complaints", [complaint_row("x1", "acc_a", datetime(2024, 8, 1), None, "critical")])
    exclude_staging(conn, "complaints", numbers)
    assert_rows(run_intermediate(conn, "account_complaint_figures"), expected_at_d(), key=("account_id",))
