"""Conclusions drawn from one snapshot, language-free: the narrative module puts them into words.

- score drops: the accounts that lost the most points, the indicator whose contribution
  fell the most (the same driver rule as marts.score_alerts), and the change split into value
  effects and re-weighting (marts.score_changes);
- key accounts below target: the model's KPI targets an account misses, and its weakest perspective;
- churned and at-risk key accounts: churned, an alert, the lowest grade, or no order for half
  the churn period, each with its three largest obstacles (marts.account_obstacles);
- one suggested action per cause (falling satisfaction -> service review, rising late
  payments -> credit review, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from kam_pipeline.report.data import ReportData
from kam_pipeline.report.i18n import missing
from kam_pipeline.scoring import indicators as registry
from kam_pipeline.scoring.model import ScoringModel

# What to do about a weak or falling indicator: the registry's `action`. Assessment dimensions
# (rated by people) and indicators without one fall back to their group; anything else to a
# relationship review.
ACTION_BY_GROUP = {"learning_growth": "executive_sponsor", "customer": "service_review", "financial": "account_plan"}

TOP_DROPS = 5
MIN_DROP_POINTS = 1.0
TOP_BELOW_TARGET = 8
# Value effects named in a drop's breakdown, and obstacles named per at-risk key account.
TOP_EFFECTS = 3
TOP_OBSTACLES = 3
# The indicator columns a risk reads, besides the KPI targets' indicators.
RISK_COLUMNS = ("recency_days", "is_churned", "last_order_date")


@dataclass(frozen=True)
class Drop:
    """An account whose score fell since the previous snapshot, and the indicator that fell most."""

    account_id: str
    account_name: str
    is_key_account: bool
    score: float
    change: float
    grade: str
    driver: str | None
    driver_before: float | None
    driver_after: float | None
    driver_points: float | None
    driver_worsened: bool
    action: str
    # From marts.score_changes: the largest value effects (indicator, points) and the re-weighting's points.
    breakdown: tuple[tuple[str, float], ...] = ()
    reweighting: float | None = None


@dataclass(frozen=True)
class Miss:
    """One KPI target an account misses."""

    indicator: str
    value: float
    target: float


@dataclass(frozen=True)
class BelowTarget:
    """A key account missing at least one KPI target."""

    account_id: str
    account_name: str
    score: float | None
    grade: str
    misses: list[Miss]
    evaluated: int
    weakest_group: str | None
    weakest_score: float | None
    action: str


@dataclass(frozen=True)
class Risk:
    """A churned or at-risk key account; `reasons` are (kind, detail) pairs."""

    account_id: str
    account_name: str
    churned: bool
    score: float | None
    grade: str
    recency_days: int | None
    last_order: object
    reasons: list[tuple[str, object]]
    action: str
    # From marts.account_obstacles: the account's largest obstacles (indicator, obstacle degree 0-1).
    obstacles: tuple[tuple[str, float], ...] = ()


@dataclass
class Findings:
    """All conclusions of one snapshot and the actions they suggest."""

    drops: list[Drop] = field(default_factory=list)
    drop_count: int = 0  # accounts that fell MIN_DROP_POINTS or more (drops lists the largest TOP_DROPS)
    below_target: list[BelowTarget] = field(default_factory=list)
    key_below_target: int = 0
    key_accounts: int = 0
    targets: dict[str, float] = field(default_factory=dict)
    risks: list[Risk] = field(default_factory=list)
    # action -> [(account_id, account_name, cause kind, cause indicator or None)]
    actions: dict[str, list[tuple[str, str, str, str | None]]] = field(default_factory=dict)
    # (action, account_id) pairs already in `actions`: thousands of accounts at risk share an action.
    _suggested: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def suggest(self, action: str, account_id: str, account_name: str, cause: str, indicator: str | None) -> None:
        """Record that `action` applies to an account because of `cause` (once per action and account)."""
        entries = self.actions.setdefault(action, [])
        if (action, account_id) not in self._suggested:
            self._suggested.add((action, account_id))
            entries.append((account_id, account_name, cause, indicator))


def action_for(indicator: str | None, model: ScoringModel) -> str:
    """Return the action id suggested for a weak or falling indicator."""
    entry = registry.indicator(indicator)
    if entry is not None and entry.action:
        return entry.action
    group = next((i.group for i in model.indicators if i.id == indicator), None)
    return ACTION_BY_GROUP.get(group or "", "relationship_review")


def contribution_drivers(
    current: pl.DataFrame, previous: pl.DataFrame, directions: dict[str, str] | None = None
) -> pl.DataFrame:
    """Per account, the indicator whose contribution fell most: account_id, indicator, before, after, points, worsened.

    An indicator present on one side only counts 0 points on the other; accounts whose
    contributions did not fall have no row. With `directions` (indicator -> higher/lower),
    an indicator whose raw value got worse (or went missing) is preferred over one that only
    lost ground against the other accounts; `worsened` says which kind the driver is.
    """
    schema = {"account_id": pl.String, "indicator": pl.String, "value": pl.Float64, "contribution": pl.Float64}
    out_schema = {
        "account_id": pl.String,
        "indicator": pl.String,
        "before": pl.Float64,
        "after": pl.Float64,
        "points": pl.Float64,
        "worsened": pl.Boolean,
    }
    if current.is_empty() or previous.is_empty():
        return pl.DataFrame(schema=out_schema)
    cur = current.select(list(schema)).cast(schema)
    prev = previous.select(list(schema)).cast(schema)
    lower = [k for k, v in (directions or {}).items() if v == "lower"]
    joined = cur.join(prev, on=["account_id", "indicator"], how="full", coalesce=True, suffix="_prev")
    change = pl.col("value") - pl.col("value_prev")
    worsened = (
        pl.when(pl.col("value").is_null() & pl.col("value_prev").is_not_null())
        .then(True)
        .when(pl.col("indicator").is_in(lower))
        .then(change > 0)
        .otherwise(change < 0)
        .fill_null(False)
    )
    ranked = joined.with_columns(
        (pl.col("contribution").fill_null(0) - pl.col("contribution_prev").fill_null(0)).alias("points"),
        (worsened if directions is not None else pl.lit(True)).alias("worsened"),
    ).filter(pl.col("points") < 0)
    return (
        ranked.sort(["account_id", "worsened", "points", "indicator"], descending=[False, True, False, False])
        .group_by("account_id", maintain_order=True)
        .first()
        .select(
            "account_id",
            "indicator",
            pl.col("value_prev").alias("before"),
            pl.col("value").alias("after"),
            "points",
            "worsened",
        )
    )


def _lowest_band(model: ScoringModel) -> str:
    return min(model.spec.grades, key=lambda b: b.min).grade


def targets_of(model: ScoringModel, profile: str) -> dict[str, float]:
    """The KPI targets that apply to accounts of `profile`, restricted to account indicators."""
    try:
        targets = model.profile(profile).targets
    except KeyError:
        targets = model.spec.targets
    account = set(registry.names("account"))
    return {k: float(v) for k, v in targets.items() if k in account}


def _met(indicator: str, value: float, target: float) -> bool:
    return value <= target if registry.direction_of(indicator) == "lower" else value >= target


def _weakest_group(row: dict, model: ScoringModel) -> tuple[str | None, float | None]:
    scored = [(g, row.get(f"{g}_score")) for g in model.groups if not missing(row.get(f"{g}_score"))]
    if not scored:
        return None, None
    return min(scored, key=lambda gs: gs[1])


def analyse(data: ReportData, model: ScoringModel) -> Findings:
    """Return the conclusions and suggested actions for the snapshot in `data`."""
    findings = Findings()
    scores = data.scores
    if scores.is_empty():
        return findings
    # Targets and risks look at key accounts only: their indicator rows, not the whole book's.
    key_ids = scores.filter(pl.col("is_key_account")).get_column("account_id")
    # ... and of those rows only the columns the targets and risks read (a large book has 100,000s of key
    # accounts: a row of every indicator each is hundreds of MB of Python values).
    read = indicator_columns(scores, model)
    indicators = {
        r["account_id"]: r
        for r in data.indicators.filter(pl.col("account_id").is_in(key_ids.to_list()))
        .select([c for c in data.indicators.columns if c in read])
        .iter_rows(named=True)
    }
    _drops(data, model, findings)
    _targets(scores, indicators, model, findings)
    _risks(data, indicators, model, findings)
    return findings


def indicator_columns(scores: pl.DataFrame, model: ScoringModel) -> set[str]:
    """The account_indicators columns the targets and risks read: the risks' and the KPI targets' of
    the profiles of `scores` (and the default's)."""
    read = {"account_id", *RISK_COLUMNS}
    profiles = scores.get_column("profile").drop_nulls().unique().to_list() if "profile" in scores.columns else []
    for profile in {*profiles, "default"}:
        read.update(targets_of(model, profile))
    return read


def largest_drops(scores: pl.DataFrame) -> pl.DataFrame:
    """The TOP_DROPS accounts that fell most (by MIN_DROP_POINTS or more), largest fall first."""
    falling = scores.filter(pl.col("score_change") <= -MIN_DROP_POINTS)
    return falling.sort(["score_change", "account_id"]).head(TOP_DROPS)


def _of_accounts(frame: pl.DataFrame, accounts: list[str]) -> pl.DataFrame:
    """The rows of `accounts` (a frame without rows may lack the column)."""
    return frame if frame.is_empty() else frame.filter(pl.col("account_id").is_in(accounts))


def _drops(data: ReportData, model: ScoringModel, findings: Findings) -> None:
    directions = {i.id: i.direction for i in model.indicators}
    falling = largest_drops(data.scores)
    findings.drop_count = data.scores.filter(pl.col("score_change") <= -MIN_DROP_POINTS).height
    # Only the listed drops need a driver: the other accounts' contributions are not compared.
    shown = falling.get_column("account_id").to_list()
    current, previous = (_of_accounts(c, shown) for c in (data.contributions, data.previous_contributions))
    drivers = {r["account_id"]: r for r in contribution_drivers(current, previous, directions).iter_rows(named=True)}
    for row in falling.iter_rows(named=True):
        driver = drivers.get(row["account_id"])
        indicator = driver["indicator"] if driver else None
        action = action_for(indicator, model)
        findings.drops.append(
            Drop(
                account_id=row["account_id"],
                account_name=row["account_name"],
                is_key_account=bool(row["is_key_account"]),
                score=row["score"],
                change=row["score_change"],
                grade=row["grade"],
                driver=indicator,
                driver_before=driver["before"] if driver else None,
                driver_after=driver["after"] if driver else None,
                driver_points=driver["points"] if driver else None,
                driver_worsened=bool(driver["worsened"]) if driver else False,
                action=action,
                **_breakdown(data.changes, row["account_id"]),
            )
        )
        findings.suggest(action, row["account_id"], row["account_name"], "drop", indicator)


def _breakdown(changes: pl.DataFrame | None, account_id: str) -> dict:
    """The Drop fields `breakdown` and `reweighting` of one account from marts.score_changes (empty without it)."""
    if changes is None or changes.is_empty():
        return {}
    rows = changes.filter(pl.col("account_id") == account_id)
    if rows.is_empty():
        return {}
    effects = (
        rows.filter(pl.col("value_effect") != 0)
        .sort([pl.col("value_effect").abs(), pl.col("indicator")], descending=[True, False])
        .head(TOP_EFFECTS)
    )
    return {
        "breakdown": tuple(effects.select("indicator", "value_effect").iter_rows()),
        "reweighting": float(rows.get_column("weight_effect").sum()),
    }


def _obstacles(obstacles: pl.DataFrame | None) -> dict[str, tuple[tuple[str, float], ...]]:
    """Every account's TOP_OBSTACLES largest obstacles (indicator, degree) from marts.account_obstacles."""
    if obstacles is None or obstacles.is_empty():
        return {}
    # One pass over the rows, not one filter of them per account.
    top = (
        obstacles.filter(pl.col("obstacle_rank").is_not_null())
        .sort(["account_id", "obstacle_rank"])
        .group_by("account_id", maintain_order=True)
        .head(TOP_OBSTACLES)
    )
    out: dict[str, list[tuple[str, float]]] = {}
    for account_id, indicator, degree in top.select("account_id", "indicator", "obstacle_degree").iter_rows():
        out.setdefault(account_id, []).append((indicator, degree))
    return {a: tuple(items) for a, items in out.items()}


def _targets(scores: pl.DataFrame, indicators: dict[str, dict], model: ScoringModel, findings: Findings) -> None:
    key = scores.filter(pl.col("is_key_account"))
    findings.key_accounts = key.height
    findings.targets = targets_of(model, "default")
    candidates = []
    by_profile: dict[str, dict[str, float]] = {}  # each profile's targets, looked up once
    for row in key.iter_rows(named=True):
        values = indicators.get(row["account_id"], {})
        misses, evaluated = [], 0
        profile = row.get("profile") or "default"
        if profile not in by_profile:
            by_profile[profile] = targets_of(model, profile)
        for indicator, target in by_profile[profile].items():
            value = values.get(indicator)
            if missing(value):
                continue
            evaluated += 1
            if not _met(indicator, float(value), target):
                misses.append(Miss(indicator, float(value), target))
        if not misses:
            continue
        # The largest relative shortfall comes first: it names the cause and the action.
        misses.sort(key=lambda m: -abs(m.target - m.value) / abs(m.target) if m.target else 0.0)
        group, group_score = _weakest_group(row, model)
        candidates.append(
            BelowTarget(
                account_id=row["account_id"],
                account_name=row["account_name"],
                score=row["score"],
                grade=row["grade"],
                misses=misses,
                evaluated=evaluated,
                weakest_group=group,
                weakest_score=group_score,
                action=action_for(misses[0].indicator, model),
            )
        )
    findings.key_below_target = len(candidates)
    candidates.sort(key=lambda b: (-len(b.misses), b.score if b.score is not None else -1.0, b.account_id))
    findings.below_target = candidates[:TOP_BELOW_TARGET]
    for item in findings.below_target:
        findings.suggest(item.action, item.account_id, item.account_name, "target", item.misses[0].indicator)


def _risks(data: ReportData, indicators: dict[str, dict], model: ScoringModel, findings: Findings) -> None:
    lowest = _lowest_band(model)
    half_churn = model.spec.evaluation.churn_days / 2
    alerts: dict[str, list[str]] = {}
    if data.alerts is not None and not data.alerts.is_empty():
        for row in data.alerts.sort(["account_id", "rule"]).iter_rows(named=True):
            alerts.setdefault(row["account_id"], []).append(row["rule"])
    key = data.scores.filter(pl.col("is_key_account")).sort(["score", "account_id"], nulls_last=True)
    obstacles = _obstacles(data.obstacles)
    for row in key.iter_rows(named=True):
        values = indicators.get(row["account_id"], {})
        recency = values.get("recency_days")
        churned = bool(values.get("is_churned"))
        reasons: list[tuple[str, object]] = []
        if churned:
            action, cause, indicator = "win_back", "churned", None
        else:
            reasons += [("alert", rule) for rule in alerts.get(row["account_id"], []) if rule != "became_churned"]
            if row["grade"] == lowest:
                reasons.append(("grade", row["grade"]))
            if not missing(recency) and recency > half_churn:
                reasons.append(("recency", int(recency)))
            if not reasons:
                continue
            kinds = {k for k, _ in reasons}
            if "recency" in kinds:
                action, cause, indicator = "reactivation", "recency", "recency_days"
            else:
                weakest, _ = _weakest_group(row, model)
                action = ACTION_BY_GROUP.get(weakest or "", "relationship_review")
                cause, indicator = ("grade", None) if "grade" in kinds else ("drop", None)
        findings.risks.append(
            Risk(
                account_id=row["account_id"],
                account_name=row["account_name"],
                churned=churned,
                score=row["score"],
                grade=row["grade"],
                recency_days=None if missing(recency) else int(recency),
                last_order=values.get("last_order_date"),
                reasons=reasons,
                action=action,
                obstacles=obstacles.get(row["account_id"], ()),
            )
        )
        findings.suggest(action, row["account_id"], row["account_name"], cause, indicator)
    # Churned accounts first: they need the most urgent action.
    findings.risks.sort(key=lambda r: (not r.churned, r.score if r.score is not None else -1.0, r.account_id))
