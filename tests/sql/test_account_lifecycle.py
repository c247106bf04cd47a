"""sql/marts/account_lifecycle.sql on tiny hand-made order histories, one account per stage and bucket.

D = 2025-03-01, W = 365: C = [2024-03-01, 2025-03-01) (2025 has no 29 February, so D - W = 2024-03-01) and
P = [2023-03-02, 2024-03-01) (366 days back from 2024-03-01 because of 2024-02-29: D - 2W = 2023-03-02).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sql_fixtures import AS_OF, assert_rows, insert_staging, make_db, materialize_mart, run_mart

D = AS_OF
C_START = date(2024, 3, 1)
P_START = date(2023, 3, 2)


def _line(order_id, account, day, net, status="completed", cost=None, line_no=1):
    return {
        "order_id": order_id,
        "line_no": line_no,
        "account_id": account,
        "order_date": day,
        "product_category": "tools",
        "quantity": 1.0,
        "net_amount": net,
        "cost_amount": cost,
        "status": status,
    }


def _account(account_id, since=date(2020, 1, 1), segment="enterprise", manager_id="m1"):
    return {
        "account_id": account_id,
        "account_name": account_id.upper(),
        "segment": segment,
        "industry": "retail",
        "region": "north",
        "manager_id": manager_id,
        "since": since,
    }


ACCOUNTS = [
    _account("new_a", since=date(2024, 5, 1)),
    _account("new_eve", since=date(2025, 2, 1)),  # first order the day before D
    _account("grow"),
    _account("shrink"),
    _account("flat"),
    _account("back"),  # reactivated after a gap
    _account("lost"),
    _account("asleep"),
    _account("returns_only", since=date(2024, 1, 1)),
    _account("asleep_return"),
    _account("never", since=date(2024, 1, 1)),
    _account("cancelled_only", since=date(2024, 1, 1)),
    _account("edge_both"),  # last day of P and first day of C
    _account("on_d", since=date(2024, 1, 1)),  # only an order dated D
    _account("p_start"),  # first day of P only
    _account("before_p"),  # the day before P, then C
    _account("later", since=date(2025, 3, 2)),  # starts after D: not in the snapshot
]

LINES = [
    _line("o1", "new_a", date(2024, 6, 1), 100),
    _line("o2", "new_a", date(2024, 7, 1), 30, status="returned"),  # returned: counts -30 (positive in the file)
    _line("o3", "new_eve", date(2025, 2, 28), 50),
    _line("o4", "grow", date(2023, 6, 1), 100),
    _line("o5", "grow", date(2024, 6, 1), 150),
    _line("o6", "shrink", date(2023, 6, 1), 200),
    _line("o7", "shrink", date(2024, 6, 1), 80),
    _line("o8", "flat", date(2023, 6, 1), 60),
    _line("o9", "flat", date(2024, 6, 1), 60),
    _line("o10", "back", date(2022, 5, 1), 500),
    _line("o11", "back", date(2024, 12, 1), 40),
    _line("o12", "lost", date(2023, 6, 1), 90),
    _line("o13", "lost", date(2024, 4, 1), -10, status="returned"),  # negative in the file: still -10
    _line("o14", "asleep", date(2021, 1, 1), 70),
    _line("o15", "returns_only", date(2024, 8, 1), 25, status="returned"),
    _line("o16", "asleep_return", date(2020, 6, 1), 80),
    _line("o17", "asleep_return", date(2024, 9, 1), 15, status="returned"),
    _line("o18", "cancelled_only", date(2024, 9, 1), 999, status="cancelled"),
    _line("o19", "edge_both", date(2024, 2, 29), 10),
    _line("o20", "edge_both", date(2024, 3, 1), 20),
    _line("o21", "on_d", D, 999),
    _line("o22", "p_start", P_START, 33),
    _line("o23", "before_p", date(2023, 3, 1), 44),
    _line("o24", "before_p", date(2025, 1, 1), 55),
    _line("o25", "later", date(2024, 6, 1), 1),
]


def _row(account_id, stage, first, since, in_c, in_p, revenue_c, revenue_p, bucket):
    return {
        "as_of_date": D,
        "account_id": account_id,
        "segment": "enterprise",
        "manager_id": "m1",
        "team_id": "t1",
        "lifecycle_stage": stage,
        "first_order_date": first,
        "days_to_first_order": None if first is None else (first - since).days,
        "ordered_in_c": in_c,
        "ordered_in_p": in_p,
        "revenue_c": Decimal(revenue_c),
        "revenue_p": Decimal(revenue_p),
        "revenue_change": Decimal(revenue_c) - Decimal(revenue_p),
        "bridge_bucket": bucket,
        "acquired_on": None,
        "acquisition_cost": None,
        "payback": None,
    }


OLD = date(2020, 1, 1)
EXPECTED = [
    _row("new_a", "new", date(2024, 6, 1), date(2024, 5, 1), True, False, 70, 0, "new"),
    _row("new_eve", "new", date(2025, 2, 28), date(2025, 2, 1), True, False, 50, 0, "new"),
    _row("grow", "retained", date(2023, 6, 1), OLD, True, True, 150, 100, "expansion"),
    _row("shrink", "retained", date(2023, 6, 1), OLD, True, True, 80, 200, "contraction"),
    _row("flat", "retained", date(2023, 6, 1), OLD, True, True, 60, 60, "expansion"),  # change 0 -> expansion
    _row("back", "reactivated", date(2022, 5, 1), OLD, True, False, 40, 0, "reactivated"),
    _row("lost", "churned", date(2023, 6, 1), OLD, False, True, -10, 90, "churned"),
    _row("asleep", "dormant", date(2021, 1, 1), OLD, False, False, 0, 0, "other"),
    _row("returns_only", "prospect", None, date(2024, 1, 1), False, False, -25, 0, "other"),
    _row("asleep_return", "dormant", date(2020, 6, 1), OLD, False, False, -15, 0, "other"),
    _row("never", "prospect", None, date(2024, 1, 1), False, False, 0, 0, "other"),
    _row("cancelled_only", "prospect", None, date(2024, 1, 1), False, False, 0, 0, "other"),
    _row("edge_both", "retained", date(2024, 2, 29), OLD, True, True, 20, 10, "expansion"),
    _row("on_d", "prospect", None, date(2024, 1, 1), False, False, 0, 0, "other"),
    _row("p_start", "churned", P_START, OLD, False, True, 0, 33, "churned"),
    _row("before_p", "reactivated", date(2023, 3, 1), OLD, True, False, 55, 0, "reactivated"),
]


def _db(tmp_path):
    conn = make_db(tmp_path)
    insert_staging(conn, "managers", [{"manager_id": "m1", "manager_name": "M", "team_id": "t1", "team_name": "T"}])
    insert_staging(conn, "accounts", ACCOUNTS)
    insert_staging(conn, "orders", LINES)
    return conn


def test_every_stage_and_bucket_by_hand(tmp_path):
    conn = _db(tmp_path)
    assert_rows(run_mart(conn, "account_lifecycle"), EXPECTED, key=("account_id",))


def test_stages_move_with_the_as_of_date(tmp_path):
    """One backfill over four dates gives each date the stage a single run gives it; 'back' is new, churned,
    dormant, then reactivated after the gap."""
    conn = _db(tmp_path)
    dates = [date(2023, 1, 1), date(2024, 1, 1), date(2024, 6, 1), D]
    together = run_mart(conn, "account_lifecycle", as_of=D, as_of_dates=dates)
    stage = {(r["as_of_date"], r["account_id"]): r["lifecycle_stage"] for r in together}
    # back ordered 2022-05-01 and 2024-12-01. 2023-01-01: C = [2022-01-01, 2023-01-01) holds it -> new;
    # 2024-01-01: P = [2022-01-01, 2023-01-01) holds it, C nothing -> churned; 2024-06-01: P = [2022-06-03,
    # 2023-06-02), the order is before P -> dormant; D: before P and in C -> reactivated.
    assert [stage[(d, "back")] for d in dates] == ["new", "churned", "dormant", "reactivated"]
    # lost ordered 2023-06-01 only (its return is no completed line): not yet, new, then in P twice.
    assert [stage[(d, "lost")] for d in dates] == ["prospect", "new", "churned", "churned"]
    # new_eve starts 2025-02-01: in no earlier snapshot.
    assert not [d for (d, a) in stage if a == "new_eve" and d < D]
    for as_of in dates:
        alone = run_mart(conn, "account_lifecycle", as_of=as_of)
        assert {r["account_id"]: r for r in alone} == {r["account_id"]: r for r in together if r["as_of_date"] == as_of}


def test_acquisition_cost_and_payback(tmp_path):
    conn = _db(tmp_path)
    insert_staging(
        conn,
        "orders",
        [
            _line("a1", "new_a", date(2024, 4, 20), 1000, cost=600),  # before acquired_on: not counted
            _line("a2", "new_a", date(2024, 8, 1), 400, cost=100, line_no=1),  # margin 300
            _line("a2", "new_a", date(2024, 8, 1), 50, cost=20, status="returned", line_no=2),  # margin -30
            _line("a3", "new_a", date(2024, 9, 1), 77),  # no cost data: left out of the margin
        ],
    )
    insert_staging(
        conn,
        "acquisition",
        [
            {"account_id": "new_a", "acquired_on": date(2024, 5, 1), "acquisition_cost": 540},
            {"account_id": "new_eve", "acquired_on": date(2025, 2, 1), "acquisition_cost": 0},  # cost 0 -> NULL
            {"account_id": "grow", "acquired_on": date(2023, 1, 1), "acquisition_cost": 100},  # lines, no cost data
            {"account_id": "never", "acquired_on": date(2024, 1, 1), "acquisition_cost": 200},  # no lines: 0
            {"account_id": "flat", "acquired_on": D, "acquisition_cost": 10},  # acquired on D: not yet
        ],
    )
    rows = {r["account_id"]: r for r in run_mart(conn, "account_lifecycle")}
    assert rows["new_a"]["acquisition_cost"] == Decimal(540)
    assert rows["new_a"]["payback"] == pytest.approx((300 - 30) / 540)
    assert rows["new_eve"]["acquired_on"] == date(2025, 2, 1) and rows["new_eve"]["payback"] is None
    assert rows["grow"]["payback"] is None
    assert rows["never"]["payback"] == 0
    assert rows["flat"]["acquired_on"] is None and rows["flat"]["acquisition_cost"] is None


def test_indicators_carry_the_lifecycle(tmp_path):
    """account_indicators reads the lifecycle mart: same stage and dates, revenue equal to the cent, and the
    new accounts' pace per 30 days since the first order (at least 30 days)."""
    conn = _db(tmp_path)
    materialize_mart(conn, "account_lifecycle")
    indicators = {r["account_id"]: r for r in run_mart(conn, "account_indicators")}
    for exp in EXPECTED:
        row = indicators[exp["account_id"]]
        assert row["lifecycle_stage"] == exp["lifecycle_stage"]
        assert row["first_order_date"] == exp["first_order_date"]
        assert row["days_to_first_order"] == exp["days_to_first_order"]
        assert row["revenue"] == exp["revenue_c"] and row["revenue_prev"] == exp["revenue_p"]
    # new_a: 1 order since 2024-06-01, 273 days before D; revenue 70 over those days.
    assert indicators["new_a"]["order_frequency_since_first"] == pytest.approx(1 / (273 / 30))
    assert indicators["new_a"]["monthly_revenue_since_first"] == pytest.approx(70 / (273 / 30))
    # new_eve: 1 order the day before D counts over 30 days, not 1.
    assert indicators["new_eve"]["order_frequency_since_first"] == 1.0
    # grow: first order before C -> from the start of C, i.e. order_frequency.
    assert indicators["grow"]["order_frequency_since_first"] == pytest.approx(indicators["grow"]["order_frequency"])
