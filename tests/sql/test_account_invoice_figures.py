"""sql/intermediate/account_invoice_figures.sql on hand-made staging rows (indicator_inputs.load, windows
in its docstring); every expected value is worked out by hand below."""

from __future__ import annotations

from datetime import date, timedelta

from indicator_inputs import D, invoice_row, load
from sql_fixtures import assert_rows, exclude_staging, insert_staging, make_db, run_intermediate

D1 = D + timedelta(days=1)  # 2025-03-02: C = [2024-03-02, 2025-03-02)

NO_INVOICES = {"invoice_count": 0, "overdue_ratio": None, "avg_days_late": None}


def expected_at_d():
    return [
        {
            "as_of_date": D,
            "account_id": "acc_a",
            "invoice_count": 5,  # i1, i2, i3, i4, i7 (i5 issued in P, i6 on D)
            # late: i2 paid 10 days after its due date, i3 paid only on D (unpaid at D, due 2025-02-14);
            # i7 is due on D, so not late yet; i1 paid on time; i4 not yet due
            "overdue_ratio": (200 + 300) / (100 + 200 + 300 + 400 + 500),
            "avg_days_late": (0 + 10 + 15 + 0 + 0) / 5,  # i3: D - 2025-02-14 = 15
        },
        {"as_of_date": D, "account_id": "acc_b", **NO_INVOICES},
        {"as_of_date": D, "account_id": "acc_c", **NO_INVOICES},
        {"as_of_date": D, "account_id": "acc_d", **NO_INVOICES},
        {
            "as_of_date": D,
            "account_id": "acc_e",
            "invoice_count": 1,
            "overdue_ratio": None,  # invoiced amount 0
            "avg_days_late": 0.0,  # paid on the due date
        },
        {"as_of_date": D, "account_id": "acc_n", **NO_INVOICES},
    ]


def test_invoice_figures_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_intermediate(conn, "account_invoice_figures"), expected_at_d(), key=("account_id",))


def test_excluded_rows_are_not_read(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    numbers = insert_staging(
        conn, "invoices", [invoice_row("x1", "acc_b", date(2024, 5, 1), date(2024, 5, 2), None, 9)]
    )
    exclude_staging(conn, "invoices", numbers)
    assert_rows(run_intermediate(conn, "account_invoice_figures"), expected_at_d(), key=("account_id",))


def test_a_range_of_dates_in_one_pass(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    rows = run_intermediate(conn, "account_invoice_figures", as_of=D1, as_of_dates=[D, D1])
    assert_rows([r for r in rows if r["as_of_date"] == D], expected_at_d(), key=("account_id",))
    alpha = next(r for r in rows if r["as_of_date"] == D1 and r["account_id"] == "acc_a")
    # i1 (issued 2024-03-01) leaves C, i6 (issued D, due D + 1, 1000) enters: i2, i3, i4, i7, i6.
    assert alpha["invoice_count"] == 5
    # late at D + 1: i2 (paid late), i3 (paid on D, after its due date), i7 (due on D, unpaid);
    # i6 is due on D + 1 itself, i4 on 2025-03-22
    assert alpha["overdue_ratio"] == (200 + 300 + 500) / (200 + 300 + 400 + 500 + 1000)
    # days late: i2 10, i3 paid: 2025-03-01 - 2025-02-14 = 15, i7 D + 1 - D = 1, i4 and i6 0
    assert alpha["avg_days_late"] == (10 + 15 + 1 + 0 + 0) / 5
    one_by_one = [
        r for day in (D, D1) for r in run_intermediate(conn, "account_invoice_figures", as_of=day, as_of_dates=[day])
    ]
    assert_rows(rows, one_by_one, key=("as_of_date", "account_id"))
