"""Indicator weights: expert scoring, AHP, entropy, CRITIC and their combination.

Every function returns weights as a float64 vector of dimensionless shares that sum
to 1, one per criterion, in the order the criteria were given. Plain NumPy, no
Dagster: the assets call these and store the result next to the scores, so every
score can be traced back to the weights that produced it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np

__all__ = [
    "RANDOM_INDEX",
    "RECIPROCAL_TOLERANCE",
    "AhpResult",
    "WeightError",
    "aggregate_judgements",
    "ahp_weights",
    "check_pairwise",
    "combine_weights",
    "critic_weights",
    "entropy_weights",
    "expert_weights",
    "game_theory_coefficients",
]

# Saaty's random consistency index RI(n): the mean CI of random reciprocal matrices
# on the 1-9 scale (Saaty 1980, the table the source guides print). Other tables
# exist (Tummala & Ling 1998, Donegan & Dodd 1991 — pymcdm uses the former), so a
# CR computed elsewhere can differ in the second decimal for the same matrix.
RANDOM_INDEX: dict[int, float] = {
    1: 0.0,
    2: 0.0,
    3: 0.58,
    4: 0.90,
    5: 1.12,
    6: 1.24,
    7: 1.32,
    8: 1.41,
    9: 1.45,
    10: 1.49,
}

# |a_ij * a_ji - 1| allowed before a pair counts as not reciprocal. Judgement files
# are typed by people who write 1/3 as 0.33 (0.33 * 3 = 0.99), so exact reciprocity
# would reject honest input; 1 % is far below the gap between scale steps.
RECIPROCAL_TOLERANCE = 0.01

_SAATY_MIN = 1.0 / 9.0
_SAATY_MAX = 9.0

# Below this, 1 - e_j or a correlation residue is floating-point noise from a
# constant column, not information; letting it through would turn noise into weights.
_NOISE = 1e-12


class WeightError(ValueError):
    """Weights cannot be computed from the input; the message says why in plain words."""


@dataclass(frozen=True)
class AhpResult:
    """AHP priorities for one pairwise comparison matrix and its consistency check.

    weights: priorities summing to 1, one per row of the matrix (read-only array).
    lambda_max: principal eigenvalue estimate (dimensionless, >= n for a reciprocal matrix).
    ci: consistency index (lambda_max - n) / (n - 1); 0 for n <= 2.
    cr: consistency ratio ci / RANDOM_INDEX[n]; 0 for n <= 2.
    n: number of items compared.
    random_index: the RI(n) used.
    accepted: cr <= the threshold the caller passed (Saaty: 0.10).
    method: "eigenvector" or "geometric".
    """

    weights: np.ndarray
    lambda_max: float
    ci: float
    cr: float
    n: int
    random_index: float
    accepted: bool
    method: str


def _cell(i: int, j: int) -> str:
    return f"(row {i + 1}, col {j + 1})"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def check_pairwise(matrix) -> list[str]:
    """List what is wrong with a pairwise comparison matrix, in plain words.

    Returns an empty list when the matrix is usable. Each problem names the offending
    cell as (row i, col j), counted from 1. Checks: square and non-empty, every entry
    finite and positive, diagonal equal to 1, reciprocal pairs (a_ij * a_ji within
    RECIPROCAL_TOLERANCE = 1 % of 1, so 1/3 typed as 0.33 is accepted), and every
    entry inside Saaty's scale [1/9, 9] (with the same 1 % slack, so 0.11 passes).
    """
    try:
        a = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        return ["the matrix could not be read as a table of numbers (rows of unequal length?)"]
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        return [f"the matrix is not square: it has shape {a.shape}"]
    n = a.shape[0]
    if n < 1:
        return ["the matrix is empty: at least one item must be compared"]

    problems: list[str] = []
    usable = np.isfinite(a) & (a > 0)
    for i in range(n):
        for j in range(n):
            x = a[i, j]
            if not np.isfinite(x):
                problems.append(f"{_cell(i, j)} is {x}, not a finite number")
            elif x <= 0:
                problems.append(f"{_cell(i, j)} is {_fmt(x)}; comparisons must be positive")

    for i in range(n):
        if usable[i, i] and not math.isclose(a[i, i], 1.0, rel_tol=1e-6):
            problems.append(
                f"{_cell(i, i)} is {_fmt(a[i, i])} but the diagonal must be 1 (an item compared with itself)"
            )

    for i in range(n):
        for j in range(i + 1, n):
            if usable[i, j] and usable[j, i]:
                product = a[i, j] * a[j, i]
                # The epsilon keeps 0.33 * 3 (0.99000...0009 in binary) on the accepted side.
                if abs(product - 1.0) > RECIPROCAL_TOLERANCE + 1e-12:
                    problems.append(
                        f"{_cell(i, j)} = {_fmt(a[i, j])} and {_cell(j, i)} = {_fmt(a[j, i])} "
                        f"are not reciprocal: their product is {_fmt(product)}, expected 1"
                    )

    low = _SAATY_MIN * (1 - RECIPROCAL_TOLERANCE) - 1e-12
    high = _SAATY_MAX * (1 + RECIPROCAL_TOLERANCE) + 1e-12
    for i in range(n):
        for j in range(n):
            if usable[i, j] and not (low <= a[i, j] <= high):
                problems.append(f"{_cell(i, j)} is {_fmt(a[i, j])}, outside Saaty's scale 1/9 .. 9")
    return problems


def ahp_weights(matrix, method: str = "eigenvector", cr_threshold: float = 0.10) -> AhpResult:
    """Derive AHP priorities and Saaty's consistency ratio from a pairwise matrix.

    matrix[i][j] says how many times item i is more important than item j (1-9 scale).
    method "eigenvector" takes the principal eigenvector (Saaty) and its eigenvalue as
    lambda_max; "geometric" takes normalised row geometric means (Crawford & Williams)
    with lambda_max = mean((A w)_i / w_i).

    Returns an AhpResult whose weights sum to 1. Raises WeightError when
    check_pairwise finds problems, for an unknown method, or for n > 10 (no random
    index). Does not raise for CR above the threshold: result.accepted is False and
    the caller decides what to do, so an inconsistent matrix can still be reported.
    """
    if method not in ("eigenvector", "geometric"):
        raise WeightError(f"unknown AHP method {method!r}; use 'eigenvector' or 'geometric'")
    if not (isinstance(cr_threshold, Real) and math.isfinite(cr_threshold) and cr_threshold >= 0):
        raise WeightError(f"cr_threshold must be a finite number >= 0, got {cr_threshold!r}")
    problems = check_pairwise(matrix)
    if problems:
        raise WeightError("the pairwise comparison matrix is not usable: " + "; ".join(problems))
    a = np.asarray(matrix, dtype=float)
    n = a.shape[0]
    if n > max(RANDOM_INDEX):
        raise WeightError(
            f"{n} items compared at once; Saaty's random index is only tabulated up to "
            f"{max(RANDOM_INDEX)}, so consistency cannot be checked — split the level into groups"
        )

    if method == "eigenvector":
        values, vectors = np.linalg.eig(a)
        k = int(np.argmax(values.real))
        lambda_max = float(values[k].real)
        # The Perron vector of a positive matrix has entries of one sign; eig may
        # return it negated, so take magnitudes before normalising.
        w = np.abs(vectors[:, k].real)
    else:
        w = np.exp(np.log(a).mean(axis=1))
        w = w / w.sum()
        lambda_max = float(np.mean((a @ w) / w))
    w = w / w.sum()

    if n <= 2:
        ci = 0.0
    else:
        # An almost-reciprocal matrix (0.33 for 1/3) can put lambda_max a hair under n;
        # a negative inconsistency means nothing, so it is reported as 0.
        ci = max(0.0, (lambda_max - n) / (n - 1))
    ri = RANDOM_INDEX[n]
    cr = ci / ri if ri > 0 else 0.0
    w.flags.writeable = False
    return AhpResult(
        weights=w,
        lambda_max=lambda_max,
        ci=float(ci),
        cr=float(cr),
        n=n,
        random_index=ri,
        accepted=bool(cr <= cr_threshold),
        method=method,
    )


def _as_matrix(matrix, what: str) -> np.ndarray:
    try:
        x = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        raise WeightError(f"the {what} could not be read as a table of numbers") from None
    if x.ndim != 2:
        raise WeightError(f"the {what} must be two-dimensional, got shape {x.shape}")
    if x.shape[1] < 1:
        raise WeightError(f"the {what} has no criteria (no columns)")
    return x


def _first(mask: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first True cell of mask (row-major), or None."""
    hits = np.argwhere(mask)
    return tuple(int(v) for v in hits[0]) if len(hits) else None


def _equal(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def expert_weights(scores, trim: float = 0.0) -> np.ndarray:
    """Weights from several experts' importance scores (专家打分法).

    scores has one row per expert and one column per criterion; entries are
    non-negative importance scores on any scale (each expert's row is first rescaled
    to sum 1, so one generous scorer does not outweigh the others). The per-criterion
    mean over experts is trimmed: the floor(trim * experts) lowest and highest values
    of each criterion are dropped (trim=0.2 with 5 experts drops one at each end).

    Returns weights summing to 1, one per criterion. Raises WeightError for negative
    or non-finite scores, an expert whose scores are all zero, trim outside [0, 0.5),
    or when trimming leaves every criterion at zero.
    """
    s = _as_matrix(scores, "expert score table")
    k, n = s.shape
    if k < 1:
        raise WeightError("no expert scores given")
    if not (isinstance(trim, Real) and 0.0 <= trim < 0.5):
        raise WeightError(f"trim must be in [0, 0.5), got {trim!r}")
    bad = _first(~np.isfinite(s))
    if bad:
        i, j = bad
        raise WeightError(f"expert {i + 1}, criterion {j + 1}: score is {s[i, j]}, not a number")
    bad = _first(s < 0)
    if bad:
        i, j = bad
        raise WeightError(f"expert {i + 1}, criterion {j + 1}: score {_fmt(s[i, j])} is negative")
    totals = s.sum(axis=1)
    bad = _first(totals == 0)
    if bad:
        raise WeightError(f"expert {bad[0] + 1} gave every criterion a score of 0; no importance to share")

    shares = s / totals[:, None]
    cut = math.floor(trim * k)
    # cut < k/2 because trim < 0.5, so at least one value per criterion survives.
    kept = np.sort(shares, axis=0)[cut : k - cut]
    mean = kept.mean(axis=0)
    total = mean.sum()
    if total <= 0:
        raise WeightError(
            "after trimming, every criterion has zero importance (the experts disagree completely); use a smaller trim"
        )
    return mean / total


def entropy_weights(matrix) -> np.ndarray:
    """Entropy weights (熵权法) from a matrix of m alternatives x n criteria.

    The matrix must already be normalised in the direction "higher is better" and be
    non-negative; NaN is refused (the caller drops or imputes missing values first).
    p_ij = x_ij / sum_i x_ij, e_j = -(1 / ln m) * sum_i p_ij ln p_ij with 0 ln 0 = 0,
    d_j = 1 - e_j, w_j = d_j / sum d. A column summing to 0 carries no information
    (e_j = 1, weight 0).

    Returns weights summing to 1. When fewer than two alternatives are given, or no
    column discriminates between alternatives (all d_j = 0), returns equal weights,
    since the data say nothing about which criterion matters more.
    """
    x = _as_matrix(matrix, "decision matrix")
    m, n = x.shape
    if np.isnan(x).any():
        raise WeightError("the decision matrix contains NaN; drop or impute missing values before weighting")
    if not np.isfinite(x).all():
        raise WeightError("the decision matrix contains infinite values")
    bad = _first(x < 0)
    if bad:
        i, j = bad
        raise WeightError(
            f"entropy weights need non-negative values; {_cell(i, j)} is {_fmt(x[i, j])} "
            "(normalise the indicators first)"
        )
    if m < 2:
        return _equal(n)

    col_sums = x.sum(axis=0)
    informative = col_sums > 0
    p = np.zeros_like(x)
    p[:, informative] = x[:, informative] / col_sums[informative]
    plogp = np.zeros_like(p)
    positive = p > 0
    plogp[positive] = p[positive] * np.log(p[positive])
    e = np.where(informative, -plogp.sum(axis=0) / math.log(m), 1.0)
    d = 1.0 - e
    d[d < _NOISE] = 0.0
    total = d.sum()
    if total == 0:
        return _equal(n)
    return d / total


def critic_weights(matrix) -> np.ndarray:
    """CRITIC weights (Diakoulaki, Mavrotas & Papayannakis 1995).

    The matrix (m alternatives x n criteria) must already be normalised so that
    higher is better for every criterion — direction is the normaliser's job, since
    flipping a column changes the sign of its correlations. sigma_j is the sample
    standard deviation (ddof=1), r_jk the Pearson correlation, and
    C_j = sigma_j * sum_k (1 - r_jk), w_j = C_j / sum C.

    A constant column has sigma = 0, so C_j = 0, and its correlations (undefined) are
    taken as 0 so that no NaN reaches the other criteria. Returns weights summing to
    1; equal weights when fewer than two alternatives are given or every C_j is 0
    (all columns constant, or all perfectly correlated).
    """
    x = _as_matrix(matrix, "decision matrix")
    m, n = x.shape
    if not np.isfinite(x).all():
        raise WeightError("the decision matrix contains NaN or infinite values; handle missing values first")
    if m < 2:
        return _equal(n)

    centred = x - x.mean(axis=0)
    sigma = x.std(axis=0, ddof=1)
    constant = np.ptp(x, axis=0) == 0
    sigma[constant] = 0.0
    r = np.zeros((n, n))
    live = ~constant
    if live.any():
        c = centred[:, live]
        s = sigma[live]
        cov = (c.T @ c) / (m - 1)
        r[np.ix_(live, live)] = np.clip(cov / np.outer(s, s), -1.0, 1.0)
    np.fill_diagonal(r, 1.0)
    conflict = (1.0 - r).sum(axis=1)
    c_j = sigma * conflict
    c_j[c_j < _NOISE] = 0.0
    total = c_j.sum()
    if total == 0:
        return _equal(n)
    return c_j / total


def _as_weight_vector(w, what: str) -> np.ndarray:
    try:
        v = np.asarray(w, dtype=float)
    except (TypeError, ValueError):
        raise WeightError(f"the {what} weights could not be read as numbers") from None
    if v.ndim != 1 or v.size < 1:
        raise WeightError(f"the {what} weights must be a non-empty list, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise WeightError(f"the {what} weights contain NaN or infinite values")
    if (v < 0).any():
        raise WeightError(f"the {what} weights contain negative values")
    total = v.sum()
    if total <= 0:
        raise WeightError(f"the {what} weights are all zero")
    return v / total


def combine_weights(subjective, objective, method: str = "linear", alpha: float = 0.5) -> np.ndarray:
    """Combine subjective (expert/AHP) and objective (entropy/CRITIC) weights (组合赋权法).

    Both inputs are rescaled to sum 1 first. Methods:
    - "linear": alpha * w_s + (1 - alpha) * w_o, alpha in [0, 1] is the subjective share.
    - "multiplicative": w_s * w_o renormalised. If every product is 0 (the two vectors
      put weight on disjoint criteria) the product says nothing, so the linear rule
      with the same alpha is used instead.
    - "game_theory": the game-theory combined weighting. Coefficients a solve the
      2x2 system (W W^T) a = diag(W W^T) with W = [w_s; w_o] — the combination whose
      inner product with each input equals that input's own squared norm — then
      a = |a| / sum |a| and w = a1 * w_s + a2 * w_o. alpha is ignored. Identical
      inputs make the system singular; the answer is then that common vector.

    Returns combined weights summing to 1. Raises WeightError for mismatched
    lengths, negative/non-finite/all-zero inputs, alpha outside [0, 1] or an
    unknown method.
    """
    ws = _as_weight_vector(subjective, "subjective")
    wo = _as_weight_vector(objective, "objective")
    if ws.shape != wo.shape:
        raise WeightError(
            f"subjective and objective weights cover different numbers of criteria ({ws.size} vs {wo.size})"
        )
    if method not in ("linear", "multiplicative", "game_theory"):
        raise WeightError(f"unknown combination method {method!r}; use 'linear', 'multiplicative' or 'game_theory'")
    if not (isinstance(alpha, Real) and 0.0 <= alpha <= 1.0):
        raise WeightError(f"alpha must be in [0, 1], got {alpha!r}")

    def linear() -> np.ndarray:
        w = alpha * ws + (1.0 - alpha) * wo
        return w / w.sum()

    if method == "linear":
        return linear()
    if method == "multiplicative":
        product = ws * wo
        total = product.sum()
        return product / total if total > 0 else linear()

    coef = game_theory_coefficients(ws, wo)
    w = coef[0] * ws + coef[1] * wo
    return w / w.sum()


def game_theory_coefficients(subjective, objective) -> np.ndarray:
    """The game-theory combination coefficients α* = (α*_subjective, α*_objective), summing to 1.

    α solves (u_i · u_j) α = (u_i · u_i) for the two weight vectors u (each rescaled to
    sum 1 first), then α* = |α| / Σ|α|. Two equal vectors make the system singular; any
    combination is then that vector, and (1, 0) is returned. Raises WeightError as
    combine_weights does for unusable inputs.
    """
    ws = _as_weight_vector(subjective, "subjective")
    wo = _as_weight_vector(objective, "objective")
    if ws.shape != wo.shape:
        raise WeightError(
            f"subjective and objective weights cover different numbers of criteria ({ws.size} vs {wo.size})"
        )
    gram = np.array([[ws @ ws, ws @ wo], [wo @ ws, wo @ wo]])
    det = gram[0, 0] * gram[1, 1] - gram[0, 1] ** 2
    # det / (|ws|^2 |wo|^2) = sin^2 of the angle between them; two sum-1 vectors are
    # parallel only when equal, and then any combination is that vector.
    if det <= _NOISE * gram[0, 0] * gram[1, 1]:
        return np.array([1.0, 0.0])
    coef = np.abs(np.linalg.solve(gram, np.diag(gram)))
    return coef / coef.sum()


def aggregate_judgements(matrices) -> np.ndarray:
    """The element-wise geometric mean of several experts' pairwise comparison matrices (AIJ).

    Aggregating individual judgements this way keeps the result reciprocal and on Saaty's
    scale (Aczél & Saaty 1983; Forman & Peniwati 1998), so it can be weighted and checked
    like one expert's matrix. Returns the aggregate matrix; raises WeightError when no
    matrix is given, when their shapes differ, or when one is not a usable pairwise matrix.
    """
    if not len(matrices):
        raise WeightError("no expert matrices given")
    arrays = []
    for k, matrix in enumerate(matrices, start=1):
        problems = check_pairwise(matrix)
        if problems:
            raise WeightError(f"matrix {k} is not usable: " + "; ".join(problems))
        arrays.append(np.asarray(matrix, dtype=float))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise WeightError(f"the expert matrices have different shapes: {', '.join(str(s) for s in sorted(shapes))}")
    return np.exp(np.mean(np.log(np.stack(arrays)), axis=0))
