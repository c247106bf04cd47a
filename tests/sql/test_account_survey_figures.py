"""sql/intermediate/account_survey_figures.sql on hand-made staging rows (indicator_inputs.load, windows
in its docstring); every expected value is worked out by hand below."""

from __future__ import annotations

from datetime import date

from indicator_inputs import D, load, survey_row
from sql_fixtures import assert_rows, exclude_staging, insert_staging, make_db, run_intermediate


def expected_at_d():
    # Only accounts with a response in C have a row (the mart counts 0 for the others).
    return [
        {
            "as_of_date": D,
            "account_id": "acc_a",
            "survey_count": 3,  # s1 (D - W), s5, s2 (D - 1); s3 is on D, s4 in P
            "csat": (((5 + 3) / 2) - 1) / 4 * 100,  # s5 has no overall
            "product_quality": (((4 + 2 + 5) / 3) - 1) / 4 * 100,
            "service_quality": (((3 + 5) / 2) - 1) / 4 * 100,
            "price_value": None,  # only the excluded surveys answered it
            "responsiveness": (((5 + 4) / 2) - 1) / 4 * 100,
            "nps": 100 * (2 - 1) / 3,  # 10 and 9 promote, 6 detracts
        },
        {
            "as_of_date": D,
            "account_id": "acc_b",
            "survey_count": 1,
            "csat": (4 - 1) / 4 * 100,
            "product_quality": None,
            "service_quality": None,
            "price_value": None,
            "responsiveness": None,
            "nps": None,  # recommend NULL
        },
    ]


def test_survey_figures_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_intermediate(conn, "account_survey_figures"), expected_at_d(), key=("account_id",))


def test_excluded_rows_are_not_read(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    numbers = insert_staging(conn, "surveys", [survey_row("x1", "acc_c", date(2024, 8, 1), 1, 1, 1, 1, 1, 0)])
    exclude_staging(conn, "surveys", numbers)
    assert_rows(run_intermediate(conn, "account_survey_figures"), expected_at_d(), key=("account_id",))


def test_a_range_of_dates(tmp_path):
    # D + 1: s1 (2024-03-01) leaves C, s3 (on D: every rating 1, recommend 0) enters.
    conn = make_db(tmp_path)
    load(conn)
    d1 = date(2025, 3, 2)
    rows = run_intermediate(conn, "account_survey_figures", as_of=d1, as_of_dates=[D, d1])
    assert_rows([r for r in rows if r["as_of_date"] == D], expected_at_d(), key=("account_id",))
    alpha = next(r for r in rows if r["as_of_date"] == d1 and r["account_id"] == "acc_a")
    assert alpha["survey_count"] == 3  # s5, s2, s3
    assert alpha["csat"] == (((3 + 1) / 2) - 1) / 4 * 100
    assert alpha["price_value"] == (1 - 1) / 4 * 100
    assert alpha["nps"] == 100 * (1 - 2) / 3  # s5 promotes (9); s2 (6) and s3 (0) detract
