"""Conclusions and suggestions on a hand-made snapshot: which accounts, which cause, which action, in both languages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from kam_pipeline.report.data import ReportData
from kam_pipeline.report.findings import analyse, contribution_drivers
from kam_pipeline.report.narrative import Labels, drop_sentence, risk_sentence, target_sentence
from kam_pipeline.scoring.model import load_model

D, PREV = dt.date(2025, 3, 1), dt.date(2025, 2, 1)
MODEL = load_model()
GROUPS = MODEL.groups


def _score(account_id, score, change, grade, key, profile="default"):
    return {
        "account_id": account_id,
        "account_name": f"Name {account_id}",
        "segment": "s",
        "profile": profile,
        "score": score,
        "previous_score": None if change is None else score - change,
        "score_change": change,
        "grade": grade,
        "is_key_account": key,
        "rank": 0,
        "completeness": 1.0,
        "revenue": 100.0,
        **{f"{g}_score": 50.0 for g in GROUPS},
        "customer_score": 20.0,
    }


def _indicators(account_id, churned=0, recency=5, **values):
    return {
        "account_id": account_id,
        "is_churned": churned,
        "recency_days": recency,
        "last_order_date": D - dt.timedelta(days=recency),
        "revenue_growth": 0.25,
        "csat": 95.0,
        "active_month_ratio": 0.9,
        "share_of_wallet": 0.4,
        **values,
    }


def _contribution(account_id, indicator, value, points):
    return {"account_id": account_id, "indicator": indicator, "value": value, "contribution": points}


@pytest.fixture()
def data() -> ReportData:
    scores = pl.DataFrame(
        [
            _score("k1", 50.0, -20.0, "C", True),  # satisfaction fell
            _score("k2", 60.0, -8.0, "C", True),  # late payments rose
            _score("k3", 30.0, -2.0, "D", True),  # churned
            _score("k4", 70.0, 1.0, "B", True),  # misses two targets
            _score("n5", 40.0, -15.0, "D", False),  # not key: a drop, nothing else
            _score("k6", 66.0, -3.0, "B", True),  # lost ground without a worse value
        ]
    )
    indicators = pl.DataFrame(
        [
            _indicators("k1", csat=60.0),
            _indicators("k2"),
            _indicators("k3", churned=1, recency=200),
            _indicators("k4", csat=70.0, revenue_growth=0.02),
            _indicators("n5"),
            _indicators("k6"),
        ]
    )
    previous = pl.DataFrame(
        [
            _contribution("k1", "csat", 90.0, 15.0),
            _contribution("k1", "revenue", 10.0, 10.0),
            _contribution("k2", "overdue_ratio", 0.05, 12.0),
            _contribution("k2", "csat", 90.0, 5.0),
            _contribution("n5", "revenue_growth", 0.3, 20.0),
            _contribution("k6", "active_month_ratio", 1.0, 9.0),
            _contribution("k6", "nps", 20.0, 5.0),
        ]
    )
    current = pl.DataFrame(
        [
            _contribution("k1", "csat", 60.0, 2.0),
            _contribution("k1", "revenue", 11.0, 11.0),
            _contribution("k2", "overdue_ratio", 0.4, 4.0),
            _contribution("k2", "csat", 95.0, 5.5),
            _contribution("n5", "revenue_growth", -0.1, 5.0),
            # same value, fewer points (its weight fell): only relative ground lost ...
            _contribution("k6", "active_month_ratio", 1.0, 6.0),
            # ... while nps improved but lost 1 point: neither got worse in value
            _contribution("k6", "nps", 25.0, 4.0),
        ]
    )
    empty = pl.DataFrame()
    return ReportData(
        db_path=Path("hand.duckdb"),
        as_of=D,
        previous_as_of=PREV,
        snapshots=[PREV, D],
        scores=scores,
        indicators=indicators,
        contributions=current,
        previous_contributions=previous,
        history=empty,
        weights=empty,
        consistency=empty,
        managers=empty,
        teams=empty,
        portfolio=empty,
        kpis=None,
        alerts=pl.DataFrame({"account_id": ["k1"], "rule": ["score_drop"]}),
        quarantine_by_source=empty,
        quarantine_by_rule=empty,
        failed_files=empty,
        missing_indicators=empty,
    )


def test_score_drops_name_the_indicator_that_fell_and_the_action(data):
    findings = analyse(data, MODEL)
    drops = {d.account_id: d for d in findings.drops}
    assert list(drops) == ["k1", "n5", "k2", "k6", "k3"]  # largest fall first, at most five
    assert (drops["k1"].driver, drops["k1"].driver_points, drops["k1"].action) == ("csat", -13.0, "service_review")
    assert (drops["k2"].driver, drops["k2"].action) == ("overdue_ratio", "credit_review")
    assert (drops["n5"].driver, drops["n5"].action) == ("revenue_growth", "account_plan")
    assert drops["k6"].driver == "active_month_ratio" and not drops["k6"].driver_worsened
    assert drops["k3"].driver is None


def test_drop_sentences_in_both_languages(data):
    drops = {d.account_id: d for d in analyse(data, MODEL).drops}
    en, zh = Labels("en", MODEL), Labels("zh", MODEL)
    assert drop_sentence(drops["k1"], en) == (
        "k1 Name k1 fell 20.0 points to 50.0 (C); the largest fall was Satisfaction (CSAT): 90.0 → 60.0 (-13.0 points)."
    )
    assert drop_sentence(drops["k1"], zh) == (
        "k1 Name k1 下降 20.0 分至 50.0（C）；降幅最大的指标是客户满意度：90.0 → 60.0（-13.0 分）。"
    )
    assert "Overdue invoice share: 5.0 % → 40.0 %" in drop_sentence(drops["k2"], en)
    assert "逾期账款比例：5.0 % → 40.0 %" in drop_sentence(drops["k2"], zh)
    assert "ranks lower among comparable accounts" in drop_sentence(drops["k6"], en)
    assert "相对位置下降" in drop_sentence(drops["k6"], zh)
    assert drop_sentence(drops["k3"], en) == "k3 Name k3 fell 2.0 points to 30.0 (D)."


def test_key_accounts_below_target_and_why(data):
    findings = analyse(data, MODEL)
    assert findings.key_accounts == 5
    below = {b.account_id: b for b in findings.below_target}
    assert set(below) == {"k1", "k4"}
    k4 = below["k4"]
    # revenue growth 2 % of a 20 % target is the larger shortfall (90 %) than csat 70 of 90 (22 %)
    assert [(m.indicator, m.value, m.target) for m in k4.misses] == [
        ("revenue_growth", 0.02, 0.2),
        ("csat", 70.0, 90.0),
    ]
    assert (k4.evaluated, k4.weakest_group, k4.weakest_score, k4.action) == (4, "customer", 20.0, "account_plan")
    assert target_sentence(k4, Labels("en", MODEL)) == (
        "k4 Name k4 (score 70.0, B) misses 2 of 4 targets: Revenue growth 2.0 % (target 20.0 %), "
        "Satisfaction (CSAT) 70.0 (target 90.0). Weakest perspective: Customer (20.0)."
    )
    assert target_sentence(k4, Labels("zh", MODEL)) == (
        "k4 Name k4（得分 70.0，B）4 项目标中 2 项未达标：收入增长率 2.0 %（目标 20.0 %）、"
        "客户满意度 70.0（目标 90.0）。最弱维度：客户（20.0）。"
    )
    assert below["k1"].action == "service_review"


def test_churned_and_at_risk_key_accounts(data):
    risks = {r.account_id: r for r in analyse(data, MODEL).risks}
    assert list(risks) == ["k3", "k1"]  # churned first; n5 is not a key account
    assert risks["k3"].churned and risks["k3"].action == "win_back"
    assert risk_sentence(risks["k3"], Labels("en", MODEL)) == (
        "k3 Name k3 has churned: no completed order for 200 days (last order 2024-08-13)."
    )
    assert (
        risk_sentence(risks["k3"], Labels("zh", MODEL))
        == "k3 Name k3 已流失：已 200 天没有完成的订单（最近订单 2024-08-13）。"
    )
    assert risks["k1"].reasons == [("alert", "score_drop")]
    assert risk_sentence(risks["k1"], Labels("zh", MODEL)) == "k1 Name k1 存在风险：得分下降预警。"


def test_one_action_per_cause_lists_its_accounts(data):
    actions = analyse(data, MODEL).actions
    assert [a for a, *_ in actions["service_review"]] == ["k1"]
    assert [a for a, *_ in actions["credit_review"]] == ["k2"]
    assert [a for a, *_ in actions["win_back"]] == ["k3"]
    assert {a for a, *_ in actions["account_plan"]} == {"n5", "k4"}


def test_drivers_count_a_vanished_indicator_as_zero_points():
    before = pl.DataFrame([_contribution("a", "csat", 80.0, 5.0), _contribution("a", "nps", 10.0, 2.0)])
    after = pl.DataFrame([_contribution("a", "nps", 12.0, 2.5)])
    rows = contribution_drivers(after, before, {"csat": "higher", "nps": "higher"}).rows(named=True)
    assert rows == [
        {"account_id": "a", "indicator": "csat", "before": 80.0, "after": None, "points": -5.0, "worsened": True}
    ]
