"""Other ranking methods beside the weighted sum: TOPSIS and grey relational analysis (GRA).

Both work on the same (accounts × indicators) matrix of normalised values the score uses
(higher is better, in [0, 1], policy values of imputed cells included) and the profile's
final weights, so a difference in rank comes from the method alone. Plain NumPy, no
Dagster; `method_comparison_of` and `method_agreement_of` build the rows of the marts.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from kam_pipeline.scoring.engine import ProfileScores

__all__ = [
    "COMPARISON_SCHEMA",
    "grey_relational_grades",
    "method_agreement_of",
    "method_comparison_of",
    "method_matrix",
    "topsis",
]

# The columns of marts.method_comparison (besides as_of_date), in order.
COMPARISON_SCHEMA = {
    "account_id": pl.String,
    "profile": pl.String,
    "score": pl.Float64,
    "rank": pl.Int32,
    "topsis_closeness": pl.Float64,
    "topsis_rank": pl.Int32,
    "gra_grade": pl.Float64,
    "gra_rank": pl.Int32,
}


def method_matrix(normalized, weights) -> tuple[np.ndarray, np.ndarray]:
    """The complete matrix and weights the methods compare: (x, w).

    A cell still missing takes its column's mean over the accounts given (it adds no
    dispersion); a column with no value at all is dropped, and the weights are
    renormalised over the kept columns. Returns x (accounts × kept columns) and w (summing
    to 1); both have no columns when nothing is left to compare (no value, or no weight).
    """
    x = np.array(normalized, dtype=float)
    w = np.asarray(weights, dtype=float)
    if x.ndim != 2 or w.shape != (x.shape[1],):
        raise ValueError(f"weights must have one entry per column of the matrix, got {w.shape} for {x.shape}")
    keep = ~np.isnan(x).all(axis=0) if x.shape[0] else np.zeros(x.shape[1], dtype=bool)
    x, w = x[:, keep], w[keep]
    if w.sum() <= 0:
        return np.zeros((x.shape[0], 0)), np.zeros(0)
    means = np.nanmean(x, axis=0) if x.shape[1] else np.zeros(0)
    x = np.where(np.isnan(x), means, x)
    return x, w / w.sum()


def topsis(x, w) -> np.ndarray:
    """TOPSIS closeness of every row of a benefit matrix x (higher is better) under weights w.

    v = w·x; the ideal and anti-ideal are the column max and min of v; closeness =
    d⁻ / (d⁺ + d⁻) with Euclidean distances, 0.5 when both are 0 (every row equal).
    Returns one closeness in [0, 1] per row; 1 is the ideal itself.
    """
    v = np.asarray(x, dtype=float) * np.asarray(w, dtype=float)
    if v.shape[0] == 0:
        return np.zeros(0)
    to_ideal = np.sqrt(((v - v.max(axis=0)) ** 2).sum(axis=1))
    to_anti = np.sqrt(((v - v.min(axis=0)) ** 2).sum(axis=1))
    total = to_ideal + to_anti
    return np.divide(to_anti, total, out=np.full(v.shape[0], 0.5), where=total > 0)


def grey_relational_grades(x, w, rho: float = 0.5) -> np.ndarray:
    """Deng's grey relational grade of every row of a benefit matrix x against the column maxima.

    Δ = |reference − x| with the reference the column max; ξ = (Δmin + ρ·Δmax) / (Δ + ρ·Δmax),
    Δmin and Δmax over the whole matrix (ξ = 1 when Δmax = 0: every row is the reference);
    grade = Σ w·ξ. Returns one grade in [0, 1] per row (1 = the reference itself).
    """
    if not 0 < rho <= 1:
        raise ValueError(f"rho must be in (0, 1], got {rho!r}")
    x = np.asarray(x, dtype=float)
    if x.shape[0] == 0:
        return np.zeros(0)
    delta = np.abs(x.max(axis=0) - x)
    low, high = (float(delta.min()), float(delta.max())) if delta.size else (0.0, 0.0)
    xi = np.ones_like(delta) if high == 0 else (low + rho * high) / (delta + rho * high)
    # Σw = 1 up to rounding: keep the grade inside [0, 1] exactly.
    return np.clip(xi @ np.asarray(w, dtype=float), 0.0, 1.0)


def _rank(column: str) -> pl.Expr:
    # As account_scores ranks: 1 = best, ties share the best rank.
    return pl.col(column).rank("min", descending=True).cast(pl.Int32)


def method_comparison_of(result: ProfileScores, ids: list[str], rho: float) -> pl.DataFrame:
    """method_comparison rows of one profile: the scored accounts with their rank under each method.

    Accounts without a score (no evidence) are left out, as they are left out of every rank.
    """
    scored = ~np.isnan(result.score)
    weights = np.array([result.base_weight(i) for i in result.indicators])
    x, w = method_matrix(result.normalized[scored], weights)
    empty = x.shape[1] == 0
    closeness = np.full(x.shape[0], np.nan) if empty else topsis(x, w)
    grades = np.full(x.shape[0], np.nan) if empty else grey_relational_grades(x, w, rho)
    frame = pl.DataFrame(
        {
            "account_id": pl.Series([a for a, s in zip(ids, scored, strict=True) if s], dtype=pl.String),
            "profile": pl.repeat(result.profile, x.shape[0], dtype=pl.String, eager=True),
            "score": result.score[scored],
            "topsis_closeness": closeness,
            "gra_grade": grades,
        }
    ).with_columns(pl.col("topsis_closeness", "gra_grade").fill_nan(None))
    return frame.with_columns(
        _rank("score").alias("rank"),
        _rank("topsis_closeness").alias("topsis_rank"),
        _rank("gra_grade").alias("gra_rank"),
    ).select(list(COMPARISON_SCHEMA))


def _correlation(kind: str, a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's ρ or Kendall's τ-b of two columns; None when undefined (under 2 values, or one is constant)."""
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    value = stats.spearmanr(a, b).statistic if kind == "spearman" else stats.kendalltau(a, b).statistic
    return float(value)


def method_agreement_of(comparison: pl.DataFrame) -> pl.DataFrame:
    """method_agreement rows: per profile, the accounts and the rank correlations of TOPSIS and GRA with the score."""
    rows = []
    for (profile,), part in comparison.group_by("profile", maintain_order=True):
        score = part.get_column("score").cast(pl.Float64).fill_null(np.nan).to_numpy()
        row: dict[str, object] = {"profile": profile, "accounts": part.height}
        for method, column in (("topsis", "topsis_closeness"), ("gra", "gra_grade")):
            other = part.get_column(column).cast(pl.Float64).fill_null(np.nan).to_numpy()
            row[f"{method}_spearman"] = _correlation("spearman", score, other)
            row[f"{method}_kendall"] = _correlation("kendall", score, other)
        rows.append(row)
    schema = {
        "profile": pl.String,
        "accounts": pl.Int32,
        "topsis_spearman": pl.Float64,
        "topsis_kendall": pl.Float64,
        "gra_spearman": pl.Float64,
        "gra_kendall": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)
