"""The great-expectations rules of marts.score_changes and marts.account_obstacles, on hand-made rows."""

from __future__ import annotations

import datetime as dt

from kam_pipeline.quality.suites import validate_obstacles, validate_score_changes

D = dt.date(2025, 3, 1)


def _changes(conn, rows, score_change=-5.0):
    conn.execute("create schema if not exists marts")
    conn.execute(
        "create or replace table marts.account_scores (as_of_date date, account_id varchar, score_change double)"
    )
    conn.execute("insert into marts.account_scores values (?, 'a1', ?)", [D, score_change])
    conn.execute(
        "create or replace table marts.score_changes (as_of_date date, account_id varchar, indicator varchar, "
        "delta double, value_effect double, weight_effect double)"
    )
    for indicator, delta, value_effect, weight_effect in rows:
        conn.execute(
            "insert into marts.score_changes values (?, 'a1', ?, ?, ?, ?)",
            [D, indicator, delta, value_effect, weight_effect],
        )


def test_score_changes_must_add_up(conn):
    _changes(conn, [("csat", -4.0, -4.5, 0.5), ("nps", -1.0, -1.0, 0.0)])
    assert validate_score_changes(conn, D).success
    # The effects of csat no longer add up to its delta.
    _changes(conn, [("csat", -4.0, -4.5, 0.0), ("nps", -1.0, -1.0, 0.0)])
    outcome = validate_score_changes(conn, [D])
    assert not outcome.success and {f["column"] for f in outcome.failures} == {"effects_error"}
    # The deltas add up to -5, the account's score_change says -6.
    _changes(conn, [("csat", -4.0, -4.5, 0.5), ("nps", -1.0, -1.0, 0.0)], score_change=-6.0)
    outcome = validate_score_changes(conn, D)
    assert {f["column"] for f in outcome.failures} == {"score_change_error"}


def _obstacles(conn, degrees):
    conn.execute("create schema if not exists marts")
    conn.execute(
        "create or replace table marts.account_obstacles (as_of_date date, account_id varchar, indicator varchar, "
        "obstacle_degree double, obstacle_rank integer)"
    )
    for account, indicator, degree, rank in degrees:
        conn.execute(
            "insert into marts.account_obstacles values (?, ?, ?, ?, ?)", [D, account, indicator, degree, rank]
        )


def test_obstacle_degrees_must_sum_to_one_per_account(conn):
    _obstacles(conn, [("a1", "csat", 0.75, 1), ("a1", "nps", 0.25, 2), ("a2", "csat", None, None)])
    assert validate_obstacles(conn, D).success
    _obstacles(conn, [("a1", "csat", 0.75, 1), ("a1", "nps", 0.5, 2)])
    outcome = validate_obstacles(conn, D)
    assert not outcome.success and "degree_sum" in {f["column"] for f in outcome.failures}
    _obstacles(conn, [("a1", "csat", 0.75, 1), ("a1", "nps", 0.25, 3)])
    assert {f["column"] for f in validate_obstacles(conn, D).failures} == {"ranks_dense"}
