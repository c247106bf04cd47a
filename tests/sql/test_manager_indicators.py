"""sql/marts/manager_indicators.sql on a hand-made account snapshot and 360 feedback.

D = 2025-03-01, W = 365: C = [2024-03-01, 2025-03-01).
"""

from __future__ import annotations

from datetime import date

from sql_fixtures import AS_OF, assert_rows, create_mart_like, insert_rows, insert_staging, make_db, run_mart


def _indicators(account_id, manager_id, revenue, revenue_prev, is_churned, as_of=AS_OF):
    return {
        "as_of_date": as_of,
        "account_id": account_id,
        "segment": "mid",
        "industry": "retail",
        "region": "north",
        "manager_id": manager_id,
        "revenue": revenue,
        "revenue_prev": revenue_prev,
        "is_churned": is_churned,
    }


def _review(manager_id, day, role, score):
    return {"manager_id": manager_id, "reviewed_on": day, "reviewer_role": role, "competency": "c", "score": score}


def test_manager_rollup_and_feedback(tmp_path):
    conn = make_db(tmp_path)
    insert_staging(
        conn,
        "managers",
        [
            {"manager_id": "m1", "manager_name": "Ann", "team_id": "t1", "team_name": "North"},
            {"manager_id": "m2", "manager_name": "Bob", "team_id": "t1", "team_name": "North"},
            {"manager_id": "m3", "manager_name": "Cy", "team_id": "t2", "team_name": "South"},
        ],
    )
    create_mart_like(conn, "account_indicators")
    insert_rows(
        conn,
        "marts.account_indicators",
        [
            _indicators("a1", "m1", 100, 200, 0),
            _indicators("a2", "m1", 0, 50, 1),
            _indicators("a3", "m1", 30, 0, 0),
            _indicators("b1", "m2", 500, 400, 0),
            _indicators("x1", "m9", 777, 1, 0),  # manager unknown: no row
            _indicators("c1", "m3", 999, 1, 1, as_of=date(2025, 2, 1)),  # older snapshot: ignored
        ],
    )
    insert_staging(
        conn,
        "feedback",
        [
            _review("m1", date(2024, 3, 1), "supervisor", 5),  # D - W: in C
            _review("m1", date(2024, 9, 1), "supervisor", 3),
            _review("m1", date(2024, 6, 1), "peer", 2),
            _review("m1", date(2024, 7, 1), "peer", 2),
            _review("m1", date(2025, 2, 28), "peer", 5),  # D - 1: in C
            _review("m1", date(2024, 10, 1), "self", 5),
            _review("m1", date(2025, 3, 1), "customer", 1),  # on D: excluded
            _review("m1", date(2024, 2, 29), "subordinate", 1),  # before C: excluded
            _review("m3", date(2024, 12, 1), "peer", 4),
        ],
    )

    expected = [
        {
            "as_of_date": AS_OF,
            "manager_id": "m1",
            "manager_name": "Ann",
            "team_id": "t1",
            "team_name": "North",
            "account_count": 3,
            "revenue": 100 + 0 + 30,
            "revenue_prev": 200 + 50 + 0,
            "revenue_growth": (130 - 250) / 250,
            "nrr": (100 + 0) / (200 + 50),  # base a1, a2
            "grr": (min(100, 200) + min(0, 50)) / (200 + 50),
            "logo_retention": 1 / 2,
            "churned_accounts": 1,
            # roles: supervisor (5 + 3) / 2 = 4, peer (2 + 2 + 5) / 3 = 3, self 5 -> (4 + 3 + 5) / 3 = 4
            # (a plain mean of the six reviews would give 22 / 6)
            "feedback_score": (((5 + 3) / 2 + (2 + 2 + 5) / 3 + 5) / 3 - 1) / 4 * 100,
            "feedback_count": 6,
            "feedback_roles": 3,
        },
        {
            "as_of_date": AS_OF,
            "manager_id": "m2",
            "manager_name": "Bob",
            "team_id": "t1",
            "team_name": "North",
            "account_count": 1,
            "revenue": 500,
            "revenue_prev": 400,
            "revenue_growth": (500 - 400) / 400,
            "nrr": 500 / 400,
            "grr": min(500, 400) / 400,
            "logo_retention": 1.0,
            "churned_accounts": 0,
            "feedback_score": None,
            "feedback_count": 0,
            "feedback_roles": 0,
        },
        {
            "as_of_date": AS_OF,
            "manager_id": "m3",
            "manager_name": "Cy",
            "team_id": "t2",
            "team_name": "South",
            "account_count": 0,
            "revenue": 0,
            "revenue_prev": 0,
            "revenue_growth": None,
            "nrr": None,
            "grr": None,
            "logo_retention": None,
            "churned_accounts": 0,
            "feedback_score": (4 - 1) / 4 * 100,
            "feedback_count": 1,
            "feedback_roles": 1,
        },
    ]
    assert_rows(run_mart(conn, "manager_indicators"), expected, key=("manager_id",))
