"""sql/intermediate/account_wallet_figures.sql on hand-made staging rows (indicator_inputs.load, windows
in its docstring); every expected value is worked out by hand below."""

from __future__ import annotations

from datetime import date

from indicator_inputs import DAYS_2024, DAYS_2025, D, load
from sql_fixtures import assert_rows, exclude_staging, insert_staging, make_db, run_intermediate


def expected_at_d():
    # Only accounts with wallet data for a year of C have a row: acc_d has only 2023.
    return [
        # 2023 is outside C; 366000 * 306 / 366 + 730000 * 59 / 365 = 306000 + 118000
        {
            "as_of_date": D,
            "account_id": "acc_a",
            "wallet_amount_window": 366000 * DAYS_2024 / 366 + 730000 * DAYS_2025 / 365,
        },
        # only 2024 delivered: (36600 * 306 / 366) scaled from 306 days up to 365 = 36500
        {"as_of_date": D, "account_id": "acc_b", "wallet_amount_window": 36600 * DAYS_2024 / 366 * 365 / DAYS_2024},
        # only 2025: (730 * 59 / 365) scaled from 59 days up to 365 = 730
        {"as_of_date": D, "account_id": "acc_e", "wallet_amount_window": 730 * DAYS_2025 / 365 * 365 / DAYS_2025},
    ]


def test_wallet_figures_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_intermediate(conn, "account_wallet_figures"), expected_at_d(), key=("account_id",))


def test_excluded_rows_are_not_read(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    numbers = insert_staging(conn, "wallet", [{"account_id": "acc_c", "year": 2024, "wallet_amount": 5.0}])
    exclude_staging(conn, "wallet", numbers)
    assert_rows(run_intermediate(conn, "account_wallet_figures"), expected_at_d(), key=("account_id",))


def test_proration_across_a_year_boundary(tmp_path):
    # D = 2025-09-15: C holds 108 days of 2024 and 257 of 2025; D = 2025-01-02 with W = 2: one day of each.
    conn = make_db(tmp_path)
    insert_staging(
        conn,
        "wallet",
        [
            {"account_id": "acc_x", "year": 2024, "wallet_amount": 366.0},  # 2025 missing
            {"account_id": "acc_y", "year": 2024, "wallet_amount": 366.0},
            {"account_id": "acc_y", "year": 2025, "wallet_amount": 730.0},
        ],
    )
    rows = {r["account_id"]: r for r in run_intermediate(conn, "account_wallet_figures", as_of=date(2025, 9, 15))}
    assert rows["acc_x"]["wallet_amount_window"] == 366 * 108 / 366 * 365 / 108  # 2024 only, scaled: 365
    assert rows["acc_y"]["wallet_amount_window"] == 366 * 108 / 366 + 730 * 257 / 365
    rows = {
        r["account_id"]: r
        for r in run_intermediate(conn, "account_wallet_figures", as_of=date(2025, 1, 2), window_days=2)
    }
    assert rows["acc_x"]["wallet_amount_window"] == 366 * 1 / 366 * 2 / 1
    assert rows["acc_y"]["wallet_amount_window"] == 366 * 1 / 366 + 730 * 1 / 365
