"""sql/marts/book_indicators.sql on hand-made account snapshots, account scores and 360 feedback.

D = 2025-03-01, W = 365: C = [2024-03-01, 2025-03-01). Every expected value is worked out by hand below.
"""

from __future__ import annotations

from datetime import date

from kam_pipeline.ingest.contract import REVIEWER_ROLES
from sql_fixtures import AS_OF, assert_rows, create_mart_like, insert_rows, insert_staging, make_db, run_mart

D = AS_OF
EARLIER = date(2025, 2, 1)
EQUAL_ROLES = {"role_names": list(REVIEWER_ROLES), "role_weights": [1.0] * len(REVIEWER_ROLES)}


def _account(account_id, manager_id, revenue, revenue_prev, churned, csat, nps, surveys, wallet, active, orders,
             complaints, resolution, breach, as_of=D, stage="retained"):  # fmt: skip
    return {
        "as_of_date": as_of,
        "account_id": account_id,
        "manager_id": manager_id,
        "revenue": revenue,
        "revenue_prev": revenue_prev,
        "is_churned": churned,
        "csat": csat,
        "nps": nps,
        "survey_count": surveys,
        "wallet_amount_window": wallet,
        "active_month_ratio": active,
        "order_count": orders,
        "complaint_count": complaints,
        "avg_resolution_hours": resolution,
        "sla_breach_rate": breach,
        "lifecycle_stage": stage,
    }


def _review(manager_id, day, role, score):
    return {"manager_id": manager_id, "reviewed_on": day, "reviewer_role": role, "competency": "c", "score": score}


def load(conn):
    insert_staging(
        conn,
        "managers",
        [
            {"manager_id": "m1", "manager_name": "Ann", "team_id": "t1", "team_name": "North"},
            {"manager_id": "m2", "manager_name": "Bob", "team_id": "t1", "team_name": "North"},
            {"manager_id": "m3", "manager_name": "Cy", "team_id": "t2", "team_name": "South"},  # no accounts at D
        ],
    )
    create_mart_like(conn, "account_indicators")
    insert_rows(
        conn,
        "marts.account_indicators",
        [
            _account("a1", "m1", 250, 200, 0, 80.0, 50.0, 2, 1000.0, 0.5, 4, 2, 10.0, 0.5),
            _account("a2", "m1", 0, 50, 1, None, None, 0, None, 0.0, 0, 1, 30.0, 1.0, stage="churned"),
            _account("a3", "m1", 300, 0, 0, 60.0, -20.0, 1, 600.0, 0.25, 2, 0, None, None, stage="new"),
            _account("b1", "m2", 500, 400, 0, 40.0, 0.0, 3, 0.0, 1.0, 10, 3, 20.0, 1 / 3),
            _account("b2", "m2", 0, 0, 0, None, None, 0, None, 0.0, 0, 0, None, None, stage="reactivated"),
            _account("x1", "m9", 777, 1, 0, 10.0, 10.0, 1, 1.0, 1.0, 1, 1, 1.0, 1.0),  # manager unknown
            _account("c1", "m3", 90, 10, 0, 20.0, 20.0, 1, 100.0, 1.0, 1, 0, None, None, as_of=EARLIER),
        ],
    )
    conn.execute(
        "create table marts.account_scores (as_of_date date, account_id varchar, score double, "
        "completeness double, is_key_account boolean)"
    )
    insert_rows(
        conn,
        "marts.account_scores",
        [
            {"as_of_date": D, "account_id": "a1", "score": 70.0, "completeness": 1.0, "is_key_account": True},
            {"as_of_date": D, "account_id": "a2", "score": 40.0, "completeness": 0.5, "is_key_account": False},
            {"as_of_date": D, "account_id": "a3", "score": 90.0, "completeness": 0.75, "is_key_account": True},
            # b1 is not scored; b2 is, without revenue
            {"as_of_date": D, "account_id": "b2", "score": 30.0, "completeness": 0.5, "is_key_account": False},
            {"as_of_date": EARLIER, "account_id": "c1", "score": 10.0, "completeness": 1.0, "is_key_account": True},
        ],
    )
    insert_staging(
        conn,
        "feedback",
        [
            _review("m1", date(2024, 3, 1), "supervisor", 5),  # D - W: in C
            _review("m1", date(2024, 9, 1), "supervisor", 3),
            _review("m1", date(2025, 2, 28), "peer", 2),
            _review("m1", date(2025, 3, 1), "customer", 1),  # on D: not in C
            _review("m1", date(2024, 2, 29), "self", 1),  # before C
            _review("m2", date(2024, 12, 1), "customer", 5),
        ],
    )


def _entity(level, entity_id, manager_id, name, team_id, team_name, managers):
    return {
        "as_of_date": D,
        "level": level,
        "entity_id": entity_id,
        "manager_id": manager_id,
        "manager_name": name,
        "team_id": team_id,
        "team_name": team_name,
        "manager_count": managers,
    }


EMPTY_BOOK = {
    "account_count": 0,
    "accounts_scored": 0,
    "key_accounts": 0,
    "revenue": 0,
    "revenue_prev": 0,
    "revenue_growth": None,
    "nrr": None,
    "grr": None,
    "logo_retention": None,
    "churned_accounts": 0,
    "account_score": None,
    "avg_completeness": None,
    "csat": None,
    "nps": None,
    "share_of_wallet": None,
    "active_month_ratio": None,
    "complaint_rate": None,
    "avg_resolution_hours": None,
    "sla_breach_rate": None,
    "new_accounts": 0,
    "reactivated_accounts": 0,
    "new_revenue_share": None,  # no revenue
    "new_key_accounts": 0,
}


def expected_rows():
    # m1: a1 (250 / 200), a2 (0 / 50, churned), a3 (300 / 0); base accounts (revenue_prev > 0): a1, a2
    m1 = {
        **_entity("manager", "m1", "m1", "Ann", "t1", "North", 1),
        "account_count": 3,
        "accounts_scored": 3,
        "key_accounts": 2,
        "revenue": 250 + 0 + 300,
        "revenue_prev": 200 + 50 + 0,
        "revenue_growth": (550 - 250) / 250,
        "nrr": (250 + 0) / (200 + 50),
        "grr": (min(250, 200) + min(0, 50)) / (200 + 50),
        "logo_retention": 1 / 2,  # a1 kept revenue, a2 did not
        "churned_accounts": 1,
        "account_score": (250 * 70 + 0 * 40 + 300 * 90) / (250 + 0 + 300),  # revenue-weighted
        "avg_completeness": (1.0 + 0.5 + 0.75) / 3,
        "csat": (80 * 2 + 60 * 1) / (2 + 1),  # weighted by survey_count; a2 has no csat
        "nps": (50 * 2 + -20 * 1) / (2 + 1),
        "share_of_wallet": (250 + 300) / (1000 + 600),  # accounts with a wallet estimate
        "active_month_ratio": (0.5 + 0.0 + 0.25) / 3,
        "complaint_rate": 100 * 2 / (4 + 0 + 2),  # a2's complaint has no order to rate it against
        "avg_resolution_hours": (10 * 2 + 30 * 1) / (2 + 1),  # weighted by complaints
        "sla_breach_rate": (0.5 * 2 + 1.0 * 1) / (2 + 1),
        # supervisor mean (5 + 3) / 2 = 4, peer 2; equal weights: (4 + 2) / 2 = 3 -> (3 - 1) / 4 * 100
        "feedback_score": 50.0,
        "feedback_count": 3,
        "new_accounts": 1,  # a3
        "reactivated_accounts": 0,
        "new_revenue_share": 300 / 550,
        "new_key_accounts": 1,  # a3 is a key account
    }
    # m2: b1 (500 / 400, not scored), b2 (0 / 0, scored 30): no scored account has revenue -> plain mean
    m2 = {
        **_entity("manager", "m2", "m2", "Bob", "t1", "North", 1),
        "account_count": 2,
        "accounts_scored": 1,
        "key_accounts": 0,
        "revenue": 500,
        "revenue_prev": 400,
        "revenue_growth": (500 - 400) / 400,
        "nrr": 500 / 400,
        "grr": 400 / 400,
        "logo_retention": 1.0,
        "churned_accounts": 0,
        "account_score": 30.0,
        "avg_completeness": 0.5,
        "csat": 40.0,
        "nps": 0.0,
        "share_of_wallet": None,  # b1's wallet estimate is 0, b2 has none
        "active_month_ratio": (1.0 + 0.0) / 2,
        "complaint_rate": 100 * 3 / 10,
        "avg_resolution_hours": 20.0,
        "sla_breach_rate": 1 / 3,
        "feedback_score": (5 - 1) / 4 * 100,
        "feedback_count": 1,
        "new_accounts": 0,
        "reactivated_accounts": 1,  # b2
        "new_revenue_share": 0 / 500,
        "new_key_accounts": 0,
    }
    m3 = {**_entity("manager", "m3", "m3", "Cy", "t2", "South", 1), **EMPTY_BOOK, "feedback_score": None}
    m3["feedback_count"] = 0
    t1 = {
        **_entity("team", "t1", None, None, "t1", "North", 2),
        "account_count": 5,
        "accounts_scored": 4,
        "key_accounts": 2,
        "revenue": 1050,
        "revenue_prev": 650,
        "revenue_growth": (1050 - 650) / 650,
        "nrr": (250 + 0 + 500) / (200 + 50 + 400),
        "grr": (200 + 0 + 400) / (200 + 50 + 400),
        "logo_retention": 2 / 3,  # a1, b1 of a1, a2, b1
        "churned_accounts": 1,
        "account_score": (250 * 70 + 300 * 90) / (250 + 300),  # b2 scored without revenue: weight 0
        "avg_completeness": (1.0 + 0.5 + 0.75 + 0.5) / 4,
        "csat": (80 * 2 + 60 * 1 + 40 * 3) / (2 + 1 + 3),
        "nps": (50 * 2 - 20 * 1 + 0 * 3) / (2 + 1 + 3),
        "share_of_wallet": (250 + 300) / (1000 + 600),
        "active_month_ratio": (0.5 + 0.0 + 0.25 + 1.0 + 0.0) / 5,
        "complaint_rate": 100 * (2 + 3) / (4 + 2 + 10),
        "avg_resolution_hours": (10 * 2 + 30 * 1 + 20 * 3) / (2 + 1 + 3),
        "sla_breach_rate": (0.5 * 2 + 1.0 * 1 + 1 / 3 * 3) / (2 + 1 + 3),
        "feedback_score": (50.0 + 100.0) / 2,  # the mean of its managers' scores
        "feedback_count": 4,
        "new_accounts": 1,
        "reactivated_accounts": 1,
        "new_revenue_share": 300 / 1050,
        "new_key_accounts": 1,
    }
    t2 = {**_entity("team", "t2", None, None, "t2", "South", 1), **EMPTY_BOOK, "feedback_score": None}
    t2["feedback_count"] = 0
    return [m1, m2, m3, t1, t2]


def test_book_indicators_exact_rows(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    assert_rows(run_mart(conn, "book_indicators", **EQUAL_ROLES), expected_rows(), key=("level", "entity_id"))


def test_role_weights_weigh_the_roles_present(tmp_path):
    conn = make_db(tmp_path)
    load(conn)
    weights = {"role_names": ["supervisor", "peer", "customer"], "role_weights": [3.0, 1.0, 1.0]}
    rows = {(r["level"], r["entity_id"]): r for r in run_mart(conn, "book_indicators", **weights)}
    # m1: (4 * 3 + 2 * 1) / (3 + 1) = 3.5 -> 62.5; m2 has only customer reviews: 5 -> 100
    assert rows["manager", "m1"]["feedback_score"] == (3.5 - 1) / 4 * 100
    assert rows["manager", "m2"]["feedback_score"] == 100.0
    assert rows["team", "t1"]["feedback_score"] == ((3.5 - 1) / 4 * 100 + 100.0) / 2


def test_a_range_reads_each_dates_snapshots(tmp_path):
    # EARLIER's snapshot holds only c1 (m3); D's does not. C of EARLIER = [2024-02-02, 2025-02-01) also
    # holds m1's self review of 2024-02-29 (score 1) and not the peer review of 2025-02-28.
    conn = make_db(tmp_path)
    load(conn)
    rows = run_mart(conn, "book_indicators", as_of_dates=[EARLIER, D], **EQUAL_ROLES)
    at = {(r["as_of_date"], r["level"], r["entity_id"]): r for r in rows}
    assert len(rows) == 2 * 5
    cy = at[EARLIER, "manager", "m3"]
    assert (cy["account_count"], cy["revenue"], cy["key_accounts"], cy["account_score"]) == (1, 90, 1, 10.0)
    assert at[D, "manager", "m3"]["account_count"] == 0
    assert at[EARLIER, "manager", "m1"]["account_count"] == 0
    # supervisor (5 + 3) / 2 = 4, self 1: (4 + 1) / 2 = 2.5 -> 37.5
    assert at[EARLIER, "manager", "m1"]["feedback_score"] == (2.5 - 1) / 4 * 100
    assert at[EARLIER, "manager", "m1"]["feedback_count"] == 3
    assert_rows([r for r in rows if r["as_of_date"] == D], expected_rows(), key=("level", "entity_id"))
