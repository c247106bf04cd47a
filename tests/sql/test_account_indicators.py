"""sql/marts/account_indicators.sql on hand-made inputs; every expected value is worked out by hand below.

The data set is indicator_inputs.load (its docstring gives the windows). The figures of each source
are tested where they are computed, in the tests of the intermediate models (test_account_*_figures,
test_window_years, test_market_growth); this file checks the joined rows and the indicators that
combine sources.
"""

from __future__ import annotations

from datetime import date, timedelta

from indicator_inputs import (
    C_START,
    DAYS_2024,
    DAYS_2025,
    MONTHS_IN_C,
    P_START,
    D,
    account_row,
    load,
    order_row,
)
from sql_fixtures import assert_rows, create_mart_like, insert_staging, make_db, run_mart


def _identity(account_id, name, segment, industry, region, manager_id, team_id):
    return {
        "as_of_date": D,
        "account_id": account_id,
        "account_name": name,
        "segment": segment,
        "industry": industry,
        "region": region,
        "manager_id": manager_id,
        "team_id": team_id,
        "window_days": 365,
        "market_year": 2024,  # 306 of the 365 days of C
    }


NO_SURVEYS = {
    "csat": None,
    "product_quality": None,
    "service_quality": None,
    "price_value": None,
    "responsiveness": None,
    "nps": None,
    "survey_count": 0,
}
NO_INVOICES = {"invoice_count": 0, "overdue_ratio": None, "avg_days_late": None}
NO_COMPLAINTS = {"complaint_count": 0, "avg_resolution_hours": None, "sla_breach_rate": None, "open_complaints": 0}
RETAIL_NORTH_GROWTH = 1000000 / 800000 - 1  # market_year 2024 vs 2023 = 0.25


def expected_rows():
    alpha_growth = (250 - 300) / 300  # revenue C = 120 + 80 + 100 - 30 - 20; P = 200 (a4) + 100 (a7)
    alpha = {
        **_identity("acc_a", "Alpha", "enterprise", "retail", "north", "m1", "t1"),
        "revenue": 120 + 80 + 100 - 30 - 20,
        "revenue_prev": 200 + 100,
        "revenue_growth": alpha_growth,
        # lines with cost in C: a1/1 (120, 70), a2/1 (100, 60), a2/2 returned (-30, -18)
        "gross_margin": ((120 + 100 - 30) - (70 + 60 - 18)) / (120 + 100 - 30),
        "order_count": 2,  # a1, a2 (a5 is a return only)
        "avg_order_value": 250 / 2,
        "order_frequency": 2 / (365 / 30),
        "product_breadth": 2,  # widgets, gadgets
        "active_month_ratio": 2 / MONTHS_IN_C,  # 2024-03, 2025-02
        "recency_days": 1,
        "last_order_date": date(2025, 2, 28),
        "tenure_years": (5 * 365 + 1) / 365.25,  # 2020-03-01 .. 2025-03-01 holds 2024-02-29
        "is_churned": 0,
        "revenue_retention": 250 / 300,
        "wallet_amount_window": 366000 * DAYS_2024 / 366 + 730000 * DAYS_2025 / 365,  # 306000 + 118000
        "share_of_wallet": 250 / 424000,
        "market_growth": RETAIL_NORTH_GROWTH,
        "market_growth_gap": alpha_growth - RETAIL_NORTH_GROWTH,
        "csat": (((5 + 3) / 2) - 1) / 4 * 100,  # s5 has no overall
        "product_quality": (((4 + 2 + 5) / 3) - 1) / 4 * 100,
        "service_quality": (((3 + 5) / 2) - 1) / 4 * 100,
        "price_value": None,  # only the excluded surveys answered it
        "responsiveness": (((5 + 4) / 2) - 1) / 4 * 100,
        "nps": 100 * (2 - 1) / 3,  # 10 and 9 promote, 6 detracts
        "survey_count": 3,
        "complaint_count": 5,  # c1, c2, c3, c4, c7
        "complaint_rate": 5 / 2 * 100,
        # c1 36 h, c4 144 h resolved; c2, c3, c7 still open at D 00:00 count with their age then:
        # c2 8 d 16 h = 208 h, c3 12 h, c7 (resolved exactly at D 00:00) 48 h.
        "avg_resolution_hours": (36 + 208 + 12 + 144 + 48) / 5,
        # c4: 144 h > 120 (medium); c2 open at D for 8 d 16 h = 208 h > 24 (critical);
        # c7 open at D for 48 h <= 72 (high); c3 open 12 h <= 240 (low); c1 36 h <= 72
        "sla_breach_rate": 2 / 5,
        "open_complaints": 3,  # c2, c3, c7
        "invoice_count": 5,  # i1, i2, i3, i4, i7
        "overdue_ratio": (200 + 300) / (100 + 200 + 300 + 400 + 500),  # i2 paid late, i3 unpaid at D
        "avg_days_late": (0 + 10 + 15 + 0 + 0) / 5,  # i3: D - 2025-02-14 = 15
    }
    beta = {
        **_identity("acc_b", "Beta", "enterprise", "retail", "south", "m2", "t2"),
        "revenue": 500 + 100,
        "revenue_prev": 0,
        "revenue_growth": None,
        "gross_margin": None,
        "order_count": 1,
        "avg_order_value": 600 / 1,
        "order_frequency": 1 / (365 / 30),
        "product_breadth": 1,
        "active_month_ratio": 1 / MONTHS_IN_C,
        "recency_days": (D - date(2024, 6, 15)).days,
        "last_order_date": date(2024, 6, 15),
        "tenure_years": (D - date(2024, 6, 1)).days / 365.25,
        "is_churned": 0,  # no revenue in P, nothing before C
        "revenue_retention": None,
        # only 2024 delivered: (36600 * 306 / 366) scaled from 306 days up to 365 = 36500
        "wallet_amount_window": 36600 * DAYS_2024 / 366 * 365 / DAYS_2024,
        "share_of_wallet": 600 / 36500,
        "market_growth": None,  # retail/south has no 2023
        "market_growth_gap": None,
        **NO_SURVEYS,
        "csat": (4 - 1) / 4 * 100,
        "survey_count": 1,  # recommend NULL -> nps NULL
        **NO_COMPLAINTS,
        "complaint_rate": 0 / 1 * 100,
        **NO_INVOICES,
    }
    gamma = {
        **_identity("acc_c", "Gamma", "mid", "retail", "north", "m1", "t1"),
        "revenue": 100 - 100,  # g2 completed, g3 returned
        "revenue_prev": 400,
        "revenue_growth": (0 - 400) / 400,
        "gross_margin": None,  # costed net = 100 - 100 = 0
        "order_count": 1,
        "avg_order_value": 0 / 1,
        "order_frequency": 1 / (365 / 30),
        "product_breadth": 1,  # gadgets only on a return and a cancellation
        "active_month_ratio": 1 / MONTHS_IN_C,
        "recency_days": (D - date(2024, 5, 1)).days,
        "last_order_date": date(2024, 5, 1),
        "tenure_years": (D - date(2019, 1, 1)).days / 365.25,
        "is_churned": 1,
        "revenue_retention": 0 / 400,
        "wallet_amount_window": None,
        "share_of_wallet": None,
        "market_growth": RETAIL_NORTH_GROWTH,
        "market_growth_gap": -1 - RETAIL_NORTH_GROWTH,
        **NO_SURVEYS,
        **NO_COMPLAINTS,
        "complaint_rate": 0.0,
        **NO_INVOICES,
    }
    delta = {
        **_identity("acc_d", "Delta", "mid", "energy", "north", "m2", "t2"),
        "revenue": 70,
        "revenue_prev": 20,
        "revenue_growth": (70 - 20) / 20,
        "gross_margin": (70 - 70) / 70,
        "order_count": 1,
        "avg_order_value": 70.0,
        "order_frequency": 1 / (365 / 30),
        "product_breadth": 1,
        "active_month_ratio": 1 / MONTHS_IN_C,
        "recency_days": 180,
        "last_order_date": date(2024, 9, 2),
        "tenure_years": (D - date(2019, 6, 1)).days / 365.25,
        "is_churned": 0,  # completed line on D - churn_days
        "revenue_retention": 2.0,  # 70 / 20 = 3.5 capped
        "wallet_amount_window": None,
        "share_of_wallet": None,
        "market_growth": None,  # energy/north 2023 = 0
        "market_growth_gap": None,
        **NO_SURVEYS,
        **NO_COMPLAINTS,
        "complaint_rate": 0.0,
        **NO_INVOICES,
    }
    epsilon = {
        **_identity("acc_e", "Epsilon", "small", "energy", "east", "m2", "t2"),
        "revenue": 0,
        "revenue_prev": 0,
        "revenue_growth": None,
        "gross_margin": None,
        "order_count": 0,
        "avg_order_value": None,
        "order_frequency": 0.0,
        "product_breadth": 0,
        "active_month_ratio": 0.0,
        "recency_days": (D - date(2022, 1, 1)).days,
        "last_order_date": date(2022, 1, 1),
        "tenure_years": (D - date(2018, 1, 1)).days / 365.25,
        "is_churned": 1,  # a completed line before D - W and none in the churn window
        "revenue_retention": None,
        "wallet_amount_window": 730 * DAYS_2025 / 365 * 365 / DAYS_2025,  # only 2025: scaled to 730
        "share_of_wallet": 0 / 730,
        "market_growth": None,
        "market_growth_gap": None,
        **NO_SURVEYS,
        "complaint_count": 1,
        "complaint_rate": None,  # no orders
        "avg_resolution_hours": 10.0,
        "sla_breach_rate": 0 / 1,
        "open_complaints": 0,
        "invoice_count": 1,
        "overdue_ratio": None,  # invoiced amount 0
        "avg_days_late": 0.0,  # paid on the due date
    }
    nil = {
        **_identity("acc_n", "Nil", "small", "retail", "north", "m9", None),
        "revenue": 0,
        "revenue_prev": 0,
        "revenue_growth": None,
        "gross_margin": None,
        "order_count": 0,
        "avg_order_value": None,
        "order_frequency": 0.0,
        "product_breadth": 0,
        "active_month_ratio": 0.0,
        "recency_days": None,
        "last_order_date": None,
        "tenure_years": 0.0,
        "is_churned": 0,
        "revenue_retention": None,
        "wallet_amount_window": None,
        "share_of_wallet": None,
        "market_growth": RETAIL_NORTH_GROWTH,
        "market_growth_gap": None,
        **NO_SURVEYS,
        **NO_COMPLAINTS,
        "complaint_rate": None,
        **NO_INVOICES,
    }
    # The lifecycle (marts.account_lifecycle, joined in): stage, first completed order, and the pace since it
    # (from the start of C when the first order is older), per 30 days.
    c_days = 365 / 30
    alpha |= _lifecycle("retained", date(2023, 3, 1), date(2020, 3, 1), 2 / c_days, 250 / c_days)  # a8 before P
    beta_days = (D - date(2024, 6, 15)).days / 30
    beta |= _lifecycle("new", date(2024, 6, 15), date(2024, 6, 1), 1 / beta_days, 600 / beta_days)
    gamma |= _lifecycle("retained", date(2023, 6, 1), date(2019, 1, 1), 1 / c_days, 0.0)
    delta |= _lifecycle("retained", date(2023, 12, 1), date(2019, 6, 1), 1 / c_days, 70 / c_days)
    epsilon |= _lifecycle("dormant", date(2022, 1, 1), date(2018, 1, 1), 0.0, 0.0)
    nil |= _lifecycle("prospect", None, date(2025, 3, 1), 0.0, 0.0)
    return [alpha, beta, gamma, delta, epsilon, nil]


def _lifecycle(stage, first, since, order_rate, revenue_rate):
    return {
        "lifecycle_stage": stage,
        "first_order_date": first,
        "days_to_first_order": None if first is None else (first - since).days,
        "order_frequency_since_first": order_rate,
        "monthly_revenue_since_first": revenue_rate,
        "acquisition_cost": None,
        "payback": None,
    }


def test_windows_are_the_dates_the_fixture_assumes():
    assert D - timedelta(days=365) == C_START
    assert D - timedelta(days=2 * 365) == P_START
    assert D - timedelta(days=180) == date(2024, 9, 2)
    assert (date(2025, 1, 1) - C_START).days == DAYS_2024
    assert (D - date(2025, 1, 1)).days == DAYS_2025


def test_account_indicators_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_mart(conn, "account_indicators"), expected_rows(), key=("account_id",))


def test_parameters_change_the_results(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    rows = {
        r["account_id"]: r
        for r in run_mart(conn, "account_indicators", retention_cap=3.0, churn_days=170, sla_critical_hours=300.0)
    }
    assert rows["acc_d"]["revenue_retention"] == 3.0  # 3.5 capped at 3
    assert rows["acc_d"]["is_churned"] == 1  # 2024-09-02 is before D - 170 = 2024-09-12
    assert rows["acc_a"]["sla_breach_rate"] == 1 / 5  # c2 (208 h) within 300 h now; c4 still late


def test_result_types(tmp_path):
    conn = make_db(tmp_path)
    create_mart_like(conn, "account_indicators")
    types = dict(conn.execute("select column_name, column_type from (describe marts.account_indicators)").fetchall())
    for column in ("revenue", "revenue_prev"):
        assert types[column].startswith("DECIMAL")
    for column in ("order_count", "product_breadth", "survey_count", "complaint_count", "invoice_count"):
        assert types[column] == "BIGINT"
    assert types["is_churned"] == "INTEGER"
    for column in ("revenue_growth", "gross_margin", "share_of_wallet", "nps", "overdue_ratio", "avg_days_late"):
        assert types[column] == "DOUBLE"


def test_calendar_years_months_and_ties(tmp_path):
    conn = make_db(tmp_path)
    insert_staging(conn, "managers", [{"manager_id": "m1", "manager_name": "Ann", "team_id": "t1", "team_name": "T"}])
    insert_staging(
        conn,
        "accounts",
        [
            account_row("acc_x", "X", "mid", "retail", "north", "m1", date(2020, 1, 1)),
            account_row("acc_y", "Y", "mid", "retail", "north", "m1", date(2020, 1, 1)),
        ],
    )
    insert_staging(
        conn,
        "orders",
        [
            order_row("x1", 1, date(2024, 9, 15), "widgets", 100, None, "completed", "acc_x"),
            order_row("x2", 1, date(2024, 12, 31), "widgets", 10, None, "completed", "acc_x"),
            order_row("x3", 1, date(2025, 1, 10), "widgets", 40, None, "completed", "acc_x"),
            order_row("x4", 1, date(2025, 9, 14), "widgets", 50, None, "completed", "acc_x"),
        ],
    )
    insert_staging(
        conn,
        "wallet",
        [
            {"account_id": "acc_x", "year": 2024, "wallet_amount": 366.0},  # 2025 missing
            {"account_id": "acc_y", "year": 2024, "wallet_amount": 366.0},
            {"account_id": "acc_y", "year": 2025, "wallet_amount": 730.0},
        ],
    )
    insert_staging(
        conn,
        "market",
        [
            {"industry": "retail", "region": "north", "year": 2023, "market_size": 50.0},
            {"industry": "retail", "region": "north", "year": 2024, "market_size": 100.0},
            {"industry": "retail", "region": "north", "year": 2025, "market_size": 150.0},
        ],
    )

    # D = 2025-09-15, W = 365: C = [2024-09-15, 2025-09-15): 108 days of 2024, 257 of 2025 -> market_year 2025
    rows = {r["account_id"]: r for r in run_mart(conn, "account_indicators", as_of=date(2025, 9, 15))}
    x = rows["acc_x"]
    assert x["revenue"] == 100 + 10 + 40 + 50
    assert x["active_month_ratio"] == 4 / 13  # Sep 24, Dec 24, Jan 25, Sep 25 of the 13 months Sep 24 .. Sep 25
    assert x["market_year"] == 2025
    assert x["market_growth"] == 150 / 100 - 1  # 2025 vs 2024, not 2024 vs 2023
    assert x["wallet_amount_window"] == 366 * 108 / 366 * 365 / 108  # 2024 only, scaled: 365
    assert x["share_of_wallet"] == 200 / 365
    assert rows["acc_y"]["wallet_amount_window"] == 366 * 108 / 366 + 730 * 257 / 365

    # D = 2025-01-02, W = 2: C = [2024-12-31, 2025-01-02): one day in each year -> tie -> the later year
    rows = {r["account_id"]: r for r in run_mart(conn, "account_indicators", as_of=date(2025, 1, 2), window_days=2)}
    x = rows["acc_x"]
    assert x["revenue"] == 10 and x["revenue_prev"] == 0  # P = [2024-12-29, 2024-12-31) is empty
    assert x["order_frequency"] == 1 / (2 / 30)
    assert x["active_month_ratio"] == 1 / 2  # Dec 2024 of Dec 2024 .. Jan 2025
    assert x["market_year"] == 2025
    assert x["market_growth"] == 150 / 100 - 1
    assert x["wallet_amount_window"] == 366 * 1 / 366 * 2 / 1
    assert rows["acc_y"]["wallet_amount_window"] == 366 * 1 / 366 + 730 * 1 / 365
