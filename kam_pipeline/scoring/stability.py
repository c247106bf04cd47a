"""How stable a profile's weights and ranks are: a bootstrap over the profile's accounts.

Objective weights (entropy, CRITIC, and the objective half of a combination) come from the
accounts being scored, so a different but equally plausible set of accounts would weigh the
indicators differently. Each draw resamples the rows of the profile's peer group with
replacement, recomputes the weights on the resample with the engine's own resolve_weights
(subjective weights stay as they are; the combination is the configured one), and scores
every account of the profile with the draw's weights, keeping the normalised values of the
real score (see docs/scoring_model.md, "Stability"). Plain NumPy, no Dagster: `bootstrap`
returns the draw matrices, `stability_of` the rows of marts.weight_stability and
marts.rank_stability.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats

from kam_pipeline.scoring.engine import ProfileScores, prepare, resolve_weights, weight_shares
from kam_pipeline.scoring.model import Profile, ScoringModel, WeightSpec

__all__ = [
    "BAND_ABSOLUTE",
    "BAND_RELATIVE",
    "RANK_SCHEMA",
    "WEIGHT_SCHEMA",
    "Draws",
    "bootstrap",
    "stability_of",
]

# A weight is unstable when its 5–95 % band is wider than this (in weight, i.e. 10 points of 100) ...
BAND_ABSOLUTE = 0.10
# ... or wider than this share of the weight itself (a 0.04 weight that may be 0.01 or 0.05).
BAND_RELATIVE = 0.5
# The percentiles of the bands.
LOW, HIGH = 5.0, 95.0
# Cells of the (accounts × draws × indicators) arrays scored at once (32 MB each): many draws at
# a time for a small profile, fewer for a big one, so memory stays bounded at any size.
_CELLS = 4_000_000

# The columns of the two marts (besides as_of_date), in order.
WEIGHT_SCHEMA = {
    "subject": pl.String,
    "profile": pl.String,
    "group": pl.String,
    "indicator": pl.String,
    "weight": pl.Float64,
    "weight_p05": pl.Float64,
    "weight_p95": pl.Float64,
    "unstable": pl.Boolean,
    "draws": pl.Int32,
    "accounts": pl.Int32,
}
RANK_SCHEMA = {
    "account_id": pl.String,
    "profile": pl.String,
    "score": pl.Float64,
    "rank": pl.Int32,
    "rank_p05": pl.Float64,
    "rank_p95": pl.Float64,
    "grade": pl.String,
    "grade_stability": pl.Float64,
    "draws": pl.Int32,
}


@dataclass
class Draws:
    """The bootstrap of one profile: per draw, the indicators' weights and every account's score."""

    samples: np.ndarray  # draws × rows: the resampled row indices of each draw
    weights: np.ndarray  # draws × indicators: group weight × weight in the group (as indicator_weights.weight)
    score: np.ndarray  # rows × draws, 0–100 (NaN where the account has no evidence)
    completeness: np.ndarray  # rows × draws: share of the draw's weight backed by real values


def _varies(spec: WeightSpec) -> bool:
    """True when the weights depend on the accounts (an objective method, alone or in a combination)."""
    return spec.method in ("entropy", "critic", "combined")


def _rng(seed: int, profile: str) -> np.random.Generator:
    # One stream per profile, from the model's seed and the profile's name: a profile's draws do
    # not depend on which other profiles the model has or in which order they are scored.
    return np.random.default_rng([seed, zlib.crc32(profile.encode("utf-8"))])


def bootstrap(
    model: ScoringModel,
    profile: Profile,
    values: np.ndarray,
    churned: np.ndarray | None = None,
    draws: int | None = None,
    seed: int | None = None,
) -> Draws:
    """Resample the rows of `values` (the peer group, as score_profile gets it) `draws` times.

    Each draw recomputes the weights that depend on data from the resampled rows, then scores
    every row (resampled or not) with them, on the same normalised values as the real score.
    `draws` and `seed` default to the model's `stability` settings.
    """
    spec = model.spec.stability
    draws = spec.draws if draws is None else draws
    seed = spec.seed if seed is None else seed
    indicators, groups = model.indicators, model.groups
    values = np.asarray(values, dtype=float)
    normalized, filled, has_value = prepare(model, profile, values, churned)
    usable = ~np.isnan(filled)
    m, n = values.shape
    samples = _rng(seed, profile.name).integers(0, m, size=(draws, m)) if m else np.zeros((draws, 0), dtype=int)
    cols = {g: [j for j, i in enumerate(indicators) if i.group == g] for g in groups}
    group_of = np.array([groups.index(i.group) for i in indicators], dtype=int)

    def within_weights(g: str, rows: np.ndarray) -> np.ndarray:
        items = [indicators[j].id for j in cols[g]]
        matrix = normalized[rows][:, cols[g]]
        return resolve_weights(profile.indicator_weights[g], items, matrix, profile.name, f"indicators:{g}").final

    # Weights no resample can change are computed once.
    fixed = {g: within_weights(g, np.arange(m)) for g in groups if not _varies(profile.indicator_weights[g])}
    fixed_between = None
    if not _varies(profile.group_weights):
        fixed_between = resolve_weights(profile.group_weights, groups, None, profile.name, "groups").final

    weights, scores, completeness = [], [], []
    step = max(1, _CELLS // max(1, m * n))
    for start in range(0, draws, step):
        chunk = samples[start : start + step]
        c = len(chunk)
        # Within each group: every draw's weights (c × k), each account's shares (m × c × k).
        eff_within = np.zeros((m, c, n))
        group_scores = np.zeros((m, c, len(groups)))
        group_has = np.zeros((m, c, len(groups)), dtype=bool)
        within = np.zeros((c, n))
        for k, g in enumerate(groups):
            w = np.stack([fixed[g] if g in fixed else within_weights(g, rows) for rows in chunk])
            within[:, cols[g]] = w
            share, present = weight_shares(usable[:, None, cols[g]], w)
            eff_within[:, :, cols[g]] = share
            group_scores[:, :, k] = np.where(
                present, 100.0 * np.nansum(share * filled[:, None, cols[g]], axis=-1), np.nan
            )
            group_has[:, :, k] = present
        # Between groups: the draw's weights from the group scores of its own resample.
        between = np.stack(
            [
                fixed_between
                if fixed_between is not None
                else resolve_weights(
                    profile.group_weights, groups, group_scores[rows, b, :] / 100.0, profile.name, "groups"
                ).final
                for b, rows in enumerate(chunk)
            ]
        )
        gshare, scored = weight_shares(group_has, between)
        effective = gshare[:, :, group_of] * eff_within
        scores.append(np.where(scored, 100.0 * np.nansum(effective * filled[:, None, :], axis=-1), np.nan))
        base = between[:, group_of] * within
        weights.append(base)
        total = base.sum(axis=1)
        share_backed = has_value.astype(float) @ base.T
        completeness.append(
            np.clip(np.divide(share_backed, total, out=np.zeros_like(share_backed), where=total > 0), 0.0, 1.0)
        )
    return Draws(
        samples=samples,
        weights=np.concatenate(weights) if weights else np.zeros((0, n)),
        score=np.concatenate(scores, axis=1) if scores else np.zeros((m, 0)),
        completeness=np.concatenate(completeness, axis=1) if completeness else np.zeros((m, 0)),
    )


def _grades(score: np.ndarray, completeness: np.ndarray, model: ScoringModel) -> np.ndarray:
    """The grade of every cell, by the same rule (grade_expr) as account_scores.grade."""
    from kam_pipeline.scoring.snapshot import grade_expr  # snapshot imports this module

    frame = pl.DataFrame({"score": score.reshape(-1), "completeness": completeness.reshape(-1)})
    grades = frame.select(grade_expr(pl.col("score"), pl.col("completeness"), model)).to_series()
    return grades.to_numpy().reshape(score.shape)


def _ranks(score: np.ndarray) -> np.ndarray:
    """Rank of every row in each column, 1 = best, ties sharing the best rank (as account_scores);
    a NaN score ranks last."""
    return stats.rankdata(np.where(np.isnan(score), np.inf, -score), method="min", axis=0).astype(float)


def stability_of(
    model: ScoringModel,
    real: ProfileScores,
    draws: Draws,
    rows: np.ndarray | None,
    ids: list[str],
    subject: str = "account",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """weight_stability and rank_stability rows of one profile from its bootstrap.

    `real` is the profile's real scores (its own accounts, as written to account_scores), `rows`
    the positions of those accounts among the bootstrap's rows (None: the same rows), `ids` their
    ids. Ranks are within the profile, over the accounts with a real score; an account without
    one has no rank_stability row.
    """
    b = draws.weights.shape[0]
    score = draws.score if rows is None else draws.score[rows]
    completeness = draws.completeness if rows is None else draws.completeness[rows]
    scored = ~np.isnan(real.score)
    accounts = int(scored.sum())
    weight = np.array([real.base_weight(i) for i in real.indicators])
    low, high = np.percentile(draws.weights, [LOW, HIGH], axis=0)
    band = high - low
    weights = pl.DataFrame(
        {
            "subject": [subject] * len(weight),
            "profile": [real.profile] * len(weight),
            "group": [i.group for i in real.indicators],
            "indicator": [i.id for i in real.indicators],
            "weight": weight,
            "weight_p05": low,
            "weight_p95": high,
            "unstable": (band > BAND_ABSOLUTE) | (band > BAND_RELATIVE * weight),
            "draws": [b] * len(weight),
            "accounts": [accounts] * len(weight),
        },
        schema=WEIGHT_SCHEMA,
    )
    own = score[scored]
    rank = _ranks(real.score[scored][:, None])[:, 0]
    draw_ranks = _ranks(own)
    rank_low, rank_high = np.percentile(draw_ranks, [LOW, HIGH], axis=1)
    grade = _grades(real.score[scored][:, None], real.completeness[scored][:, None], model)[:, 0]
    kept = (_grades(own, completeness[scored], model) == grade[:, None]).mean(axis=1)
    ranks = pl.DataFrame(
        {
            "account_id": [a for a, s in zip(ids, scored, strict=True) if s],
            "profile": [real.profile] * accounts,
            "score": real.score[scored],
            "rank": rank.astype(int),
            "rank_p05": rank_low,
            "rank_p95": rank_high,
            "grade": grade,
            "grade_stability": kept,
            "draws": [b] * accounts,
        },
        schema=RANK_SCHEMA,
    )
    return weights, ranks
