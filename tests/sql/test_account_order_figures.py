"""sql/intermediate/account_order_figures.sql on hand-made staging rows (indicator_inputs.load, windows
in its docstring); every expected value is worked out by hand below."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from indicator_inputs import D, load, order_row
from sql_fixtures import assert_rows, exclude_staging, insert_staging, make_db, run_intermediate

D1 = D + timedelta(days=1)  # 2025-03-02: C = [2024-03-02, 2025-03-02), P = [2023-03-03, 2024-03-02)

NO_ORDERS = {
    "revenue": 0,
    "revenue_prev": 0,
    "gross_margin": None,
    "order_count": 0,
    "product_breadth": 0,
    "active_months": 0,
    "last_order_date": None,
    "ordered_before_current": False,
    "ordered_recently": False,
}


def expected_at_d():
    return [
        {
            "as_of_date": D,
            "account_id": "acc_a",
            # C: a1 (120 + 80), a2 (100, returned 30 -> -30), a5 (returned -20 -> -20); a3 is on D, a6 cancelled
            "revenue": 120 + 80 + 100 - 30 - 20,
            "revenue_prev": 200 + 100,  # a4 (D - W - 1) and a7 (first day of P); a8 is before P
            # lines with cost in C: a1/1 (120, 70), a2/1 (100, 60), a2/2 returned (-30, -18)
            "gross_margin": ((120 + 100 - 30) - (70 + 60 - 18)) / (120 + 100 - 30),
            "order_count": 2,  # a1, a2 (a5 is a return only)
            "product_breadth": 2,  # widgets, gadgets
            "active_months": 2,  # 2024-03, 2025-02
            "last_order_date": date(2025, 2, 28),
            "ordered_before_current": True,  # a8, a7, a4 are completed before C
            "ordered_recently": True,  # a2 on D - 1
        },
        {
            "as_of_date": D,
            "account_id": "acc_b",
            "revenue": 500 + 100,
            "revenue_prev": 0,
            "gross_margin": None,  # no line carries a cost
            "order_count": 1,
            "product_breadth": 1,
            "active_months": 1,
            "last_order_date": date(2024, 6, 15),
            "ordered_before_current": False,
            "ordered_recently": False,  # 2024-06-15 is before D - 180 = 2024-09-02
        },
        {
            "as_of_date": D,
            "account_id": "acc_c",
            "revenue": 100 - 100,  # g2 completed, g3 returned; g4 cancelled
            "revenue_prev": 400,
            "gross_margin": None,  # costed net = 100 - 100 = 0
            "order_count": 1,
            "product_breadth": 1,  # gadgets only on a return and a cancellation
            "active_months": 1,
            "last_order_date": date(2024, 5, 1),
            "ordered_before_current": True,  # g1 in P
            "ordered_recently": False,  # the return g3 on 2024-09-02 is no activity
        },
        {
            "as_of_date": D,
            "account_id": "acc_d",
            "revenue": 70,
            "revenue_prev": 20,
            "gross_margin": (70 - 70) / 70,
            "order_count": 1,
            "product_breadth": 1,
            "active_months": 1,
            "last_order_date": date(2024, 9, 2),
            "ordered_before_current": True,  # d3 in P
            "ordered_recently": True,  # exactly on D - churn_days
        },
        {
            "as_of_date": D,
            "account_id": "acc_e",
            **NO_ORDERS,
            "last_order_date": date(2022, 1, 1),
            "ordered_before_current": True,  # e1, long before P
        },
        # since = D: in the snapshot without any order; acc_f (since D + 1) is not
        {"as_of_date": D, "account_id": "acc_n", **NO_ORDERS},
    ]


def test_order_figures_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_intermediate(conn, "account_order_figures"), expected_at_d(), key=("account_id",))


def test_churn_days_move_ordered_recently(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    rows = {r["account_id"]: r for r in run_intermediate(conn, "account_order_figures", churn_days=170)}
    assert rows["acc_d"]["ordered_recently"] is False  # 2024-09-02 is before D - 170 = 2024-09-12
    assert rows["acc_a"]["ordered_recently"] is True


def test_excluded_rows_are_not_read(tmp_path):
    # A typed row the ingest excluded (a broken rule, a conflicting duplicate) stays in
    # staging.orders_typed, but staging.orders, what the SQL reads, no longer shows it.
    conn = make_db(tmp_path)
    load(conn)
    numbers = insert_staging(
        conn,
        "orders",
        [
            order_row("x1", 1, date(2025, 1, 5), "robots", 5000, 100, "completed"),
            order_row("x2", 1, date(2023, 5, 5), "robots", 7000, 100, "completed"),
        ],
    )
    exclude_staging(conn, "orders", numbers)
    assert conn.execute("select count(*) from staging.orders_typed where order_id like 'x%'").fetchone()[0] == 2
    assert_rows(run_intermediate(conn, "account_order_figures"), expected_at_d(), key=("account_id",))


def test_a_range_of_dates_in_one_pass(tmp_path):
    # D and D + 1 in one query: the running sums must give D's rows unchanged and move every
    # figure of acc_a by what enters and leaves the windows between them.
    conn = make_db(tmp_path)
    load(conn)
    rows = run_intermediate(conn, "account_order_figures", as_of=D1, as_of_dates=[D, D1])
    at_d1 = {r["account_id"]: r for r in rows if r["as_of_date"] == D1}
    assert_rows([r for r in rows if r["as_of_date"] == D], expected_at_d(), key=("account_id",))
    alpha = at_d1["acc_a"]
    # a1 (2024-03-01, 120 + 80) leaves C for P and a3 (D, 1000) enters C; a7 (2023-03-02) leaves P.
    assert alpha["revenue"] == Decimal(250 - 200 + 1000)
    assert alpha["revenue_prev"] == Decimal(300 - 100 + 200)
    # costed lines of C: a2/1 (100, 60), a2/2 (-30, -18), a3 (1000, 1)
    assert alpha["gross_margin"] == ((100 - 30 + 1000) - (60 - 18 + 1)) / (100 - 30 + 1000)
    assert alpha["order_count"] == 2  # a2, a3
    assert alpha["product_breadth"] == 1  # gadgets only on a1
    assert alpha["active_months"] == 2  # 2025-02, 2025-03
    assert alpha["last_order_date"] == D
    # acc_f starts on D + 1: in the snapshot of D1 only, with f1 (2024-10-01, 999, cost 1) in C
    future = at_d1["acc_f"]
    assert (future["revenue"], future["order_count"], future["last_order_date"]) == (999, 1, date(2024, 10, 1))
    assert future["gross_margin"] == (999 - 1) / 999
    # The same dates one at a time give the same rows.
    one_by_one = [
        r for day in (D, D1) for r in run_intermediate(conn, "account_order_figures", as_of=day, as_of_dates=[day])
    ]
    assert_rows(rows, one_by_one, key=("as_of_date", "account_id"))
