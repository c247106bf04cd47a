"""The scoring engine against numbers worked out by hand and an independent plain-Python
scorer, then its invariants on the shipped default model with random data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from kam_pipeline.scoring.engine import score_profile
from kam_pipeline.scoring.model import ScoringModel, load_model

NAN = float("nan")

# -- a model small enough to score by hand -----------------------------------------
# financial (0.6): revenue (higher, 0.7), overdue_ratio (lower, 0.3)
# customer  (0.4): csat (higher, 0.5),   complaint_rate (lower, 0.5)
# Base (global) weights: revenue .42, overdue_ratio .18, csat .20, complaint_rate .20.
GROUP_WEIGHTS = {"financial": 0.6, "customer": 0.4}
WEIGHTS_IN_GROUP = {"revenue": 0.7, "overdue_ratio": 0.3, "csat": 0.5, "complaint_rate": 0.5}
GROUP_OF = {"revenue": "financial", "overdue_ratio": "financial", "csat": "customer", "complaint_rate": "customer"}
DIRECTION = {"revenue": "higher", "overdue_ratio": "lower", "csat": "higher", "complaint_rate": "lower"}
ORDER = ["revenue", "overdue_ratio", "csat", "complaint_rate"]  # model.indicators order
POLICY_VALUE = {"neutral": 0.5, "worst": 0.0, "best": 1.0}


def small_model(tmp_path: Path, overdue_missing: str = "reweight") -> ScoringModel:
    document = {
        "name": "hand-checked",
        "groups": {
            "financial": {"indicators": {"revenue": {}, "overdue_ratio": {"missing": overdue_missing}}},
            "customer": {"indicators": {"csat": {}, "complaint_rate": {}}},
        },
        "profiles": {
            "default": {
                "group_weights": {"method": "fixed", "weights": GROUP_WEIGHTS},
                "indicator_weights": {
                    "financial": {"method": "fixed", "weights": {"revenue": 0.7, "overdue_ratio": 0.3}},
                    "customer": {"method": "fixed", "weights": {"csat": 0.5, "complaint_rate": 0.5}},
                },
            }
        },
    }
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    model = load_model(path)
    assert [i.id for i in model.indicators] == ORDER
    return model


def reference_scores(rows: list[list[float]], policy: dict[str, str] | None = None) -> dict:
    """Score the small model with plain loops: min-max per column over present values,
    re-weighting inside a group, then across groups; policies fill gaps (not completeness)."""
    policy = policy or {}
    n_acc = len(rows)
    norm = [[NAN] * len(ORDER) for _ in rows]
    for j, ind in enumerate(ORDER):
        present = [r[j] for r in rows if not math.isnan(r[j])]
        lo, hi = min(present), max(present)
        for i in range(n_acc):
            x = rows[i][j]
            if not math.isnan(x):
                s = 0.5 if hi == lo else (x - lo) / (hi - lo)
                norm[i][j] = 1 - s if DIRECTION[ind] == "lower" else s
    out = {"normalized": [], "group": [], "score": [], "weight": [], "contribution": [], "completeness": []}
    for i in range(n_acc):
        real = [not math.isnan(norm[i][j]) for j in range(len(ORDER))]
        value = list(norm[i])
        if any(real):
            for j, ind in enumerate(ORDER):
                if not real[j] and ind in policy:
                    value[j] = POLICY_VALUE[policy[ind]]
        groups = {}
        within = {}
        for g in GROUP_WEIGHTS:
            members = [j for j, ind in enumerate(ORDER) if GROUP_OF[ind] == g and not math.isnan(value[j])]
            total = sum(WEIGHTS_IN_GROUP[ORDER[j]] for j in members)
            if total > 0:
                for j in members:
                    within[j] = WEIGHTS_IN_GROUP[ORDER[j]] / total
                groups[g] = 100 * sum(within[j] * value[j] for j in members)
        gtotal = sum(GROUP_WEIGHTS[g] for g in groups)
        weight = [0.0] * len(ORDER)
        for j, ind in enumerate(ORDER):
            if j in within:
                weight[j] = GROUP_WEIGHTS[GROUP_OF[ind]] / gtotal * within[j]
        contribution = [100 * weight[j] * value[j] if weight[j] > 0 else 0.0 for j in range(len(ORDER))]
        base = [GROUP_WEIGHTS[GROUP_OF[ind]] * WEIGHTS_IN_GROUP[ind] for ind in ORDER]
        out["normalized"].append(value)
        out["group"].append({g: groups.get(g, NAN) for g in GROUP_WEIGHTS})
        out["score"].append(sum(contribution) if groups else NAN)
        out["weight"].append(weight)
        out["contribution"].append(contribution)
        out["completeness"].append(sum(b for b, r in zip(base, real, strict=True) if r) / sum(base))
    return out


def assert_matches_reference(result, ref) -> None:
    np.testing.assert_allclose(result.normalized, ref["normalized"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.score, ref["score"], rtol=0, atol=1e-9)
    for g in GROUP_WEIGHTS:
        np.testing.assert_allclose(result.group_scores[g], [r[g] for r in ref["group"]], rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.effective_weight, ref["weight"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.contribution, ref["contribution"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.completeness, ref["completeness"], rtol=0, atol=1e-12)


# Raw values (revenue, overdue_ratio, csat, complaint_rate) of four accounts with full data.
COMPLETE = [
    [100.0, 0.50, 60.0, 4.0],
    [200.0, 0.00, 80.0, 2.0],
    [300.0, 0.25, 100.0, 0.0],
    [500.0, 0.10, 70.0, 1.0],
]


def test_complete_data_by_hand(tmp_path):
    model = small_model(tmp_path)
    result = score_profile(model, model.profile("default"), np.array(COMPLETE))
    # min-max; overdue_ratio and complaint_rate are "lower is better", so flipped.
    np.testing.assert_allclose(
        result.normalized,
        [[0.00, 0.0, 0.00, 0.00], [0.25, 1.0, 0.50, 0.50], [0.50, 0.5, 1.00, 1.00], [1.00, 0.8, 0.25, 0.75]],
        atol=1e-12,
    )
    # financial = 100 (0.7 revenue + 0.3 overdue); customer = 100 (0.5 csat + 0.5 complaints)
    np.testing.assert_allclose(result.group_scores["financial"], [0.0, 47.5, 50.0, 94.0], atol=1e-9)
    np.testing.assert_allclose(result.group_scores["customer"], [0.0, 50.0, 100.0, 50.0], atol=1e-9)
    # score = 0.6 financial + 0.4 customer
    np.testing.assert_allclose(result.score, [0.0, 48.5, 70.0, 76.4], atol=1e-9)
    np.testing.assert_allclose(result.effective_weight, [[0.42, 0.18, 0.20, 0.20]] * 4, atol=1e-12)
    np.testing.assert_allclose(
        result.contribution,
        [[0.0, 0.0, 0.0, 0.0], [10.5, 18.0, 10.0, 10.0], [21.0, 9.0, 20.0, 20.0], [42.0, 14.4, 5.0, 15.0]],
        atol=1e-9,
    )
    np.testing.assert_allclose(result.completeness, [1.0] * 4)
    assert [result.base_weight(i) for i in result.indicators] == pytest.approx([0.42, 0.18, 0.20, 0.20])
    assert result.group_weights.method == "fixed"
    assert result.group_weights.final == pytest.approx([0.6, 0.4])
    assert_matches_reference(result, reference_scores(COMPLETE))


# A: low anchors; B: high anchors; C: no overdue_ratio; D: no financial data at all; E: nothing.
WITH_GAPS = [
    [100.0, 0.5, 60.0, 4.0],
    [500.0, 0.0, 100.0, 0.0],
    [300.0, NAN, 80.0, 1.0],
    [NAN, NAN, 70.0, 2.0],
    [NAN, NAN, NAN, NAN],
]


def test_missing_data_is_reweighted_by_hand(tmp_path):
    model = small_model(tmp_path)
    result = score_profile(model, model.profile("default"), np.array(WITH_GAPS))
    # C: revenue 0.5 carries the whole financial group (50); customer .5*.5 + .5*.75 = 62.5.
    # D: customer only, .5*.25 + .5*.5 = 37.5, and the customer group carries the whole score.
    np.testing.assert_allclose(result.score[:4], [0.0, 100.0, 55.0, 37.5], atol=1e-9)
    assert np.isnan(result.score[4])
    np.testing.assert_allclose(result.group_scores["financial"][:3], [0.0, 100.0, 50.0], atol=1e-9)
    assert np.isnan(result.group_scores["financial"][3:]).all()
    np.testing.assert_allclose(result.group_scores["customer"][:4], [0.0, 100.0, 62.5, 37.5], atol=1e-9)
    assert np.isnan(result.group_scores["customer"][4])
    np.testing.assert_allclose(
        result.effective_weight,
        [
            [0.42, 0.18, 0.2, 0.2],
            [0.42, 0.18, 0.2, 0.2],
            [0.60, 0.00, 0.2, 0.2],  # revenue takes overdue_ratio's share inside financial
            [0.00, 0.00, 0.5, 0.5],  # customer takes financial's share across groups
            [0.00, 0.00, 0.0, 0.0],
        ],
        atol=1e-12,
    )
    np.testing.assert_allclose(result.contribution[2], [30.0, 0.0, 10.0, 15.0], atol=1e-9)
    np.testing.assert_allclose(result.contribution[3], [0.0, 0.0, 12.5, 25.0], atol=1e-9)
    np.testing.assert_allclose(result.contribution[4], [0.0] * 4)
    # completeness: share of the base weight (.42/.18/.2/.2) backed by real values.
    np.testing.assert_allclose(result.completeness, [1.0, 1.0, 0.82, 0.40, 0.0], atol=1e-12)
    # A missing value stays missing: never a zero.
    assert np.isnan(result.normalized[2, 1]) and np.isnan(result.normalized[4]).all()
    assert_matches_reference(result, reference_scores(WITH_GAPS))


@pytest.mark.parametrize(
    ("policy", "score_c", "score_d"),
    [
        # C: financial = 100 (.7 * .5 + .3 p); D: financial = 100 p (overdue is all it has there).
        ("neutral", 0.6 * 50.0 + 25.0, 0.6 * 50.0 + 15.0),
        ("worst", 0.6 * 35.0 + 25.0, 0.6 * 0.0 + 15.0),
        ("best", 0.6 * 65.0 + 25.0, 0.6 * 100.0 + 15.0),
    ],
)
def test_missing_data_policies_fill_in_but_do_not_count_as_evidence(tmp_path, policy, score_c, score_d):
    model = small_model(tmp_path, overdue_missing=policy)
    result = score_profile(model, model.profile("default"), np.array(WITH_GAPS))
    value = POLICY_VALUE[policy]
    assert result.normalized[2, 1] == value and result.normalized[3, 1] == value
    assert result.score[2] == pytest.approx(score_c) and result.score[3] == pytest.approx(score_d)
    # The filled-in indicator keeps its weight: nothing is re-weighted for it ...
    np.testing.assert_allclose(result.effective_weight[2], [0.42, 0.18, 0.2, 0.2], atol=1e-12)
    np.testing.assert_allclose(result.effective_weight[3], [0.0, 0.6, 0.2, 0.2], atol=1e-12)
    # ... but completeness counts real values only.
    np.testing.assert_allclose(result.completeness, [1.0, 1.0, 0.82, 0.40, 0.0], atol=1e-12)
    # An account with no evidence at all gets no score, even though a policy could fill it.
    assert np.isnan(result.score[4]) and np.isnan(result.normalized[4]).all()
    assert result.effective_weight[4].sum() == 0.0 and result.contribution[4].sum() == 0.0
    assert_matches_reference(result, reference_scores(WITH_GAPS, {"overdue_ratio": policy}))


def test_no_accounts(tmp_path):
    model = small_model(tmp_path)
    result = score_profile(model, model.profile("default"), np.zeros((0, 4)))
    assert result.score.shape == result.completeness.shape == (0,)
    assert result.effective_weight.shape == (0, 4)
    assert sum(result.base_weight(i) for i in result.indicators) == pytest.approx(1.0)


def test_values_in_the_wrong_shape_are_refused(tmp_path):
    model = small_model(tmp_path)
    with pytest.raises(ValueError, match=r"accounts × 4"):
        score_profile(model, model.profile("default"), np.zeros((3, 5)))


# -- invariants and objective weights on the shipped default model --------------------


def random_values(model: ScoringModel, seed: int, accounts: int = 40, missing: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(mean=2.0, sigma=1.0, size=(accounts, len(model.indicators)))
    values[rng.random(values.shape) < missing] = np.nan
    # Indicators on a fixed scale get values on it, a few beyond both ends (clipped by `bounded`).
    for j, ind in enumerate(model.indicators):
        if ind.spec.normalization == "bounded":
            lo, hi = ind.spec.bounds
            on_scale = lo + (hi - lo) * rng.uniform(-0.1, 1.1, size=accounts)
            values[:, j] = np.where(np.isnan(values[:, j]), np.nan, on_scale)
    values[0] = np.nan  # no evidence at all
    values[1] = np.nan
    values[1, 3] = 7.0  # a single indicator
    return values


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("profile", ["default", "multinational"])
def test_invariants_on_the_default_model(seed, profile):
    model = load_model()
    values = random_values(model, seed)
    result = score_profile(model, model.profile(profile), values)
    has_evidence = ~np.isnan(values).all(axis=1)

    # Contributions add up to the score (an account without a score contributes nothing).
    np.testing.assert_allclose(result.contribution.sum(axis=1), np.nan_to_num(result.score), rtol=0, atol=1e-9)
    # Effective weights sum to 1 per account, or 0 with no evidence.
    np.testing.assert_allclose(result.effective_weight.sum(axis=1), has_evidence.astype(float), rtol=0, atol=1e-12)
    assert (result.effective_weight >= 0).all()
    assert np.isnan(result.score[~has_evidence]).all()
    assert ((result.score[has_evidence] >= 0) & (result.score[has_evidence] <= 100)).all()
    assert ((result.completeness >= 0) & (result.completeness <= 1)).all()
    assert (result.completeness[~has_evidence] == 0).all() and (result.completeness[has_evidence] > 0).all()
    known = ~np.isnan(result.normalized)
    assert ((result.normalized[known] >= 0) & (result.normalized[known] <= 1)).all()
    for g, scores in result.group_scores.items():
        known = ~np.isnan(scores)
        assert ((scores[known] >= 0) & (scores[known] <= 100 + 1e-9)).all(), g
    # Weights: every level sums to 1, and so do the base (global) weights.
    assert result.group_weights.final.sum() == pytest.approx(1.0, abs=1e-12)
    for g, within in result.indicator_weights.items():
        assert within.final.sum() == pytest.approx(1.0, abs=1e-12), g
    assert sum(result.base_weight(i) for i in result.indicators) == pytest.approx(1.0, abs=1e-12)
    # Complete rows are not re-weighted: their effective weights are the base weights.
    full = ~np.isnan(values).any(axis=1)
    base = np.array([result.base_weight(i) for i in result.indicators])
    np.testing.assert_allclose(result.effective_weight[full], np.tile(base, (full.sum(), 1)), atol=1e-12)


def entropy_by_hand(columns: list[list[float]]) -> list[float]:
    """Entropy weights (DOMAIN.md): p = x / column sum, e = -(1/ln m) Σ p ln p, d = 1 - e, w = d / Σ d."""
    m = len(columns[0])
    d = []
    for col in columns:
        total = sum(col)
        e = 0.0
        for x in col:
            p = x / total
            if p > 0:
                e -= p * math.log(p) / math.log(m)
        d.append(1.0 - e)
    return [dj / sum(d) for dj in d]


def expert_by_hand(experts: dict[str, dict[str, float]], items: list[str]) -> list[float]:
    """Each expert's scores rescaled to sum 1, then averaged over experts (no trimming)."""
    shares = []
    for scores in experts.values():
        total = sum(scores[i] for i in items)
        shares.append([scores[i] / total for i in items])
    return [sum(s[k] for s in shares) / len(shares) for k in range(len(items))]


@pytest.mark.parametrize("missing", [0.0, 0.15])
def test_entropy_and_combined_weights_are_recomputed(missing):
    model = load_model()
    profile = model.profile("default")
    values = random_values(model, seed=7, accounts=30, missing=missing)[2:]
    result = score_profile(model, profile, values)
    for group in model.groups:
        cols = [j for j, i in enumerate(model.indicators) if i.group == group]
        items = [model.indicators[j].id for j in cols]
        columns = []
        for j, ind in zip(cols, model.indicators_of(group), strict=True):
            column = [float(x) for x in result.normalized[:, j]]
            real = [x for x, raw in zip(column, values[:, j], strict=True) if not math.isnan(raw)]
            # The engine's documented choice: a missing value enters the entropy as the
            # column mean of the real ones (it adds no dispersion); policy fills do not count.
            mean = sum(real) / len(real)
            columns.append([x if not math.isnan(raw) else mean for x, raw in zip(column, values[:, j], strict=True)])
            assert ind.spec.missing in ("reweight", "best")
        weights = result.indicator_weights[group]
        spec = profile.indicator_weights[group]
        assert spec.method == "combined" and spec.objective.method == "entropy"
        # An item the experts give no importance (the new accounts' indicators, in the default profile) is
        # left out of the entropy too: the entropy of the kept items, 0 for the others.
        subjective = expert_by_hand(spec.subjective.experts, items)
        kept = [k for k, w in enumerate(subjective) if w > 0]
        objective = [0.0] * len(items)
        for k, w in zip(kept, entropy_by_hand([columns[k] for k in kept]), strict=True):
            objective[k] = w
        np.testing.assert_allclose(weights.objective, objective, rtol=0, atol=1e-12)
        np.testing.assert_allclose(weights.subjective, subjective, atol=1e-12)
        alpha = spec.alpha
        np.testing.assert_allclose(
            weights.final, alpha * weights.subjective + (1 - alpha) * weights.objective, rtol=0, atol=1e-12
        )
        assert weights.method == "combined(expert+entropy,linear,alpha=0.5)"


def test_group_weights_of_the_default_model_are_its_ahp_priorities():
    model = load_model()
    result = score_profile(model, model.profile("default"), random_values(model, seed=5))
    (record,) = result.group_weights.consistency
    assert record["matrix_name"] == "groups" and record["n"] == 4 and record["accepted"]
    assert record["cr"] < 0.10
    # Financial > customer > internal process > learning & growth, as the matrix says.
    assert list(result.group_weights.final) == sorted(result.group_weights.final, reverse=True)
    for ind in result.indicators:
        k = model.groups.index(ind.group)
        members = [i.id for i in model.indicators_of(ind.group)]
        expected = result.group_weights.final[k] * result.indicator_weights[ind.group].final[members.index(ind.id)]
        assert result.base_weight(ind) == pytest.approx(expected)
