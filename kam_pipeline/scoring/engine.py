"""Score the accounts of one profile: normalise, weigh, aggregate, explain.

Plain NumPy, no Dagster: the assets hand in an (accounts × indicators) matrix of
raw values (NaN = no evidence) and get back every number the marts store.

Missing data is re-weighted hierarchically: inside a group, the weights of the
indicators with a value are rescaled to sum to 1; across groups, the weights of
the groups with at least one value are rescaled likewise. An indicator whose
policy is neutral / worst / best gets 0.5 / 0 / 1 instead of being left out, but
only real values count towards `completeness`, and an account without a single
real value gets no score at all (NaN), however many policies could fill it in.

A churned account (no completed order for churn_days) is judged on that fact: an
order-based indicator it has no value for because it bought nothing in the window
(margin, order value, growth and retention without a previous window, ...) scores
the worst (0) and counts as evidence, so churn lowers the grade instead of hiding it
as insufficient data. Such fills stay out of the objective weights, as policy fills do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np

from kam_pipeline.scoring.indicators import registry
from kam_pipeline.scoring.model import Indicator, Profile, ScoringModel, WeightSpec
from kam_pipeline.scoring.normalize import normalize
from kam_pipeline.scoring.weights import (
    aggregate_judgements,
    ahp_weights,
    combine_weights,
    critic_weights,
    entropy_weights,
    expert_weights,
    game_theory_coefficients,
)

_POLICY_VALUE = {"neutral": 0.5, "worst": 0.0, "best": 1.0}

# Indicators computed from orders (registry `from_orders`): for a churned account a missing
# value means "no sales in the window".
CHURN_WORST = frozenset(name for name, entry in registry().items() if entry.from_orders)


@dataclass
class WeightResult:
    """Weights of the items of one level, with their subjective/objective parts and AHP checks."""

    method: str
    final: np.ndarray
    subjective: np.ndarray | None = None
    objective: np.ndarray | None = None
    consistency: list[dict] = field(default_factory=list)
    # Shares of the subjective and objective weights in a combination (α, 1 - α; game theory: α*).
    coefficients: tuple[float, float] | None = None


@dataclass
class ProfileScores:
    """Everything computed for one profile on one as-of date (arrays are per account, per indicator)."""

    profile: str
    indicators: list[Indicator]
    normalized: np.ndarray  # accounts × indicators, in [0, 1], NaN where no value and no policy
    effective_weight: np.ndarray  # accounts × indicators; a row sums to 1 (or 0 with no evidence)
    score: np.ndarray  # 0–100, NaN with no evidence at all
    group_scores: dict[str, np.ndarray]  # 0–100 per group
    completeness: np.ndarray  # 0–1, share of the base weight backed by real values
    group_weights: WeightResult
    indicator_weights: dict[str, WeightResult]

    def take(self, rows: np.ndarray) -> ProfileScores:
        """The same scores restricted to `rows` (an index or mask of the accounts); weights are unchanged."""
        return ProfileScores(
            profile=self.profile,
            indicators=self.indicators,
            normalized=self.normalized[rows],
            effective_weight=self.effective_weight[rows],
            score=self.score[rows],
            group_scores={g: v[rows] for g, v in self.group_scores.items()},
            completeness=self.completeness[rows],
            group_weights=self.group_weights,
            indicator_weights=self.indicator_weights,
        )

    def without_matrices(self) -> ProfileScores:
        """The same scores, group scores, completeness and weights, without the (accounts × indicators)
        matrices (left with no columns): what the bootstrap reads of the real scores."""
        empty = np.zeros((len(self.score), 0))
        return replace(self, normalized=empty, effective_weight=empty)

    @property
    def contribution(self) -> np.ndarray:
        """Points of the 0–100 score each indicator contributes (accounts × indicators)."""
        return 100.0 * np.nan_to_num(self.effective_weight * self.normalized)

    def base_weight(self, indicator: Indicator) -> float:
        """Final global weight of an indicator: group weight × weight within the group."""
        groups = list(self.group_scores)
        within = self.indicator_weights[indicator.group]
        members = [i.id for i in self.indicators if i.group == indicator.group]
        return float(
            self.group_weights.final[groups.index(indicator.group)] * within.final[members.index(indicator.id)]
        )


def _impute(matrix: np.ndarray) -> np.ndarray:
    # Objective methods need a complete matrix: a missing value is taken as the column
    # mean (it adds no dispersion); a column without any value carries no information.
    out = matrix.copy()
    for j in range(out.shape[1]):
        col = out[:, j]
        known = ~np.isnan(col)
        col[~known] = col[known].mean() if known.any() else 0.0
    return out


def resolve_weights(
    spec: WeightSpec, items: list[str], matrix: np.ndarray | None, profile: str, level: str
) -> WeightResult:
    """Return the weights of `items` (in that order) by `spec`.

    `matrix` is the (accounts × items) normalised matrix the objective methods use.
    """
    if spec.method == "fixed":
        # The model accepts sums within 1e-6 of 1; rescale so the marts' weights sum to 1 exactly.
        fixed = np.array([spec.weights[i] for i in items], dtype=float)
        return WeightResult("fixed", fixed / fixed.sum())
    if spec.method == "expert":
        scores = np.array([[row[i] for i in items] for row in spec.experts.values()], dtype=float)
        return WeightResult("expert", expert_weights(scores, trim=spec.trim))
    if spec.method == "ahp":
        order = spec.order or items
        # Several experts: each matrix is checked under `<level>:<expert>`, and the weights come
        # from the element-wise geometric mean of their judgements (AIJ), recorded under the level.
        experts = spec.matrices or {}
        records = [_ahp_record(matrix, spec, order, profile, f"{level}:{name}")[0] for name, matrix in experts.items()]
        judgements = aggregate_judgements(list(experts.values())).tolist() if experts else spec.matrix
        aggregate, weights = _ahp_record(judgements, spec, order, profile, level)
        by_item = dict(zip(order, weights, strict=True))
        return WeightResult("ahp", np.array([by_item[i] for i in items]), consistency=[*records, aggregate])
    if spec.method in ("entropy", "critic"):
        if matrix is None or matrix.shape[0] == 0:
            weights = np.full(len(items), 1.0 / len(items))
        else:
            fn = entropy_weights if spec.method == "entropy" else critic_weights
            weights = fn(_impute(matrix))
        return WeightResult(spec.method, weights, objective=weights)
    # combined
    subjective = resolve_weights(spec.subjective, items, matrix, profile, level)
    objective = _objective_of_kept(spec.objective, items, matrix, profile, level, subjective.final > 0)
    final = combine_weights(subjective.final, objective.final, method=spec.combination, alpha=spec.alpha)
    method = f"combined({subjective.method}+{objective.method},{spec.combination},alpha={spec.alpha:g})"
    coefficients = (float(spec.alpha), 1.0 - float(spec.alpha))
    if spec.combination == "game_theory":
        # alpha plays no part: the coefficients come from the two weight vectors themselves.
        method = f"combined({subjective.method}+{objective.method},game_theory)"
        coefficients = tuple(float(c) for c in game_theory_coefficients(subjective.final, objective.final))
    elif spec.combination == "multiplicative":
        coefficients = None  # a product has no shares (alpha is used only when the product is all zero)
    return WeightResult(method, final, subjective.final, objective.final, subjective.consistency, coefficients)


def _ahp_record(
    matrix: list[list[float]], spec: WeightSpec, order: list[str], profile: str, name: str
) -> tuple[dict, np.ndarray]:
    """A weight_consistency row (the matrix, its priorities, λmax, CI, RI, CR under `name`) and the priorities."""
    result = ahp_weights(np.array(matrix, dtype=float), method=spec.eigen)
    record = {
        "profile": profile,
        "matrix_name": name,
        "n": result.n,
        "items": json.dumps(order),
        "matrix": json.dumps(matrix),
        "weights": json.dumps([round(float(w), 10) for w in result.weights]),
        "method": result.method,
        "lambda_max": result.lambda_max,
        "ci": result.ci,
        "random_index": result.random_index,
        "cr": result.cr,
        "accepted": result.accepted,
    }
    return record, result.weights


def _objective_of_kept(
    spec: WeightSpec, items: list[str], matrix: np.ndarray | None, profile: str, level: str, kept: np.ndarray
) -> WeightResult:
    """Objective weights of the items the subjective weights keep (> 0); the others get 0.

    An item the experts give no importance is set aside by the profile (the new accounts' profile
    drops tenure and retention): the data must not bring it back through the objective weights.
    """
    if kept.all() or not kept.any():
        return resolve_weights(spec, items, matrix, profile, level)
    part = resolve_weights(
        spec,
        [i for i, k in zip(items, kept, strict=True) if k],
        None if matrix is None else matrix[:, kept],
        profile,
        level,
    )
    weights = np.zeros(len(items))
    weights[kept] = part.final
    return WeightResult(part.method, weights, objective=weights)


def normalize_matrix(values: np.ndarray, indicators: list[Indicator], targets: dict[str, float]) -> np.ndarray:
    """Return the (accounts × indicators) matrix normalised to [0, 1] by each indicator's method and direction."""
    out = np.full(values.shape, np.nan)
    for j, ind in enumerate(indicators):
        options = {}
        if ind.spec.normalization == "target":
            options = {"target": ind.spec.target or targets.get(ind.id), "cap": ind.spec.cap}
        elif ind.spec.normalization == "bounded":
            options = {"bounds": ind.spec.bounds}
        out[:, j] = normalize(values[:, j], ind.spec.normalization, ind.direction, **options)
    return out


def has_evidence(values: np.ndarray, churned: np.ndarray | None = None) -> np.ndarray:
    """Per row of `values`: True when the account can be scored (a real value, or churn as evidence)."""
    values = np.asarray(values, dtype=float)
    evidence = ~np.isnan(values).all(axis=1) if values.shape[1] else np.zeros(values.shape[0], dtype=bool)
    return evidence | (np.asarray(churned, dtype=bool) if churned is not None else False)


def weight_shares(usable: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item's share of the weight of the items a row can use, and whether the row has any.

    `usable` (rows × items, bool) and `weights` (items, or a stack ... × items) broadcast, so one
    call handles a stack of weight vectors (the bootstrap's draws: usable[:, None, :] against
    B × items). Returns the shares (summing to 1 over the last axis, or 0 where nothing is usable
    or weighted) and the mask of rows whose usable weight is positive.
    """
    w = np.where(usable, weights, 0.0)
    total = w.sum(axis=-1, keepdims=True)
    share = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    return share, total[..., 0] > 0


def prepare(
    model: ScoringModel, profile: Profile, values: np.ndarray, churned: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The matrices score_profile weighs: (normalized, filled, has_value), all accounts × indicators.

    normalized: the indicators' normalised values (NaN = no value), which the objective weights use;
    filled: the same with churn fills and missing-value policies applied (NaN = left out);
    has_value: where there is evidence (a real value, or churn), which completeness counts.
    """
    indicators = model.indicators
    values = np.asarray(values, dtype=float)
    normalized = normalize_matrix(values, indicators, profile.targets)
    # A churned account's missing order-based indicators are evidence of churn: worst (0), and they
    # count towards completeness. Like the policies they stay out of the objective weights.
    churn_fill = np.zeros(values.shape, dtype=bool)
    if churned is not None:
        churned = np.asarray(churned, dtype=bool)
        for j, ind in enumerate(indicators):
            if ind.id in CHURN_WORST and ind.spec.source == "indicators":
                churn_fill[:, j] = churned & np.isnan(normalized[:, j])
    has_value = ~np.isnan(normalized) | churn_fill
    # Policies fill gaps in an account's evidence; they cannot stand in for all of it,
    # or an account with no data at all would score (and rank) on imputed values alone.
    evidence = has_value.any(axis=1)
    filled = np.where(churn_fill, 0.0, normalized)
    for j, ind in enumerate(indicators):
        if ind.spec.missing in _POLICY_VALUE:
            filled[~has_value[:, j] & evidence, j] = _POLICY_VALUE[ind.spec.missing]
    return normalized, filled, has_value


# Rows of a product summed at a time by _row_nansum: 8 MB of (rows × 32 indicators) floats.
_SUM_ROWS = 32_768


def _row_nansum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.nansum(a * b, axis=1) a block of rows at a time, without the product of the whole matrices
    (100 MB at 400,000 accounts): the same numbers, as nansum is NaN taken as 0, then each row summed."""
    out = np.empty(a.shape[0])
    for start in range(0, a.shape[0], _SUM_ROWS):
        rows = slice(start, start + _SUM_ROWS)
        points = a[rows] * b[rows]
        np.copyto(points, 0.0, where=np.isnan(points))
        out[rows] = points.sum(axis=1)
    return out


def score_profile(
    model: ScoringModel, profile: Profile, values: np.ndarray, churned: np.ndarray | None = None
) -> ProfileScores:
    """Score the accounts of one profile from their raw indicator values (accounts × model.indicators).

    `churned` (one bool per account, optional) marks churned accounts: their missing order-based
    indicators (CHURN_WORST) score 0 and count as evidence.
    """
    indicators = model.indicators
    groups = model.groups
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(indicators):
        raise ValueError(
            f"values must be an (accounts × {len(indicators)}) matrix in model.indicators order, got shape {values.shape}"
        )
    normalized, filled, has_value = prepare(model, profile, values, churned)
    usable = ~np.isnan(filled)

    m = values.shape[0]
    within: dict[str, WeightResult] = {}
    group_scores: dict[str, np.ndarray] = {}
    group_has: dict[str, np.ndarray] = {}
    eff_within = np.zeros(values.shape)
    for g in groups:
        cols = [j for j, i in enumerate(indicators) if i.group == g]
        items = [indicators[j].id for j in cols]
        result = resolve_weights(
            profile.indicator_weights[g], items, normalized[:, cols], profile.name, f"indicators:{g}"
        )
        within[g] = result
        share, present = weight_shares(usable[:, cols], result.final)
        eff_within[:, cols] = share
        group_scores[g] = np.where(present, 100.0 * np.nansum(share * filled[:, cols], axis=-1), np.nan)
        group_has[g] = present

    # Each (accounts × indicators) matrix is freed, or reused in place, once read: at 400,000 accounts
    # each is 100 MB, and the profile's contributions are written while its scores are held.
    del normalized, usable
    group_matrix = np.column_stack([group_scores[g] / 100.0 for g in groups]) if groups else np.zeros((m, 0))
    between = resolve_weights(profile.group_weights, groups, group_matrix, profile.name, "groups")
    has = np.column_stack([group_has[g] for g in groups]) if groups else np.zeros((m, 0), dtype=bool)
    gshare, scored = weight_shares(has, between.final)

    effective = eff_within  # each column scaled by its group's share, in place
    base = np.zeros(len(indicators))
    for j, ind in enumerate(indicators):
        k = groups.index(ind.group)
        effective[:, j] *= gshare[:, k]
        members = [i.id for i in indicators if i.group == ind.group]
        base[j] = between.final[k] * within[ind.group].final[members.index(ind.id)]
    score = np.where(scored, 100.0 * _row_nansum(effective, filled), np.nan)
    completeness = (has_value * base).sum(axis=1) / base.sum() if base.sum() > 0 else np.zeros(m)
    return ProfileScores(
        profile=profile.name,
        indicators=indicators,
        normalized=filled,
        effective_weight=effective,
        score=score,
        group_scores=group_scores,
        completeness=np.clip(completeness, 0.0, 1.0),
        group_weights=between,
        indicator_weights=within,
    )
