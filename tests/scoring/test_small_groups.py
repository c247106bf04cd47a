"""Scores that mean something for small groups (issue 14, item 4), on a hand-made folder run by Dagster.

Eight accounts, three managers: a one-account multinational profile, a weak manager who is the best of
a weak group, an open complaint far past its SLA, and an account that stopped buying 453 days ago.
"""

from __future__ import annotations

import csv
import datetime as dt
from html import unescape
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import run_pipeline
from kam_pipeline.report import build_report
from kam_pipeline.scoring.engine import CHURN_WORST
from kam_pipeline.scoring.model import default_model_path, load_model

pytestmark = pytest.mark.integration

D = dt.date(2026, 7, 1)  # C = [2025-07-01, 2026-07-01), P = [2024-07-01, 2025-07-01)
C_MONTHS = [dt.date(2025, 7 + k, 15) if k < 6 else dt.date(2026, k - 5, 15) for k in range(12)]
P_MONTHS = [d.replace(year=d.year - 1) for d in C_MONTHS]
CHURNED_LAST_ORDER = D - dt.timedelta(days=453)  # 2025-04-04, in P

# account: (segment, manager, revenue per order in P, in C, active months of P, of C,
#           survey (overall, recommend) pairs, wallet per year as a multiple of the C revenue)
ACCOUNTS = {
    "A1": ("multinational", "M1", 100_000, 104_700, 12, 12, [(4, 9), (4, 8)], 5),
    "A2": ("domestic", "M1", 10_000, 10_470, 6, 6, [(4, 9), (4, 8)], 5),
    "A3": ("domestic", "M2", 20_000, 18_000, 12, 8, [(3, 7), (3, 6)], 10),
    "A4": ("domestic", "M2", 15_000, 13_500, 12, 8, [(3, 7), (3, 6)], 10),
    "A5": ("domestic", "M2", 12_000, 10_800, 12, 8, [(3, 7), (3, 6)], 10),
    "A6": ("domestic", "M3", 18_000, 14_400, 12, 6, [(2, 5), (3, 6)], 20),
    "A7": ("domestic", "M3", 14_000, 11_200, 12, 6, [(2, 5), (3, 6)], 20),
}
MANAGERS = {"M1": ("T1", 4), "M2": ("T1", 3.5), "M3": ("T2", 3)}  # team, 360 score of every review
OPEN_COMPLAINT_OPENED = dt.datetime.combine(D - dt.timedelta(days=161), dt.time())


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _orders(account: str, months: list[dt.date], amount: float, start: int) -> list[list]:
    return [
        [
            f"{account}-{start + k}",
            1,
            account,
            m.isoformat(),
            "cat_a" if k % 2 else "cat_b",
            1,
            amount,
            round(amount * 0.7, 2),
            "completed",
        ]
        for k, m in enumerate(months)
    ]


def build_folder(root: Path) -> Path:
    """Write the hand-made data folder and return it."""
    root.mkdir(parents=True, exist_ok=True)
    accounts = [
        [a, f"Account {a}", seg, "machinery", "east", mgr, "2020-01-01"] for a, (seg, mgr, *_rest) in ACCOUNTS.items()
    ]
    accounts.append(["A8", "Account A8 (churned)", "domestic", "machinery", "east", "M3", "2020-01-01"])
    _write(
        root / "accounts.csv",
        ["account_id", "account_name", "segment", "industry", "region", "manager_id", "since"],
        accounts,
    )
    _write(
        root / "managers.csv",
        ["manager_id", "manager_name", "team_id", "team_name"],
        [[m, f"Manager {m}", team, f"Team {team}"] for m, (team, _) in MANAGERS.items()],
    )
    orders, surveys, wallet = [], [], []
    for a, (_seg, _mgr, p_amount, c_amount, p_months, c_months, answers, wallet_multiple) in ACCOUNTS.items():
        orders += _orders(a, P_MONTHS[:p_months], p_amount, 0)
        orders += _orders(a, C_MONTHS[:c_months], c_amount, 100)
        for k, (overall, recommend) in enumerate(answers):
            surveys.append([f"{a}-s{k}", a, dt.date(2026, 3, 1 + k).isoformat(), overall, 4, 4, 4, 4, recommend])
        for year in (2025, 2026):
            wallet.append([a, year, c_amount * c_months * wallet_multiple])
    # A8 bought every month of P up to 2025-04-04, then never again: churned, no order in C.
    orders += _orders("A8", [*P_MONTHS[:9], CHURNED_LAST_ORDER], 9_000, 0)
    _write(
        root / "orders.csv",
        [
            "order_id",
            "line_no",
            "account_id",
            "order_date",
            "product_category",
            "quantity",
            "net_amount",
            "cost_amount",
            "status",
        ],
        orders,
    )
    _write(
        root / "surveys.csv",
        [
            "response_id",
            "account_id",
            "responded_on",
            "overall",
            "product_quality",
            "service_quality",
            "price_value",
            "responsiveness",
            "recommend",
        ],
        surveys,
    )
    _write(root / "wallet.csv", ["account_id", "year", "wallet_amount"], wallet)
    _write(
        root / "complaints.csv",
        ["complaint_id", "account_id", "opened_at", "resolved_at", "severity", "category"],
        [
            # resolved after 120 h (high: SLA 72 h, a breach)
            ["K1", "A3", "2026-03-01 00:00:00", "2026-03-06 00:00:00", "high", "delivery"],
            # high severity, open for 161 days at D
            ["K2", "A4", OPEN_COMPLAINT_OPENED.isoformat(sep=" "), "", "high", "quality"],
        ],
    )
    feedback = [
        [m, "2026-02-01", role, "overall", score]
        for m, (_, score) in MANAGERS.items()
        for role in ("supervisor", "peer", "self")
    ]
    _write(root / "feedback.csv", ["manager_id", "reviewed_on", "reviewer_role", "competency", "score"], feedback)
    return root


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published DuckDB file of one run at D on the hand-made folder."""
    root = tmp_path_factory.mktemp("small")
    data = build_folder(root / "data")
    path = root / "kam.duckdb"
    result = run_pipeline(data, path, D)
    assert result.success
    return path


@pytest.fixture(scope="module")
def db(db_file: Path):
    conn = duckdb.connect(str(db_file), read_only=True)
    yield conn
    conn.close()


def _rows(db, sql: str, params: list | None = None) -> list[dict]:
    cursor = db.execute(sql, params or [])
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _scores(db) -> dict[str, dict]:
    return {r["account_id"]: r for r in _rows(db, "select * from marts.account_scores where as_of_date = ?", [D])}


def _contributions(db, account: str) -> dict[str, dict]:
    return {
        r["indicator"]: r
        for r in _rows(
            db, "select * from marts.score_contributions where as_of_date = ? and account_id = ?", [D, account]
        )
    }


def test_a_one_account_profile_is_compared_with_the_portfolio(db):
    scores = _scores(db)
    assert len(scores) == 8 and all(r["score"] is not None for r in scores.values())
    # Every profile is smaller than min_peers (10): both are compared with all 8 scored accounts.
    assert {(r["profile"], r["peer_group"], r["peer_count"]) for r in scores.values()} == {
        ("multinational", "portfolio", 8),
        ("default", "portfolio", 8),
    }
    a1 = _contributions(db, "A1")
    normalized = {i: r["normalized"] for i, r in a1.items() if r["value"] is not None}
    # Alone in its profile it used to get 0.5 on every indicator; now it is judged against the portfolio:
    assert len(set(normalized.values())) > 3
    assert normalized["revenue"] == pytest.approx(1.0)  # the biggest account of the portfolio (log min-max)
    assert 0 < _contributions(db, "A3")["revenue"]["normalized"] < 1  # the biggest domestic one is compared with A1
    assert normalized["tenure_years"] == pytest.approx(0.5)  # every account has the same tenure: nobody is better
    # bounded indicators on their fixed scale, whoever is compared: CSAT (4, 4) -> 75 of 100, NPS 50 of -100..100
    assert a1["csat"]["value"] == pytest.approx(75.0) and normalized["csat"] == pytest.approx(0.75)
    assert a1["nps"]["value"] == pytest.approx(50.0) and normalized["nps"] == pytest.approx(0.75)
    assert normalized["active_month_ratio"] == pytest.approx(1.0)  # 12 of 12 months
    # revenue_retention 1.047 on [0, 2]
    assert normalized["revenue_retention"] == pytest.approx(1.047 / 2)


def test_profiles_compared_with_the_portfolio_share_its_objective_weights(db):
    rows = _rows(
        db,
        "select profile, indicator, objective_weight from marts.indicator_weights "
        "where as_of_date = ? and subject = 'account'",
        [D],
    )
    by_profile: dict[str, dict] = {}
    for r in rows:
        by_profile.setdefault(r["profile"], {})[r["indicator"]] = r["objective_weight"]
    # Both are scored against the same 8 accounts, so their entropy weights agree.
    assert by_profile["multinational"] == pytest.approx(by_profile["default"], abs=1e-12)
    assert len(set(by_profile["default"].values())) > 2  # not merely equal weights


def test_a_weak_manager_is_not_perfect_for_being_the_best_of_three(db):
    managers = {r["manager_id"]: r for r in _rows(db, "select * from marts.manager_scores where as_of_date = ?", [D])}
    m1 = managers["M1"]
    # The scenario: M1 misses every KPI target (growth +4.7 % < 20 %, CSAT 75 < 90, share of wallet 0.2 < 0.3,
    # active months 0.75 < 0.8) ...
    assert m1["kpis_met"] == 0 and m1["kpis_evaluated"] == 4
    assert m1["revenue_growth"] == pytest.approx(0.047, abs=1e-9)
    # ... and is still the best of the three on every indicator, so it ranks first,
    assert m1["rank"] == 1
    for other in ("M2", "M3"):
        assert managers[other]["revenue_growth"] < m1["revenue_growth"]
        assert managers[other]["kpi_attainment"] < m1["kpi_attainment"]
        assert managers[other]["feedback_score"] < m1["feedback_score"]
    # but min-max among three peers no longer makes it perfect.
    assert m1["score"] < 80 and m1["grade"] != "A"
    contributions = {
        r["indicator"]: r
        for r in _rows(
            db, "select * from marts.manager_score_contributions where as_of_date = ? and manager_id = 'M1'", [D]
        )
    }
    assert contributions["kpi_attainment"]["normalized"] == pytest.approx(m1["kpi_attainment"])
    assert contributions["feedback_score"]["normalized"] == pytest.approx(0.75)  # 4 of 1-5 -> 75 of 100
    assert contributions["revenue_growth"]["normalized"] == pytest.approx(1.0)  # relative: the best of three
    # Every manager and team row names the group it was compared with and its size.
    assert {(r["peer_group"], r["peer_count"]) for r in managers.values()} == {("portfolio", 3)}
    teams = _rows(db, "select peer_group, peer_count from marts.team_scores where as_of_date = ?", [D])
    assert len(teams) == 2 and {(r["peer_group"], r["peer_count"]) for r in teams} == {("portfolio", 3)}


def test_an_open_complaint_counts_with_its_age_and_is_never_the_best_case(db):
    indicators = {
        r["account_id"]: r
        for r in _rows(
            db,
            "select account_id, complaint_count, open_complaints, avg_resolution_hours, sla_breach_rate "
            "from marts.account_indicators where as_of_date = ?",
            [D],
        )
    }
    assert indicators["A4"]["open_complaints"] == 1
    assert indicators["A4"]["avg_resolution_hours"] == pytest.approx(161 * 24)  # its age at D 00:00
    assert indicators["A4"]["sla_breach_rate"] == pytest.approx(1.0)  # open past the 72 h of 'high'
    assert indicators["A3"]["avg_resolution_hours"] == pytest.approx(120)
    assert indicators["A3"]["sla_breach_rate"] == pytest.approx(1.0)  # 120 h > 72 h
    assert indicators["A5"]["avg_resolution_hours"] is None  # no complaint at all: nothing to resolve
    a4, a3, a5 = (_contributions(db, a)["avg_resolution_hours"] for a in ("A4", "A3", "A5"))
    # The open one is now the worst, below the one resolved in 120 h; 'missing: best' only for no complaint.
    assert a4["normalized"] == pytest.approx(0.0) and a3["normalized"] == pytest.approx(1.0)
    assert a5["normalized"] == pytest.approx(1.0) and a5["imputed"]
    # The manager's book: hours weighted by all complaints, open ones included.
    m2 = _rows(
        db, "select avg_resolution_hours from marts.manager_scores where as_of_date = ? and manager_id = 'M2'", [D]
    )[0]
    assert m2["avg_resolution_hours"] == pytest.approx((120 + 161 * 24) / 2)


def test_a_churned_account_is_graded_low(db):
    model = load_model()
    a8 = _scores(db)["A8"]
    indicators = _rows(db, "select * from marts.account_indicators where as_of_date = ? and account_id = 'A8'", [D])[0]
    assert indicators["is_churned"] == 1 and indicators["recency_days"] == 453
    assert indicators["order_count"] == 0 and indicators["gross_margin"] is None
    # Graded, not insufficient_data: having stopped buying is evidence, and it is the worst of the portfolio.
    assert a8["grade"] != "insufficient_data"
    assert a8["completeness"] >= model.spec.evaluation.min_completeness
    assert a8["grade"] == "D" and a8["rank"] == 8
    contributions = _contributions(db, "A8")
    filled = {i for i, r in contributions.items() if r["value"] is None and r["imputed"] and r["normalized"] == 0}
    # The order-based indicators it has no value for score the worst; survey indicators stay missing evidence.
    assert filled == {"gross_margin", "share_of_wallet", "market_growth_gap"}
    assert filled <= CHURN_WORST
    assert contributions["csat"]["normalized"] is None and contributions["csat"]["weight"] == 0


def test_the_report_says_whom_scores_are_relative_to(db_file, tmp_path):
    texts = {}
    for lang in ("en", "zh"):
        out = tmp_path / f"report_{lang}.html"
        build_report(db_file, out, lang=lang, as_of=D)
        texts[lang] = unescape(out.read_text(encoding="utf-8"))
    assert "Profile “multinational” is too small to be its own peer group (1 scored, fewer than 10)" in texts["en"]
    assert "relative to the portfolio (8 in the group)" in texts["en"]
    assert "all scored managers of the portfolio (3 in the group)" in texts["en"]
    assert "评分方案“multinational”仅有 1 个已评分客户，少于 10 个" in texts["zh"]
    assert "共 3 名" in texts["zh"] and "该群体少于 10 个" in texts["zh"]


def test_min_peers_is_read_from_the_model(tmp_path):
    # min_peers 3: the default profile (7 scored accounts) is its own peer group, the multinational one
    # (1 account) is still compared with the portfolio; the managers (3) are not below it any more.
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    document["evaluation"]["min_peers"] = 3
    model = tmp_path / "model.yaml"
    model.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    path = tmp_path / "kam.duckdb"
    assert run_pipeline(build_folder(tmp_path / "data"), path, D, model=model).success
    with duckdb.connect(str(path), read_only=True) as conn:
        groups = set(
            conn.execute(
                "select profile, peer_group, peer_count from marts.account_scores where as_of_date = ?", [D]
            ).fetchall()
        )
        assert groups == {("default", "default", 7), ("multinational", "portfolio", 8)}
        # The default profile's relative indicators are normalised among its own 7: A3 has their largest
        # revenue (A1, larger still, is not among them).
        revenue = dict(
            conn.execute(
                "select account_id, normalized from marts.score_contributions where as_of_date = ? "
                "and indicator = 'revenue'",
                [D],
            ).fetchall()
        )
        assert revenue["A3"] == pytest.approx(1.0) and revenue["A1"] == pytest.approx(1.0)
    report = build_report(path, tmp_path / "report.html", lang="en", as_of=D, model=model)
    html = unescape(Path(report.path).read_text(encoding="utf-8"))
    assert "Profile “default”: scores are relative to the profile's own scored accounts (7 in the group)." in html
    assert "all scored managers of the portfolio (3 in the group); team scores aggregate them." in html
    assert "The group is smaller than 3" not in html


def test_the_peer_sentence_counts_scored_accounts_and_skips_snapshots_without_peer_groups():
    from types import SimpleNamespace

    import polars as pl

    from kam_pipeline.report.peers import peer_group_sentences

    model = load_model()
    # 11 accounts of a profile compared with the portfolio, 2 of them without a score (no evidence).
    scores = pl.DataFrame(
        {
            "profile": ["small"] * 11,
            "peer_group": ["portfolio"] * 11,
            "peer_count": [40] * 11,
            "score": [50.0] * 9 + [None, None],
        }
    )
    managers = pl.DataFrame(
        {"peer_group": [None, None], "peer_count": [None, None], "score": [1.0, 2.0]},
        schema={"peer_group": pl.String, "peer_count": pl.Int64, "score": pl.Float64},
    )
    sentences = peer_group_sentences(SimpleNamespace(scores=scores, managers=managers), model, "en")
    assert len(sentences) == 1  # managers of an older snapshot (NULL peer columns): no sentence, no error
    assert "(9 scored, fewer than 10)" in sentences[0] and "(40 in the group)" in sentences[0]
    # A snapshot written before peer groups existed: the columns are there (added later) but NULL.
    old = scores.with_columns(
        pl.lit(None, dtype=pl.String).alias("peer_group"), pl.lit(None, dtype=pl.Int64).alias("peer_count")
    )
    assert peer_group_sentences(SimpleNamespace(scores=old, managers=managers), model, "zh") == []
