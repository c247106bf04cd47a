"""sql/intermediate/window_years.sql: the calendar years of each window C, counted by hand below."""

from __future__ import annotations

from datetime import date

from sql_fixtures import assert_rows, make_db, run_intermediate


def _year(as_of, year, days_in_window, days_in_year, is_market_year):
    return {
        "as_of_date": as_of,
        "year": year,
        "days_in_window": days_in_window,
        "days_in_year": days_in_year,
        "is_market_year": is_market_year,
    }


def test_years_of_the_window_and_the_market_year(tmp_path):
    conn = make_db(tmp_path)
    d1, d2, d3 = date(2025, 3, 1), date(2025, 9, 15), date(2025, 1, 1)
    rows = run_intermediate(conn, "window_years", as_of=d2, as_of_dates=[d1, d2, d3])
    assert_rows(
        rows,
        [
            # C = [2024-03-01, 2025-03-01): 306 days of leap year 2024, 59 of 2025
            _year(d1, 2024, 306, 366, True),
            _year(d1, 2025, 59, 365, False),
            # C = [2024-09-15, 2025-09-15): 108 days of 2024, 257 of 2025
            _year(d2, 2024, 108, 366, False),
            _year(d2, 2025, 257, 365, True),
            # C = [2024-01-02, 2025-01-01): 365 days of 2024, none of 2025 (D - 1 is 2024-12-31)
            _year(d3, 2024, 365, 366, True),
        ],
        key=("as_of_date", "year"),
    )


def test_a_tie_goes_to_the_later_year(tmp_path):
    # D = 2025-01-02, W = 2: C = [2024-12-31, 2025-01-02), one day in each year.
    conn = make_db(tmp_path)
    d = date(2025, 1, 2)
    rows = run_intermediate(conn, "window_years", as_of=d, window_days=2)
    assert_rows(rows, [_year(d, 2024, 1, 366, False), _year(d, 2025, 1, 365, True)], key=("as_of_date", "year"))


def test_a_window_over_three_years(tmp_path):
    # W = 730 from D = 2025-03-01: C = [2023-03-02, 2025-03-01): 305 days of 2023, 366 of 2024, 59 of 2025.
    conn = make_db(tmp_path)
    d = date(2025, 3, 1)
    rows = run_intermediate(conn, "window_years", as_of=d, window_days=730)
    assert_rows(
        rows,
        [_year(d, 2023, 305, 365, False), _year(d, 2024, 366, 366, True), _year(d, 2025, 59, 365, False)],
        key=("as_of_date", "year"),
    )
