"""sql/marts/score_alerts.sql on hand-made snapshots of account_scores, account_indicators and score_changes.

The score_changes rows are derived here from hand-made contributions (every weight 0.25, so a
contribution of p points is n = p / 25), pairing each date with the stored date before it.

Snapshots: 2025-01-01 (older), 2025-02-01 (previous), D = 2025-03-01, 2025-04-01 (later, must be ignored).
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from kam_pipeline.warehouse.database import write_snapshot
from kam_pipeline.warehouse.history import previous_params
from kam_pipeline.warehouse.sql_files import read_sql
from sql_fixtures import assert_rows

D = date(2025, 3, 1)
PREV = date(2025, 2, 1)
OLDER = date(2025, 1, 1)
LATER = date(2025, 4, 1)

PARAMS = {
    "as_of_dates": [D],
    "grade_names": ["A", "B", "C", "D"],
    "alert_score_drop_points": 10.0,
    "alert_grade_drop": True,
    "alert_became_churned": True,
    "alert_key_accounts_only": True,
    "lower_indicators": ["overdue_ratio"],
}


def _db(tmp_path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "alerts.duckdb"))
    conn.execute("create schema marts")
    conn.execute(
        """
        create table marts.account_scores (
            as_of_date date, account_id varchar, account_name varchar, segment varchar, manager_id varchar,
            team_id varchar, score double, grade varchar, is_key_account boolean
        );
        create table marts.account_indicators (
            as_of_date date, account_id varchar, is_churned integer, recency_days bigint
        );
        create table marts.score_contributions (
            as_of_date date, account_id varchar, indicator varchar, value double, contribution double
        );
        create table marts.score_changes (
            as_of_date date, account_id varchar, indicator varchar, previous_value double, value double,
            delta double, value_effect double, weight_effect double
        );
        """
    )
    return conn


def _score(conn, as_of, account_id, score, grade, key, churned=0, recency=10):
    conn.execute(
        "insert into marts.account_scores values (?, ?, ?, 'seg', 'm1', 't1', ?, ?, ?)",
        [as_of, account_id, f"Account {account_id}", score, grade, key],
    )
    conn.execute("insert into marts.account_indicators values (?, ?, ?, ?)", [as_of, account_id, churned, recency])


def _contribution(conn, as_of, account_id, indicator, value, points):
    conn.execute(
        "insert into marts.score_contributions values (?, ?, ?, ?, ?)", [as_of, account_id, indicator, value, points]
    )


@pytest.fixture()
def conn(tmp_path):
    conn = _db(tmp_path)
    # a1: key, 70 -> 55: score drop (15 > 10) and grade drop B -> C; csat drove it.
    _score(conn, OLDER, "a1", 99.0, "A", True)
    _score(conn, PREV, "a1", 70.0, "B", True)
    _score(conn, D, "a1", 55.0, "C", True)
    _score(conn, LATER, "a1", 10.0, "D", True)
    _contribution(conn, PREV, "a1", "csat", 95.0, 20.0)
    _contribution(conn, D, "a1", "csat", 60.0, 8.0)
    _contribution(conn, PREV, "a1", "revenue", 100.0, 10.0)
    _contribution(conn, D, "a1", "revenue", 120.0, 12.0)
    _contribution(conn, PREV, "a1", "nps", 50.0, 3.0)  # gone at D: counts as -3
    # a2: key, 70 -> 61: a 9-point fall is no score drop, but B -> C is a grade drop. No contributions.
    _score(conn, PREV, "a2", 70.0, "B", True)
    _score(conn, D, "a2", 61.0, "C", True)
    # a5's largest fall (-6) is an unchanged value losing ground; overdue_ratio rising (-2) is the driver,
    # csat rising while losing a point is not.
    _contribution(conn, PREV, "a5", "active_month_ratio", 1.0, 10.0)
    _contribution(conn, D, "a5", "active_month_ratio", 1.0, 4.0)
    _contribution(conn, PREV, "a5", "overdue_ratio", 0.1, 5.0)
    _contribution(conn, D, "a5", "overdue_ratio", 0.3, 3.0)
    _contribution(conn, PREV, "a5", "csat", 70.0, 5.0)
    _contribution(conn, D, "a5", "csat", 75.0, 4.0)
    # a3: key, newly churned, score steady.
    _score(conn, PREV, "a3", 52.0, "C", True, churned=0, recency=150)
    _score(conn, D, "a3", 51.0, "C", True, churned=1, recency=190)
    # a4: not key now or before: a 30-point drop alerts only without key_accounts_only.
    _score(conn, PREV, "a4", 80.0, "A", False)
    _score(conn, D, "a4", 50.0, "C", False)
    # a5: key before, not key any more: still alerts.
    _score(conn, PREV, "a5", 60.0, "C", True)
    _score(conn, D, "a5", 40.0, "D", False)
    # a6: new at D: nothing to compare with.
    _score(conn, D, "a6", 5.0, "D", True, churned=1)
    # a7: B -> insufficient_data is not a grade drop; exactly 10 points is not "more than 10".
    _score(conn, PREV, "a7", 70.0, "B", True)
    _score(conn, D, "a7", 60.0, "insufficient_data", True)
    # a8: improving, churned before and still churned.
    _score(conn, PREV, "a8", 40.0, "D", True, churned=1)
    _score(conn, D, "a8", 66.0, "B", True, churned=1)
    yield conn
    conn.close()


def _alert(
    account_id,
    rule,
    previous_score,
    score,
    previous_grade,
    grade,
    key,
    reason,
    driver=(None, None, None, None),
    breakdown=None,
):
    indicator, change, before, after = driver
    return {
        "as_of_date": D,
        "account_id": account_id,
        "account_name": f"Account {account_id}",
        "segment": "seg",
        "manager_id": "m1",
        "team_id": "t1",
        "is_key_account": key,
        "rule": rule,
        "previous_as_of_date": PREV,
        "previous_score": previous_score,
        "score": score,
        "score_change": score - previous_score,
        "previous_grade": previous_grade,
        "grade": grade,
        "driver_indicator": indicator,
        "driver_change": change,
        "driver_previous_value": before,
        "driver_value": after,
        "reason": reason,
        "change_breakdown": breakdown,
    }


def _changes(conn) -> None:
    """Fill marts.score_changes from the hand-made contributions: each date against the stored date before it."""
    conn.execute("delete from marts.score_changes")
    stored = sorted(r[0] for r in conn.execute("select distinct as_of_date from marts.account_scores").fetchall())
    rows = conn.execute("select as_of_date, account_id, indicator, value, contribution from marts.score_contributions")
    points = {(d, a, i): (v, c) for d, a, i, v, c in rows.fetchall()}
    for before, day in zip(stored, stored[1:], strict=False):
        for account, indicator in sorted({(a, i) for d, a, i in points if d in (before, day)}):
            prev_value, prev_points = points.get((before, account, indicator), (None, 0.0))
            value, now_points = points.get((day, account, indicator), (None, 0.0))
            w_prev = 0.25 if (before, account, indicator) in points else 0.0
            w_now = 0.25 if (day, account, indicator) in points else 0.0
            n_prev, n_now = prev_points / 25, now_points / 25
            conn.execute(
                "insert into marts.score_changes values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    day,
                    account,
                    indicator,
                    prev_value,
                    value,
                    now_points - prev_points,
                    100 * w_prev * (n_now - n_prev),
                    100 * (w_now - w_prev) * n_now,
                ],
            )


def _alerts(conn, **overrides):
    params = {**PARAMS, **overrides}
    _changes(conn)
    params |= previous_params(conn, params["as_of_dates"])
    write_snapshot(conn, "score_alerts", read_sql("marts/score_alerts"), params, params["as_of_dates"])
    result = conn.execute(
        "select * from marts.score_alerts where list_contains(?::date[], as_of_date) order by all",
        [params["as_of_dates"]],
    )
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


CSAT = ("csat", -12.0, 95.0, 60.0)
OVERDUE = ("overdue_ratio", -2.0, 0.1, 0.3)
# a1: csat 20 -> 8, nps 3 -> gone, revenue 10 -> 12 points; weights unchanged (0.25) except nps's, which left
# with n = 0 at D, so no re-weighting points: value effects are the deltas.
A1_BREAKDOWN = "score -13.0: csat -12.0, nps -3.0, revenue +2.0, reweighting +0.0"
A5_BREAKDOWN = "score -9.0: active_month_ratio -6.0, overdue_ratio -2.0, csat -1.0, reweighting +0.0"


def test_key_account_rules_against_the_previous_snapshot(conn):
    expected = [
        _alert(
            "a1",
            "score_drop",
            70.0,
            55.0,
            "B",
            "C",
            True,
            "score fell 15.0 points (70.0 -> 55.0); largest fall: csat (-12.0 points)",
            CSAT,
            A1_BREAKDOWN,
        ),
        _alert(
            "a1",
            "grade_drop",
            70.0,
            55.0,
            "B",
            "C",
            True,
            "grade fell from B to C; largest fall: csat (-12.0 points)",
            CSAT,
            A1_BREAKDOWN,
        ),
        _alert("a2", "grade_drop", 70.0, 61.0, "B", "C", True, "grade fell from B to C"),
        _alert("a3", "became_churned", 52.0, 51.0, "C", "C", True, "newly churned: no completed order for 190 days"),
        _alert(
            "a5",
            "score_drop",
            60.0,
            40.0,
            "C",
            "D",
            False,
            "score fell 20.0 points (60.0 -> 40.0); largest fall: overdue_ratio (-2.0 points)",
            OVERDUE,
            A5_BREAKDOWN,
        ),
        _alert(
            "a5",
            "grade_drop",
            60.0,
            40.0,
            "C",
            "D",
            False,
            "grade fell from C to D; largest fall: overdue_ratio (-2.0 points)",
            OVERDUE,
            A5_BREAKDOWN,
        ),
    ]
    assert_rows(_alerts(conn), expected, key=("account_id", "rule"))


def test_every_account_when_not_limited_to_key_accounts(conn):
    rows = _alerts(conn, alert_key_accounts_only=False)
    assert {(r["account_id"], r["rule"]) for r in rows} == {
        ("a1", "score_drop"),
        ("a1", "grade_drop"),
        ("a2", "grade_drop"),
        ("a3", "became_churned"),
        ("a4", "score_drop"),
        ("a4", "grade_drop"),
        ("a5", "score_drop"),
        ("a5", "grade_drop"),
    }


def test_rules_can_be_switched_off_and_the_threshold_moved(conn):
    rows = _alerts(conn, alert_grade_drop=False, alert_became_churned=False, alert_score_drop_points=9.5)
    # a7 fell exactly 10 points: now more than 9.5
    assert sorted((r["account_id"], r["rule"]) for r in rows) == [
        ("a1", "score_drop"),
        ("a5", "score_drop"),
        ("a7", "score_drop"),
    ]


def test_the_first_snapshot_raises_no_alert(conn):
    conn.execute("delete from marts.account_scores where as_of_date < ?", [D])
    assert _alerts(conn) == []


def test_rerunning_a_date_replaces_its_alerts(conn):
    first = _alerts(conn)
    assert _alerts(conn) == first
    assert conn.execute("select count(*) from marts.score_alerts").fetchall() == [(len(first),)]


def test_a_range_of_dates_in_one_query_equals_one_query_per_date(conn):
    # LATER against D: a1 falls again (55 -> 10, C -> D); 2025-03-15 has no stored snapshot, so no alerts,
    # and it does not stand between D and LATER either.
    _contribution(conn, LATER, "a1", "csat", 10.0, 1.0)
    unstored = date(2025, 3, 15)
    per_date = [row for day in (PREV, D, unstored, LATER) for row in _alerts(conn, as_of_dates=[day])]
    assert {(r["as_of_date"], r["previous_as_of_date"]) for r in per_date} == {(PREV, OLDER), (D, PREV), (LATER, D)}
    ranged = _alerts(conn, as_of_dates=[PREV, D, unstored, LATER])
    assert ranged == sorted(per_date, key=lambda r: tuple(map(str, r.values())))
    drivers = {(r["as_of_date"], r["account_id"]): r["driver_indicator"] for r in ranged}
    # At LATER a1's revenue went missing (-12 points) and csat fell (-7): the larger worsening drives.
    assert drivers[(LATER, "a1")] == "revenue" and drivers[(D, "a5")] == "overdue_ratio"


def test_alerts_are_published_and_the_report_follows_the_publish():
    from kam_pipeline.definitions import defs

    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    alerts, report = specs["marts/score_alerts"], specs["evaluation_report"]
    assert alerts.group_name == "marts" and alerts.partitions_def is not None
    assert dg_key("marts/score_alerts") in {d.asset_key for d in specs["published_snapshot"].deps}
    assert {d.asset_key for d in report.deps} == {dg_key("published_snapshot")}
    checks = {(c.asset_key.to_user_string(), c.name): c for a in defs.assets or [] for c in a.check_specs}
    assert not checks[("marts/score_alerts", "no_score_alerts")].blocking


def dg_key(path: str):
    import dagster as dg

    return dg.AssetKey(path.split("/"))
