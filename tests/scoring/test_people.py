"""kam_pipeline/scoring/people.py on a hand-made marts.book_indicators snapshot and a small manager scorecard.

The scorecard (written below into a copy of the default model) has two groups with fixed weights and
bounded normalisations, so every score is worked out by hand:
  financial (0.75): nrr on [0, 2] (0.5), revenue_growth on [-1, 1] (0.5); customer (0.25): csat on [0, 100].
A missing indicator is reweighted away (the default policy); completeness is the share of the
weight 0.75 * 0.5, 0.75 * 0.5, 0.25 that has a value. Grades: A >= 80, B >= 65, C >= 50, D >= 0, and
insufficient_data below completeness 0.6 or without a score.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from kam_pipeline.scoring.model import default_model_path, load_model
from kam_pipeline.scoring.people import score_people
from sql_fixtures import DEFAULT_PARAMS, create_mart_like, insert_rows, make_db

D = dt.date(2025, 3, 1)


def _indicator(lo, hi):
    return {"normalization": "bounded", "bounds": [lo, hi], "label": {"en": "x", "zh": "x"}}


@pytest.fixture
def model(tmp_path):
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    document["managers"] = {
        "groups": {
            "financial": {
                "label": {"en": "Financial", "zh": "财务"},
                "indicators": {"nrr": _indicator(0, 2), "revenue_growth": _indicator(-1, 1)},
            },
            "customer": {"label": {"en": "Customer", "zh": "客户"}, "indicators": {"csat": _indicator(0, 100)}},
        },
        "group_weights": {"method": "fixed", "weights": {"financial": 0.75, "customer": 0.25}},
        "indicator_weights": {
            "financial": {"method": "fixed", "weights": {"nrr": 0.5, "revenue_growth": 0.5}},
            "customer": {"method": "fixed", "weights": {"csat": 1}},
        },
    }
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_model(path)


def _book(level, entity_id, team_id, revenue, nrr, growth, csat):
    manager = level == "manager"
    return {
        "as_of_date": D,
        "level": level,
        "entity_id": entity_id,
        "manager_id": entity_id if manager else None,
        "manager_name": f"Manager {entity_id}" if manager else None,
        "team_id": team_id,
        "team_name": f"Team {team_id}",
        "manager_count": 1,
        "account_count": 1,
        "revenue": revenue,
        "revenue_prev": 0,
        "nrr": nrr,
        "revenue_growth": growth,
        "csat": csat,
        "feedback_count": 0,
    }


@pytest.fixture
def db(tmp_path):
    conn = make_db(tmp_path)
    create_mart_like(conn, "account_indicators")
    conn.execute(
        "create table marts.account_scores (as_of_date date, account_id varchar, profile varchar, score double, "
        "completeness double, is_key_account boolean)"
    )
    create_mart_like(conn, "book_indicators", {**DEFAULT_PARAMS, "role_names": ["peer"], "role_weights": [1.0]})
    insert_rows(
        conn,
        "marts.book_indicators",
        [
            _book("manager", "m1", "t1", 1000, 1.2, 0.5, 80.0),
            _book("manager", "m2", "t1", 3000, 0.8, -0.5, None),  # no csat
            _book("manager", "m3", "t2", 0, None, None, None),  # no evidence at all
            _book("manager", "m4", "t3", 0, 1.0, 0.0, 50.0),
            _book("manager", "m5", "t3", 0, 2.5, 1.0, 100.0),  # nrr above its bound: clipped to 1
            _book("team", "t1", "t1", 4000, None, None, None),
            _book("team", "t2", "t2", 0, None, None, None),
            _book("team", "t3", "t3", 0, None, None, None),
        ],
    )
    return conn


def test_manager_scores_ranks_and_grades(db, model):
    result = score_people(db, model, D)
    managers = {r["manager_id"]: r for r in result.managers.iter_rows(named=True)}
    # m1: nrr 1.2 / 2 = 0.6, growth (0.5 + 1) / 2 = 0.75 -> financial 100 * (0.5 * 0.6 + 0.5 * 0.75) = 67.5;
    # csat 0.8 -> customer 80; score 0.75 * 67.5 + 0.25 * 80
    m1 = managers["m1"]
    assert m1["financial_score"] == pytest.approx(67.5)
    assert m1["customer_score"] == pytest.approx(80.0)
    assert m1["score"] == pytest.approx(0.75 * 67.5 + 0.25 * 80)
    assert m1["completeness"] == pytest.approx(1.0)
    # m2: nrr 0.4, growth 0.25 -> financial 32.5; no customer group: the score is the financial one
    m2 = managers["m2"]
    assert m2["financial_score"] == pytest.approx(100 * (0.5 * 0.4 + 0.5 * 0.25))
    assert m2["customer_score"] is None
    assert m2["score"] == pytest.approx(32.5)
    assert m2["completeness"] == pytest.approx(0.75 * 0.5 + 0.75 * 0.5)
    # m3 has no value at all: no score
    assert managers["m3"]["score"] is None and managers["m3"]["completeness"] == 0
    assert managers["m4"]["score"] == pytest.approx(0.75 * 50 + 0.25 * 50)
    assert managers["m5"]["score"] == pytest.approx(100.0)
    assert {m: r["rank"] for m, r in managers.items()} == {"m5": 1, "m1": 2, "m4": 3, "m2": 4, "m3": None}
    assert {m: r["grade"] for m, r in managers.items()} == {
        "m5": "A",
        "m1": "B",  # 70.625
        "m4": "C",  # 50
        "m2": "D",  # 32.5, completeness 0.75
        "m3": "insufficient_data",
    }
    # The frame is written as the snapshot of D: ranked order, names kept, no manager_count column.
    assert list(result.managers.get_column("manager_id")) == ["m5", "m1", "m4", "m2", "m3"]
    assert "manager_count" not in result.managers.columns
    stored = db.execute("select manager_id, score from marts.manager_scores where as_of_date = ?", [D]).fetchall()
    assert {m: s for m, s in stored} == {m: r["score"] for m, r in managers.items()}
    assert result.counts["manager_scores"] == 5


def test_team_scores_are_revenue_weighted_means_of_their_managers(db, model):
    result = score_people(db, model, D)
    teams = {r["team_id"]: r for r in result.teams.iter_rows(named=True)}
    m1, m2 = 0.75 * 67.5 + 0.25 * 80, 32.5
    t1 = teams["t1"]
    assert t1["score"] == pytest.approx((m1 * 1000 + m2 * 3000) / 4000)
    assert t1["completeness"] == pytest.approx((1.0 * 1000 + 0.75 * 3000) / 4000)
    assert t1["financial_score"] == pytest.approx((67.5 * 1000 + 32.5 * 3000) / 4000)
    assert t1["customer_score"] == pytest.approx(80.0)  # only m1 has one
    assert t1["managers_scored"] == 2
    assert t1["grade"] == "D"  # 42.03
    # t3: its managers have no revenue -> the plain mean of 50 and 100
    assert teams["t3"]["score"] == pytest.approx(75.0)
    assert teams["t3"]["grade"] == "B"
    # t2: its one manager has no score
    assert teams["t2"]["score"] is None and teams["t2"]["managers_scored"] == 0
    assert teams["t2"]["completeness"] == 0.0 and teams["t2"]["grade"] == "insufficient_data"
    assert {t: r["rank"] for t, r in teams.items()} == {"t3": 1, "t1": 2, "t2": None}
    stored = db.execute("select team_id, score from marts.team_scores where as_of_date = ?", [D]).fetchall()
    assert {t: s for t, s in stored} == {t: r["score"] for t, r in teams.items()}
