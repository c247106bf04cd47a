"""Indicator normalisers: raw indicator values -> dimensionless scores in [0, 1].

Each function takes one indicator's values across the accounts being compared and
returns a float64 array of the same length, where 1 is best and 0 worst in the
indicator's direction ("higher" is better, or "lower" is better — churn, complaint
rate, resolution time). NaN stays NaN: a missing value is missing evidence, never a
zero, and the scorer counts it as such. NaN values are also left out of every
statistic (min, max, mean, ranks). No Dagster import.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import numpy as np

__all__ = [
    "CONSTANT_SCORE",
    "bounded",
    "DIRECTIONS",
    "METHODS",
    "clipped_zscore",
    "log_min_max",
    "min_max",
    "normalize",
    "percentile_rank",
    "target_attainment",
]

DIRECTIONS = ("higher", "lower")

# Score given to every account when an indicator does not separate them (a constant
# column, or a single account with a value). Nobody is better or worse than anybody
# else, so everybody sits at the midpoint: the same answer percentile_rank (all tied)
# and clipped_zscore (z = 0) give, it is unchanged by flipping the direction, and it
# neither lifts nor sinks anyone's total relative to the others. 1.0 (pymcdm's
# choice) would turn into 0.0 under direction "lower".
CONSTANT_SCORE = 0.5


def _vector(values) -> np.ndarray:
    try:
        x = np.array(values, dtype=float)  # a copy: callers' arrays are never modified
    except (TypeError, ValueError):
        raise ValueError("indicator values could not be read as numbers") from None
    if x.ndim != 1:
        raise ValueError(f"indicator values must be one-dimensional, got shape {x.shape}")
    if np.isinf(x).any():
        raise ValueError("indicator values contain infinity; only finite numbers or NaN (missing) are allowed")
    return x


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")


def _positive(name: str, value) -> float:
    if not (isinstance(value, Real) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _orient(score: np.ndarray, direction: str) -> np.ndarray:
    """Clip to [0, 1] and flip for direction 'lower'; NaN passes through untouched."""
    score = np.clip(score, 0.0, 1.0)
    return 1.0 - score if direction == "lower" else score


def min_max(values, direction: str) -> np.ndarray:
    """(x - min) / (max - min) over the non-missing values, flipped (1 - s) for "lower".

    Returns scores in [0, 1], NaN where the input is NaN. If the non-missing values
    are all equal (or there is only one), every one of them scores CONSTANT_SCORE (0.5).
    """
    _check_direction(direction)
    x = _vector(values)
    present = ~np.isnan(x)
    out = np.full_like(x, np.nan)
    if not present.any():
        return out
    lo, hi = x[present].min(), x[present].max()
    if hi == lo:
        out[present] = CONSTANT_SCORE
        return out
    out[present] = (x[present] - lo) / (hi - lo)
    return _orient(out, direction)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x (no NaN), ties sharing the mean of the ranks they span."""
    unique, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))  # 0-based start of each tie block
    mean_rank = first + (counts + 1) / 2.0
    return mean_rank[inverse]


def percentile_rank(values, direction: str) -> np.ndarray:
    """(rank - 1) / (k - 1) among the k non-missing values, ties getting their average rank.

    Returns scores in [0, 1] (0 = lowest value, 1 = highest, before the direction
    flip), NaN where the input is NaN. Robust to outliers: only order matters. A
    single non-missing value scores CONSTANT_SCORE (0.5), as does a fully tied column.
    """
    _check_direction(direction)
    x = _vector(values)
    present = ~np.isnan(x)
    out = np.full_like(x, np.nan)
    k = int(present.sum())
    if k == 0:
        return out
    if k == 1:
        out[present] = CONSTANT_SCORE
        return out
    out[present] = (_average_ranks(x[present]) - 1.0) / (k - 1)
    return _orient(out, direction)


def clipped_zscore(values, direction: str, clip: float = 3.0) -> np.ndarray:
    """z = (x - mean) / std (population std, ddof=0), clipped to +-clip, mapped to (z + clip) / (2 clip).

    Returns scores in [0, 1] with the mean at 0.5, NaN where the input is NaN.
    Clipping keeps one extreme account from squeezing everyone else into a narrow
    band. A column with zero spread scores CONSTANT_SCORE (0.5) everywhere.
    """
    _check_direction(direction)
    clip = _positive("clip", clip)
    x = _vector(values)
    present = ~np.isnan(x)
    out = np.full_like(x, np.nan)
    if not present.any():
        return out
    v = x[present]
    std = v.std()
    if std == 0:
        out[present] = CONSTANT_SCORE
        return out
    z = np.clip((v - v.mean()) / std, -clip, clip)
    out[present] = (z + clip) / (2.0 * clip)
    return _orient(out, direction)


def log_min_max(values, direction: str) -> np.ndarray:
    """min_max of sign(x) * log1p(|x|), for heavy-tailed amounts (revenue, order size).

    The signed log keeps negatives (losses, refunds) on the scale and keeps one huge
    account from pushing all others towards 0. Returns scores in [0, 1], NaN kept.
    """
    x = _vector(values)
    return min_max(np.sign(x) * np.log1p(np.abs(x)), direction)


def target_attainment(values, direction: str, target: float, cap: float = 1.0) -> np.ndarray:
    """Attainment of a KPI target, as a share of the cap.

    higher: clip(x / target, 0, cap) / cap — x = target scores 1/cap, x >= cap*target scores 1.
    lower:  clip(target / x, 0, cap) / cap for x > 0; x <= 0 scores 1 (zero complaints
            or zero overdue days cannot be bettered, and target / 0 is undefined).
    target must be > 0 (same unit as the values); cap > 0 is the over-achievement
    ratio that still earns credit (cap=1.2: up to 120 % of target counts).

    Returns scores in [0, 1], NaN where the input is NaN.
    """
    _check_direction(direction)
    target = _positive("target", target)
    cap = _positive("cap", cap)
    x = _vector(values)
    out = np.full_like(x, np.nan)
    present = ~np.isnan(x)
    if direction == "higher":
        out[present] = np.clip(x[present] / target, 0.0, cap) / cap
    else:
        v = x[present]
        ratio = np.full_like(v, cap)  # x <= 0: at the best possible level
        pos = v > 0
        ratio[pos] = np.clip(target / v[pos], 0.0, cap)
        out[present] = ratio / cap
    return out


def bounded(values, direction: str, bounds) -> np.ndarray:
    """(x - lo) / (hi - lo) on a fixed scale bounds = (lo, hi), clipped to [0, 1], flipped for "lower".

    For indicators on a known scale (shares 0-1, survey scores 0-100, NPS -100..100):
    the score of an account does not depend on who else is compared, so one account
    alone is judged, and the best of a weak group is not made perfect. Returns scores
    in [0, 1], NaN where the input is NaN.
    """
    _check_direction(direction)
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be two numbers [lo, hi], got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lo < hi, got [{lo:g}, {hi:g}]")
    x = _vector(values)
    return _orient((x - lo) / (hi - lo), direction)


METHODS: dict[str, Callable[..., np.ndarray]] = {
    "minmax": min_max,
    "percentile": percentile_rank,
    "zscore": clipped_zscore,
    "log_minmax": log_min_max,
    "target": target_attainment,
    "bounded": bounded,
}


def normalize(values, method: str, direction: str, **options) -> np.ndarray:
    """Normalise one indicator by method name ("minmax", "percentile", "zscore",
    "log_minmax", "target", "bounded"); options go to that method (clip=, target=, cap=, bounds=).

    Returns scores in [0, 1] with NaN kept, as the chosen method does.
    """
    try:
        fn = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown normalisation method {method!r}; choose one of {', '.join(METHODS)}") from None
    return fn(values, direction, **options)
