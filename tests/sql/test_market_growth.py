"""sql/intermediate/market_growth.sql on hand-made staging rows (indicator_inputs.load, windows in its
docstring: market_year 2024 at D); every expected value is worked out by hand below."""

from __future__ import annotations

from datetime import date

from indicator_inputs import D, load
from sql_fixtures import assert_rows, exclude_staging, insert_staging, make_db, run_intermediate


def expected_at_d():
    return [
        # 2024 vs 2023; the 2025 figure (the minority year of C) is not read
        {"as_of_date": D, "industry": "retail", "region": "north", "market_growth": 1000000 / 800000 - 1},
        {"as_of_date": D, "industry": "retail", "region": "south", "market_growth": None},  # no 2023
        {"as_of_date": D, "industry": "energy", "region": "north", "market_growth": None},  # 2023 = 0
    ]


def test_market_growth_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_intermediate(conn, "market_growth"), expected_at_d(), key=("industry", "region"))


def test_excluded_rows_are_not_read(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    numbers = insert_staging(
        conn, "market", [{"industry": "retail", "region": "south", "year": 2023, "market_size": 1.0}]
    )
    exclude_staging(conn, "market", numbers)
    assert_rows(run_intermediate(conn, "market_growth"), expected_at_d(), key=("industry", "region"))


def test_the_market_year_follows_the_window(tmp_path):
    conn = make_db(tmp_path)
    insert_staging(
        conn,
        "market",
        [
            {"industry": "retail", "region": "north", "year": 2023, "market_size": 50.0},
            {"industry": "retail", "region": "north", "year": 2024, "market_size": 100.0},
            {"industry": "retail", "region": "north", "year": 2025, "market_size": 150.0},
        ],
    )
    # D = 2025-09-15: 257 of the 365 days of C are in 2025 -> 2025 vs 2024, not 2024 vs 2023
    (row,) = run_intermediate(conn, "market_growth", as_of=date(2025, 9, 15))
    assert row["market_growth"] == 150 / 100 - 1
    # D = 2025-01-02, W = 2: a tie of one day each -> the later year
    (row,) = run_intermediate(conn, "market_growth", as_of=date(2025, 1, 2), window_days=2)
    assert row["market_growth"] == 150 / 100 - 1
    # D = 2025-03-01: 2024 holds 306 days -> 2024 vs 2023
    (row,) = run_intermediate(conn, "market_growth", as_of=date(2025, 3, 1))
    assert row["market_growth"] == 100 / 50 - 1
