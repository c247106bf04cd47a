"""The report's generated sentences: findings and figures put into English or Chinese."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from kam_pipeline.report.data import ReportData
from kam_pipeline.report.findings import BelowTarget, Drop, Findings, Risk
from kam_pipeline.report.i18n import (
    STRINGS,
    indicator_value,
    join,
    missing,
    money,
    number,
    percent,
    signed,
    t,
)
from kam_pipeline.scoring import indicators as registry
from kam_pipeline.scoring.model import ScoringModel


@dataclass(frozen=True)
class Labels:
    """Names of indicators, groups, grades and rules in one language."""

    lang: str
    model: ScoringModel

    def indicator(self, indicator: str | None) -> str:
        """The model's label of an indicator, else the registry's, else its id."""
        if indicator is None:
            return t(self.lang, "not_available")
        for group in self.model.spec.groups.values():
            spec = group.indicators.get(indicator)
            if spec is not None and self.lang in spec.label:
                return spec.label[self.lang]
        entry = registry.indicator(indicator)
        return entry.label_in(self.lang) if entry else indicator

    def group(self, group: str | None) -> str:
        """The model's label of a group (perspective), else its id."""
        if group is None:
            return t(self.lang, "not_available")
        spec = self.model.spec.groups.get(group)
        return spec.label.get(self.lang, group) if spec else group

    def grade(self, grade: str | None) -> str:
        """A grade band as is; insufficient_data in words."""
        if grade is None:
            return t(self.lang, "not_available")
        key = f"grade_{grade}"
        return t(self.lang, key) if key in STRINGS else grade

    def rule(self, rule: str) -> str:
        """An alert rule in words."""
        key = f"rule_{rule}"
        return t(self.lang, key) if key in STRINGS else rule

    def action(self, action: str) -> str:
        """A suggested action in words."""
        return t(self.lang, f"action_{action}")

    def segment(self, segment: str) -> str:
        """A segment name; the portfolio total row in words."""
        return t(self.lang, "segment_all") if segment == "all" else segment


def account(account_id: str, name: str | None) -> str:
    """`A0012 Name` (the id alone when the name is missing)."""
    return f"{account_id} {name}" if name else account_id


def overview(data: ReportData, findings: Findings, labels: Labels) -> list[str]:
    """The opening conclusions: scores, grades, key-account share, portfolio KPIs."""
    lang = labels.lang
    scored = data.scores.filter(pl.col("score").is_not_null())
    avg = scored.get_column("score").mean() if scored.height else None
    change = ""
    if data.previous_as_of is not None and scored.height:
        prev = scored.get_column("previous_score").mean()
        if not missing(prev):
            change = t(lang, "overview_change", change=signed(avg - prev, 1, lang), previous=data.previous_as_of)
    revenue = data.scores.get_column("revenue").fill_null(0)
    key_revenue = data.scores.filter(pl.col("is_key_account")).get_column("revenue").fill_null(0).sum()
    total_revenue = revenue.filter(revenue > 0).sum()
    grades = grade_counts(data)
    sentences = [
        t(
            lang,
            "overview_sentence",
            n=scored.height,
            as_of=data.as_of,
            avg=number(avg, 1, lang),
            change=change,
            key=findings.key_accounts,
            key_share=percent(key_revenue / total_revenue if total_revenue else None, 0, lang),
            grades=join(lang, [f"{labels.grade(g)} {n}" for g, n in grades]),
        )
    ]
    total = data.portfolio.filter(pl.col("segment") == "all") if "segment" in data.portfolio.columns else data.portfolio
    if total.height:
        row = total.row(0, named=True)
        sentences.append(
            t(
                lang,
                "portfolio_sentence",
                revenue=money(row["revenue"], lang),
                growth=signed_percent(row.get("revenue_growth"), lang),
                retention=percent(row.get("logo_retention"), 1, lang),
                nrr=percent(row.get("nrr"), 1, lang),
                grr=percent(row.get("grr"), 1, lang),
            )
        )
    return sentences


def signed_percent(value: float | None, lang: str) -> str:
    """A 0-1 change as a signed percentage (+12.5 %)."""
    return t(lang, "not_available") if missing(value) else f"{signed(100 * value, 1, lang)} %"


def grade_counts(data: ReportData) -> list[tuple[str, int]]:
    """(grade, accounts) in the model's band order, insufficient_data last."""
    counts = data.scores.group_by("grade").len().rows()
    order = {g: i for i, g in enumerate(sorted({g for g, _ in counts if g != "insufficient_data"}))}
    return sorted(counts, key=lambda gn: order.get(gn[0], len(order)))


def drop_sentence(drop: Drop, labels: Labels) -> str:
    """One score drop and its driver."""
    lang = labels.lang
    common = {
        "account": account(drop.account_id, drop.account_name),
        "points": number(-drop.change, 1, lang),
        "score": number(drop.score, 1, lang),
        "grade": labels.grade(drop.grade),
    }
    if drop.driver is None:
        return t(lang, "drop_sentence_no_driver", **common) + breakdown_text(drop, labels)
    return t(
        lang,
        "drop_sentence" if drop.driver_worsened else "drop_sentence_relative",
        **common,
        indicator=labels.indicator(drop.driver),
        before=value_text(drop.driver, drop.driver_before, lang),
        after=value_text(drop.driver, drop.driver_after, lang),
        driver_points=signed(drop.driver_points, 1, lang),
    ) + breakdown_text(drop, labels)


def breakdown_text(drop: Drop, labels: Labels) -> str:
    """ " Score −6.2: satisfaction −4.1, complaints −2.0, reweighting −0.1." (empty without score_changes)."""
    if drop.reweighting is None:
        return ""
    lang = labels.lang
    items = [f"{labels.indicator(i)} {signed(points, 1, lang)}" for i, points in drop.breakdown]
    items.append(t(lang, "reweighting", points=signed(drop.reweighting, 1, lang)))
    return t(lang, "drop_breakdown", change=signed(drop.change, 1, lang), items=join(lang, items))


def obstacles_text(obstacles: tuple[tuple[str, float], ...], labels: Labels) -> str:
    """ " Largest obstacles: satisfaction (34.0 %), ..." (empty without account_obstacles)."""
    if not obstacles:
        return ""
    lang = labels.lang
    items = [t(lang, "obstacle_item", indicator=labels.indicator(i), degree=percent(d, 1, lang)) for i, d in obstacles]
    return t(lang, "risk_obstacles", items=join(lang, items))


def value_text(indicator: str, value: float | None, lang: str) -> str:
    """An indicator's value for a sentence: in its unit, or "no value" in words (never "n/a")."""
    return t(lang, "value_missing") if missing(value) else indicator_value(indicator, value, lang)


def target_sentence(item: BelowTarget, labels: Labels) -> str:
    """One key account below target, with the targets it misses and its weakest perspective."""
    lang = labels.lang
    items = [
        t(
            lang,
            "target_item",
            indicator=labels.indicator(m.indicator),
            value=indicator_value(m.indicator, m.value, lang),
            target=indicator_value(m.indicator, m.target, lang),
        )
        for m in item.misses
    ]
    # Without any perspective score there is no weakest one to name (rather than "n/a (n/a)").
    weakest = (
        ""
        if item.weakest_group is None
        else t(
            lang,
            "target_weakest",
            group=labels.group(item.weakest_group),
            group_score=number(item.weakest_score, 1, lang),
        )
    )
    return t(
        lang,
        "target_sentence",
        account=account(item.account_id, item.account_name),
        score=number(item.score, 1, lang),
        grade=labels.grade(item.grade),
        missed=len(item.misses),
        evaluated=item.evaluated,
        items=join(lang, items),
        weakest=weakest,
    )


def targets_text(targets: dict[str, float], labels: Labels) -> str:
    """`Revenue growth ≥ 20.0 %, ...` for the model's targets."""
    return join(
        labels.lang,
        [
            f"{labels.indicator(k)} {'≤' if registry.direction_of(k) == 'lower' else '≥'} "
            f"{indicator_value(k, v, labels.lang)}"
            for k, v in targets.items()
        ],
    )


def risk_sentence(risk: Risk, labels: Labels) -> str:
    """A churned or at-risk key account and why."""
    lang = labels.lang
    who = account(risk.account_id, risk.account_name)
    if risk.churned:
        if risk.recency_days is None or not isinstance(risk.last_order, dt.date):
            return t(lang, "risk_churned_no_order", account=who) + obstacles_text(risk.obstacles, labels)
        return t(
            lang, "risk_churned", account=who, days=risk.recency_days, last=risk.last_order.isoformat()
        ) + obstacles_text(risk.obstacles, labels)
    reasons = []
    for kind, detail in risk.reasons:
        if kind == "alert":
            reasons.append(t(lang, "risk_reason_alert", rule=labels.rule(str(detail))))
        elif kind == "grade":
            reasons.append(
                t(lang, "risk_reason_grade", grade=labels.grade(risk.grade), score=number(risk.score, 1, lang))
            )
        elif kind == "recency":
            reasons.append(t(lang, "risk_reason_recency", days=detail))
    return t(lang, "risk_at_risk", account=who, reasons=join(lang, reasons)) + obstacles_text(risk.obstacles, labels)


def cause_text(cause: str, indicator: str | None, labels: Labels) -> str:
    """Why an action was suggested for an account, in words."""
    lang = labels.lang
    if cause == "drop" and indicator:
        return t(lang, "cause_drop", indicator=labels.indicator(indicator))
    if cause == "target" and indicator:
        return t(lang, "cause_target", indicator=labels.indicator(indicator))
    if cause == "churned":
        return t(lang, "cause_churned")
    if cause == "recency":
        return t(lang, "cause_recency")
    return t(lang, "cause_grade")


def people_sentence(data: ReportData, labels: Labels) -> str | None:
    """Best and lowest manager, best team; None without manager scores."""
    lang = labels.lang
    managers = (
        data.managers.filter(pl.col("score").is_not_null()) if "score" in data.managers.columns else data.managers
    )
    teams = data.teams.filter(pl.col("score").is_not_null()) if "score" in data.teams.columns else data.teams
    if managers.is_empty() or teams.is_empty():
        return None
    managers = managers.sort(["score", "manager_id"], descending=[True, False])
    best, worst = managers.row(0, named=True), managers.row(-1, named=True)
    team = teams.sort(["score", "team_id"], descending=[True, False]).row(0, named=True)
    return t(
        lang,
        "people_sentence",
        best=f"{best['manager_id']} {best.get('manager_name') or ''}".strip(),
        best_score=number(best["score"], 1, lang),
        best_grade=labels.grade(best.get("grade")),
        worst=f"{worst['manager_id']} {worst.get('manager_name') or ''}".strip(),
        worst_score=number(worst["score"], 1, lang),
        worst_grade=labels.grade(worst.get("grade")),
        team=f"{team['team_id']} {team.get('team_name') or ''}".strip(),
        team_score=number(team["score"], 1, lang),
    )


def quality_sentence(data: ReportData, labels: Labels) -> str | None:
    """Accounts without enough data and the indicator most often missing; None when nothing is missing."""
    if data.missing_indicators.is_empty():
        return None
    top = data.missing_indicators.row(0, named=True)
    insufficient = data.scores.filter(pl.col("grade") == "insufficient_data").height
    return t(
        labels.lang,
        "quality_sentence",
        insufficient=insufficient,
        indicator=labels.indicator(top["indicator"]),
        missing=top["accounts"],
    )


# At or below this AUC the score ranked churned accounts no better than chance.
NO_PREDICTION_AUC = 0.5


def backtest_sentences(data: ReportData, labels: Labels) -> list[str]:
    """One sentence per backtest horizon: did the scores of an earlier snapshot predict the churn that followed?"""
    if data.backtest is None or data.backtest.is_empty():
        return []
    lang = labels.lang
    out = []
    for r in data.backtest.iter_rows(named=True):
        common = {"date": r["as_of_date"], "days": r["horizon_days"], "followed": r["followed_as_of_date"]}
        if missing(r["auc"]):
            out.append(t(lang, "backtest_untestable", accounts=r["accounts"], **common))
            continue
        key = "backtest_no_prediction" if r["auc"] <= NO_PREDICTION_AUC else "backtest_sentence"
        out.append(
            t(
                lang,
                key,
                auc=number(r["auc"], 2, lang),
                accounts=r["accounts"],
                churned=r["churned_accounts"],
                bottom=percent(r["bottom_quintile_churn_rate"], 0, lang),
                top=percent(r["top_quintile_churn_rate"], 0, lang),
                **common,
            )
        )
    return out


# A profile with unstable weights names at most this many of them (the widest bands first).
UNSTABLE_WEIGHTS_SHOWN = 3


def stability_sentences(data: ReportData, labels: Labels) -> dict | None:
    """The weight-stability paragraph: how the bands were drawn, then one sentence per profile whose
    weights are unstable (marts.weight_stability.unstable), with its number of accounts. None without
    stability rows (an older database, or a model with stability draws 0)."""
    frame = data.weight_stability
    if frame is None or frame.is_empty():
        return None
    lang = labels.lang
    flagged = []
    for (profile,), part in frame.filter(pl.col("unstable")).group_by("profile", maintain_order=True):
        widest = part.with_columns((pl.col("weight_p95") - pl.col("weight_p05")).alias("band")).sort(
            ["band", "indicator"], descending=[True, False]
        )
        items = [
            t(
                lang,
                "stability_item",
                indicator=labels.indicator(r["indicator"]),
                weight=number(r["weight"], 2, lang),
                low=number(r["weight_p05"], 2, lang),
                high=number(r["weight_p95"], 2, lang),
            )
            for r in widest.head(UNSTABLE_WEIGHTS_SHOWN).iter_rows(named=True)
        ]
        accounts = int(part.get_column("accounts")[0])
        flagged.append(
            t(
                lang,
                "stability_unstable",
                profile=profile,
                accounts=accounts,
                count=part.height,
                items=join(lang, items),
            )
        )
    return {
        "text": t(lang, "stability_text", draws=int(frame.get_column("draws")[0])),
        "unstable": sorted(flagged),
        "stable": t(lang, "stability_stable"),
    }
