"""sql/marts/score_backtest.sql on hand-made snapshots: AUC with ties counted 1/2 and quintile churn
rates, worked out by hand below."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from kam_pipeline.warehouse.database import write_snapshot
from kam_pipeline.warehouse.sql_files import read_sql
from sql_fixtures import assert_rows

D1, D2, D3 = date(2025, 1, 1), date(2025, 4, 5), date(2025, 7, 5)  # D2 = D1 + 94 days, D3 = D1 + 185 = D2 + 91


@pytest.fixture()
def conn(tmp_path):
    conn = duckdb.connect(str(tmp_path / "backtest.duckdb"))
    conn.execute("create schema marts")
    conn.execute("create table marts.account_scores (as_of_date date, account_id varchar, score double)")
    conn.execute("create table marts.account_indicators (as_of_date date, account_id varchar, is_churned integer)")

    def account(as_of, account_id, score, churned):
        if score is not False:
            conn.execute("insert into marts.account_scores values (?, ?, ?)", [as_of, account_id, score])
        conn.execute("insert into marts.account_indicators values (?, ?, ?)", [as_of, account_id, churned])

    # D1: a1..a5 scored and active; a6 already churned (left out); a7 gone by D2 (left out); a8 unscored.
    for account_id, score in (("a1", 80.0), ("a2", 60.0), ("a3", 60.0), ("a4", 40.0), ("a5", 20.0)):
        account(D1, account_id, score, 0)
    account(D1, "a6", 10.0, 1)
    account(D1, "a7", 15.0, 0)
    account(D1, "a8", None, 0)
    # D2: a3 and a5 churned. D3: everyone but a1 churned.
    for account_id, churned in (("a1", 0), ("a2", 0), ("a3", 1), ("a4", 0), ("a5", 1), ("a6", 1), ("a8", 0)):
        account(D2, account_id, False, churned)
    for account_id in ("a2", "a3", "a4", "a5", "a6", "a8"):
        account(D3, account_id, False, 1)
    account(D3, "a1", False, 0)
    # z makes D2 and D3 stored snapshots; it never churns.
    for as_of in (D2, D3):
        account(as_of, "z", 50.0, 0)
    yield conn
    conn.close()


def _backtest(conn, as_of=D3, horizons=(90, 180)):
    stored = [r[0] for r in conn.execute("select distinct as_of_date from marts.account_scores order by 1").fetchall()]
    params = {"as_of": as_of, "horizons": list(horizons), "backtest_dates": stored}
    write_snapshot(conn, "score_backtest", read_sql("marts/score_backtest"), params, stored)
    result = conn.execute("select * from marts.score_backtest order by as_of_date, horizon_days")
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def _row(as_of, horizon, followed, accounts, churned, auc, bottom, top):
    return {
        "as_of_date": as_of,
        "horizon_days": horizon,
        "followed_as_of_date": followed,
        "accounts": accounts,
        "churned_accounts": churned,
        "churn_rate": churned / accounts,
        "auc": auc,
        "bottom_quintile_churn_rate": bottom,
        "top_quintile_churn_rate": top,
    }


def test_auc_counts_ties_half_and_quintiles_split_by_score(conn):
    # D1 + 90: retained a1 (80), a2 (60), a4 (40); churned a3 (60), a5 (20).
    # Pairs retained > churned: 80>60, 80>20, 60=60 (1/2), 60>20, 40<60, 40>20 -> 4.5 of 6 = 0.75.
    # Quintiles by score then id: a5 | a4 | a2 | a3 | a1: the bottom fifth (a5) churned, the top (a1) did not.
    # D1 + 180 (D3): only a1 retained, above all four churned: AUC 1. z alone at D2 + 90: no churn, no AUC.
    expected = [
        _row(D1, 90, D2, 5, 2, 0.75, 1.0, 0.0),
        _row(D1, 180, D3, 5, 4, 1.0, 1.0, 0.0),
        _row(D2, 90, D3, 1, 0, None, 0.0, None),
    ]
    assert_rows(_backtest(conn), expected, key=("as_of_date", "horizon_days"))


def test_a_horizon_not_yet_reached_gives_no_row(conn):
    # Up to D2 only D1 + 90 is complete; 180 days after D1 nothing is stored yet.
    rows = _backtest(conn, as_of=D2)
    assert [(r["as_of_date"], r["horizon_days"]) for r in rows] == [(D1, 90)]


def test_a_score_that_ranks_churners_higher_has_auc_below_half(conn):
    conn.execute("update marts.account_scores set score = 100 - score where as_of_date = ?", [D1])
    rows = {(r["as_of_date"], r["horizon_days"]): r for r in _backtest(conn)}
    # Mirroring every score reverses every strict comparison and keeps the tie: 1 - 0.75 and 1 - 1.
    assert rows[(D1, 90)]["auc"] == pytest.approx(0.25)
    assert rows[(D1, 180)]["auc"] == pytest.approx(0.0)
