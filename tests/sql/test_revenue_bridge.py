"""sql/marts/revenue_bridge.sql on hand-made order histories, and on generated data.

D = 2025-03-01, W = 365: C = [2024-03-01, 2025-03-01), P = [2023-03-02, 2024-03-01).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest

from sql_fixtures import assert_rows, insert_staging, make_db, materialize_mart, run_mart

BUCKETS = ("new", "reactivated", "expansion", "contraction", "churned", "other")


def _line(order_id, account, day, net, status="completed"):
    return {
        "order_id": order_id,
        "line_no": 1,
        "account_id": account,
        "order_date": day,
        "product_category": "tools",
        "quantity": 1.0,
        "net_amount": net,
        "status": status,
    }


def _account(account_id, segment, manager_id):
    return {
        "account_id": account_id,
        "account_name": account_id,
        "segment": segment,
        "industry": "retail",
        "region": "north",
        "manager_id": manager_id,
        "since": date(2020, 1, 1),
    }


def _db(tmp_path) -> duckdb.DuckDBPyConnection:
    conn = make_db(tmp_path)
    insert_staging(
        conn,
        "managers",
        [
            {"manager_id": m, "manager_name": m, "team_id": t, "team_name": t}
            for m, t in (("m1", "t1"), ("m2", "t1"), ("m3", "t2"), ("m4", "t2"))  # m4 has no accounts
        ],
    )
    insert_staging(
        conn,
        "accounts",
        [
            _account("e1", "enterprise", "m1"),
            _account("e2", "enterprise", "m1"),
            _account("e3", "enterprise", "m2"),
            _account("s1", "smb", "m2"),
            _account("s2", "smb", "m1"),
            _account("s3", "smb", "m2"),
            _account("s4", "smb", "m3"),
        ],
    )
    insert_staging(
        conn,
        "orders",
        [
            _line("o1", "e1", date(2023, 6, 1), 100),  # retained, 100 -> 150: expansion +50
            _line("o2", "e1", date(2024, 6, 1), 150),
            _line("o3", "e2", date(2023, 6, 1), 200),  # retained, 200 -> 80: contraction -120
            _line("o4", "e2", date(2024, 6, 1), 80),
            _line("o5", "e3", date(2024, 9, 1), 70),  # new: +70
            _line("o6", "s1", date(2023, 9, 1), 90),  # churned, with a return in C: 90 -> -10, -100
            _line("o7", "s1", date(2024, 5, 1), 10, "returned"),
            _line("o8", "s2", date(2022, 1, 10), 300),  # reactivated after a gap: +40
            _line("o9", "s2", date(2025, 2, 1), 40),
            _line("o10", "s3", date(2024, 7, 1), 25, "returned"),  # returns only: other -25
            _line("o11", "s4", date(2021, 1, 1), 60),  # dormant: other 0
        ],
    )
    return conn


def _bridge(level, entity, accounts, prev, revenue, counts=None, **buckets):
    counts = counts or {}
    return {
        "as_of_date": date(2025, 3, 1),
        "level": level,
        "entity_id": entity,
        "account_count": accounts,
        "revenue_prev": Decimal(prev),
        **{b: Decimal(buckets.get(b, 0)) for b in BUCKETS},
        "revenue": Decimal(revenue),
        **{f"{b}_accounts": counts.get(b, 0) for b in BUCKETS},
    }


def test_bridge_by_hand_for_every_level(tmp_path):
    conn = _db(tmp_path)
    materialize_mart(conn, "account_lifecycle")
    everything = {"new": 1, "reactivated": 1, "expansion": 1, "contraction": 1, "churned": 1, "other": 2}
    portfolio = dict(new=70, reactivated=40, expansion=50, contraction=-120, churned=-100, other=-25)
    expected = [
        # 390 + 70 + 40 + 50 - 120 - 100 - 25 = 305 = 150 + 80 + 70 - 10 + 40 - 25
        _bridge("all", "all", 7, 390, 305, everything, **portfolio),
        _bridge(
            "segment",
            "enterprise",
            3,
            300,
            300,
            {"new": 1, "expansion": 1, "contraction": 1},
            new=70,
            expansion=50,
            contraction=-120,
        ),
        _bridge(
            "segment",
            "smb",
            4,
            90,
            5,
            {"reactivated": 1, "churned": 1, "other": 2},
            reactivated=40,
            churned=-100,
            other=-25,
        ),
        _bridge(
            "manager",
            "m1",
            3,
            300,
            270,
            {"reactivated": 1, "expansion": 1, "contraction": 1},
            reactivated=40,
            expansion=50,
            contraction=-120,
        ),
        _bridge("manager", "m2", 3, 90, 35, {"new": 1, "churned": 1, "other": 1}, new=70, churned=-100, other=-25),
        _bridge("manager", "m3", 1, 0, 0, {"other": 1}),
        _bridge("manager", "m4", 0, 0, 0),
        _bridge("team", "t1", 6, 390, 305, {**everything, "other": 1}, **portfolio),
        _bridge("team", "t2", 1, 0, 0, {"other": 1}),
    ]
    assert_rows(run_mart(conn, "revenue_bridge"), expected, key=("level", "entity_id"))


def test_an_empty_snapshot_still_has_its_all_row(tmp_path):
    conn = make_db(tmp_path)
    rows = run_mart(conn, "revenue_bridge")
    assert [(r["level"], r["entity_id"], r["revenue_prev"], r["revenue"]) for r in rows] == [("all", "all", 0, 0)]


@pytest.mark.integration
def test_buckets_add_up_exactly_on_generated_data(pipeline_db):
    """After two pipeline runs on generated data, every level of every date adds up to the cent, and agrees with
    portfolio_kpis (portfolio and segments) and book_indicators (managers and teams)."""
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        residuals = conn.execute(
            "select level, count(*), count(distinct as_of_date), "
            "max(abs(revenue_prev + new + reactivated + expansion + contraction + churned + other - revenue)) "
            "from marts.revenue_bridge group by level order by level"
        ).fetchall()
        assert [(level, dates) for level, _, dates, _ in residuals] == [
            ("all", 2),
            ("manager", 2),
            ("segment", 2),
            ("team", 2),
        ]
        assert all(worst == 0 for *_, worst in residuals)
        # The generated data exercise the buckets of their trajectories; they have no reactivation after a gap
        # (the hand-made histories above cover it).
        moved = conn.execute(
            "select " + ", ".join(f"sum({b}_accounts)" for b in BUCKETS) + " from marts.revenue_bridge "
            "where level = 'all'"
        ).fetchone()
        moved = dict(zip(BUCKETS, moved, strict=True))
        assert all(moved[b] > 0 for b in ("new", "expansion", "contraction", "churned")), moved
        disagree = conn.execute(
            """
            select b.as_of_date, b.level, b.entity_id
            from marts.revenue_bridge as b
            left join marts.portfolio_kpis as p
                on b.level in ('all', 'segment') and p.as_of_date = b.as_of_date and p.segment = b.entity_id
            left join marts.book_indicators as k
                on b.level in ('manager', 'team') and k.as_of_date = b.as_of_date and k.level = b.level
                and k.entity_id = b.entity_id
            where coalesce(p.revenue, k.revenue) is distinct from b.revenue
                or coalesce(p.revenue_prev, k.revenue_prev) is distinct from b.revenue_prev
                or coalesce(p.new_accounts, k.new_accounts) is distinct from b.new_accounts
                or coalesce(p.account_count, k.account_count) is distinct from b.account_count
            """
        ).fetchall()
        assert disagree == []
        # NRR and GRR of portfolio_kpis from the bridge (docs/outputs.md), where every retained and churned
        # account had revenue in P: base = their revenue_prev.
        pairs = conn.execute(
            """
            select p.nrr, p.grr,
                (l.base + b.expansion + b.contraction + b.churned) / l.base,
                (l.base + b.contraction + b.churned) / l.base
            from marts.revenue_bridge as b
            join marts.portfolio_kpis as p on p.as_of_date = b.as_of_date and p.segment = b.entity_id
            join (
                select as_of_date, sum(revenue_p) as base, bool_and(revenue_p > 0) as all_positive
                from marts.account_lifecycle where lifecycle_stage in ('retained', 'churned') group by as_of_date
            ) as l on l.as_of_date = b.as_of_date
            where b.level = 'all' and l.all_positive
            """
        ).fetchall()
        assert len(pairs) == 2
        for nrr, grr, nrr_bridge, grr_bridge in pairs:
            assert nrr == pytest.approx(float(nrr_bridge), rel=1e-12)
            assert grr == pytest.approx(float(grr_bridge), rel=1e-12)
        # Each account has exactly one stage per date, and the bridge's portfolio count is the snapshot's.
        stages = conn.execute(
            "select count(*), count(distinct (as_of_date, account_id)), count(lifecycle_stage) "
            "from marts.account_lifecycle"
        ).fetchone()
        assert stages[0] == stages[1] == stages[2] > 0
