"""sql/marts/portfolio_kpis.sql on a hand-made marts.account_indicators snapshot.

D = 2025-03-01, W = 365: C = [2024-03-01, 2025-03-01) holds 306 days of 2024 and 59 of 2025 -> market_year 2024.
"""

from __future__ import annotations

from datetime import date

from sql_fixtures import (
    AS_OF,
    assert_rows,
    create_mart_like,
    insert_rows,
    insert_staging,
    make_db,
    materialize_mart,
    run_mart,
)


def _indicators(account_id, segment, industry, region, revenue, revenue_prev, is_churned, as_of=AS_OF, stage=None):
    return {
        "lifecycle_stage": stage,
        "as_of_date": as_of,
        "account_id": account_id,
        "segment": segment,
        "industry": industry,
        "region": region,
        "manager_id": "m1",
        "revenue": revenue,
        "revenue_prev": revenue_prev,
        "is_churned": is_churned,
    }


def test_segments_and_total(tmp_path):
    conn = make_db(tmp_path)
    create_mart_like(conn, "account_indicators")
    insert_rows(
        conn,
        "marts.account_indicators",
        [
            _indicators("a1", "enterprise", "retail", "north", 100, 200, 0, stage="retained"),
            _indicators("a2", "enterprise", "retail", "north", 300, 100, 0, stage="retained"),
            _indicators("a3", "enterprise", "retail", "south", 0, 50, 1, stage="churned"),  # lost
            _indicators(
                "a4", "enterprise", "retail", "south", 40, 0, 0, stage="new"
            ),  # new: outside the retention base
            _indicators("b1", "mid", "retail", "north", 0, 0, 0, stage="dormant"),
            _indicators("b2", "mid", "energy", "west", 80, 0, 0, stage="reactivated"),
            _indicators("s1", "small", "energy", "east", 10, 20, 0, stage="retained"),  # no market data
            _indicators("a1", "enterprise", "retail", "north", 99999, 1, 1, as_of=date(2025, 2, 1)),  # older snapshot
        ],
    )
    insert_staging(
        conn,
        "market",
        [
            {"industry": "retail", "region": "north", "year": 2023, "market_size": 9000.0},
            {"industry": "retail", "region": "north", "year": 2024, "market_size": 10000.0},
            {"industry": "retail", "region": "south", "year": 2024, "market_size": 5000.0},
            {"industry": "energy", "region": "west", "year": 2024, "market_size": 2000.0},
            {"industry": "energy", "region": "west", "year": 2025, "market_size": 99999.0},  # not market_year
        ],
    )

    expected = [
        {
            "as_of_date": AS_OF,
            "segment": "enterprise",
            "account_count": 4,
            "active_accounts": 3,  # a1, a2, a4
            "revenue": 100 + 300 + 0 + 40,
            "revenue_prev": 200 + 100 + 50 + 0,
            "revenue_growth": (440 - 350) / 350,
            "retained_accounts": 2,  # a1, a2 of the base a1, a2, a3
            "logo_retention": 2 / 3,
            "churn_rate": 1 - 2 / 3,
            "nrr": (100 + 300 + 0) / (200 + 100 + 50),
            "grr": (min(100, 200) + min(300, 100) + min(0, 50)) / (200 + 100 + 50),
            "churned_accounts": 1,
            "market_size": 10000 + 5000,  # retail/north once, retail/south
            "market_share": 440 / 15000,
            "new_accounts": 1,  # a4
            "reactivated_accounts": 0,
            "new_revenue_share": 40 / 440,
        },
        {
            "as_of_date": AS_OF,
            "segment": "mid",
            "account_count": 2,
            "active_accounts": 1,
            "revenue": 80,
            "revenue_prev": 0,
            "revenue_growth": None,
            "retained_accounts": 0,
            "logo_retention": None,
            "churn_rate": None,
            "nrr": None,
            "grr": None,
            "churned_accounts": 0,
            "market_size": 10000 + 2000,
            "market_share": 80 / 12000,
            "new_accounts": 0,
            "reactivated_accounts": 1,  # b2
            "new_revenue_share": 0.0,
        },
        {
            "as_of_date": AS_OF,
            "segment": "small",
            "account_count": 1,
            "active_accounts": 1,
            "revenue": 10,
            "revenue_prev": 20,
            "revenue_growth": (10 - 20) / 20,
            "retained_accounts": 1,
            "logo_retention": 1 / 1,
            "churn_rate": 0.0,
            "nrr": 10 / 20,
            "grr": min(10, 20) / 20,
            "churned_accounts": 0,
            "market_size": None,
            "market_share": None,
            "new_accounts": 0,
            "reactivated_accounts": 0,
            "new_revenue_share": 0.0,
        },
        {
            "as_of_date": AS_OF,
            "segment": "all",
            "account_count": 7,
            "active_accounts": 5,  # a1, a2, a4, b2, s1
            "revenue": 440 + 80 + 10,
            "revenue_prev": 350 + 0 + 20,
            "revenue_growth": (530 - 370) / 370,
            "retained_accounts": 3,  # a1, a2, s1 of the base a1, a2, a3, s1
            "logo_retention": 3 / 4,
            "churn_rate": 1 - 3 / 4,
            "nrr": (100 + 300 + 0 + 10) / (200 + 100 + 50 + 20),
            "grr": (100 + 100 + 0 + 10) / (200 + 100 + 50 + 20),
            "churned_accounts": 1,
            "market_size": 10000 + 5000 + 2000,  # energy/east has no data
            "market_share": 530 / 17000,
            "new_accounts": 1,
            "reactivated_accounts": 1,
            "new_revenue_share": 40 / 530,
        },
    ]
    assert_rows(run_mart(conn, "portfolio_kpis"), expected, key=("segment",))


def test_market_year_follows_the_window(tmp_path):
    conn = make_db(tmp_path)
    create_mart_like(conn, "account_indicators")
    as_of = date(2025, 9, 15)  # C = [2024-09-15, 2025-09-15): 108 days of 2024, 257 of 2025 -> 2025
    insert_rows(conn, "marts.account_indicators", [_indicators("a1", "mid", "retail", "north", 50, 0, 0, as_of)])
    insert_staging(
        conn,
        "market",
        [
            {"industry": "retail", "region": "north", "year": 2024, "market_size": 1000.0},
            {"industry": "retail", "region": "north", "year": 2025, "market_size": 500.0},
        ],
    )
    rows = {r["segment"]: r for r in run_mart(conn, "portfolio_kpis", as_of=as_of)}
    assert rows["mid"]["market_size"] == 500
    assert rows["all"]["market_share"] == 50 / 500


def test_empty_snapshot_still_has_the_total_row(tmp_path):
    conn = make_db(tmp_path)
    create_mart_like(conn, "account_indicators")
    expected = [
        {
            "as_of_date": AS_OF,
            "segment": "all",
            "account_count": 0,
            "active_accounts": 0,
            "revenue": 0,
            "revenue_prev": 0,
            "revenue_growth": None,
            "retained_accounts": 0,
            "logo_retention": None,
            "churn_rate": None,
            "nrr": None,
            "grr": None,
            "churned_accounts": 0,
            "market_size": None,
            "market_share": None,
            "new_accounts": 0,
            "reactivated_accounts": 0,
            "new_revenue_share": None,  # no revenue
        }
    ]
    assert_rows(run_mart(conn, "portfolio_kpis"), expected, key=("segment",))


def test_chained_after_account_indicators(tmp_path):
    """Staging -> account_indicators (as the pipeline writes it) -> portfolio_kpis."""
    conn = make_db(tmp_path)
    insert_staging(conn, "managers", [{"manager_id": "m1", "manager_name": "Ann", "team_id": "t1", "team_name": "T"}])
    insert_staging(
        conn,
        "accounts",
        [
            {
                "account_id": "a",
                "account_name": "A",
                "segment": "mid",
                "industry": "retail",
                "region": "north",
                "manager_id": "m1",
                "since": date(2020, 1, 1),
            },
            {
                "account_id": "b",
                "account_name": "B",
                "segment": "mid",
                "industry": "retail",
                "region": "north",
                "manager_id": "m1",
                "since": date(2020, 1, 1),
            },
        ],
    )

    def line(order_id, account_id, day, net, status="completed"):
        return {
            "order_id": order_id,
            "account_id": account_id,
            "order_date": day,
            "product_category": "w",
            "quantity": 1.0,
            "net_amount": net,
            "status": status,
        }

    insert_staging(
        conn,
        "orders",
        [
            line("o1", "a", date(2024, 2, 29), 100),  # P
            line("o2", "a", date(2024, 3, 1), 150),  # C
            line("o3", "a", date(2024, 4, 1), 30, "returned"),  # C, -30
            line("o4", "b", date(2023, 6, 1), 40),  # P, nothing in C
        ],
    )
    materialize_mart(conn, "account_indicators")
    rows = {r["segment"]: r for r in run_mart(conn, "portfolio_kpis")}
    assert set(rows) == {"mid", "all"}
    mid = rows["mid"]
    assert mid["revenue"] == 150 - 30
    assert mid["revenue_prev"] == 100 + 40
    assert mid["nrr"] == (150 - 30 + 0) / (100 + 40)
    assert mid["grr"] == (min(120, 100) + min(0, 40)) / (100 + 40)
    assert mid["logo_retention"] == 1 / 2
    # both had revenue in P and neither has a completed line in [2024-09-02, D):
    # a's last one is 2024-03-01 (revenue in C does not protect it), b's is 2023-06-01
    assert mid["churned_accounts"] == 2
