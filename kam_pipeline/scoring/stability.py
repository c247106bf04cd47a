"""How stable a profile's weights and ranks are: a bootstrap over the profile's accounts.

Objective weights (entropy, CRITIC, and the objective half of a combination) come from the
accounts being scored, so a different but equally plausible set of accounts would weigh the
indicators differently. Each draw resamples the rows of the profile's peer group with
replacement, recomputes the weights on the resample with the engine's own resolve_weights
(subjective weights stay as they are; the combination is the configured one), and scores
every account of the profile with the draw's weights, keeping the normalised values of the
real score (see docs/scoring_model.md, "Stability"). Plain NumPy, no Dagster: `bootstrap`
returns the draw matrices, `stability_of` the rows of marts.weight_stability and
marts.rank_stability from them; `profile_stability` (what score_snapshot calls) gives the same
rows a chunk of draws at a time, without the (accounts × draws) matrices.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from kam_pipeline.scoring.engine import ProfileScores, prepare, resolve_weights
from kam_pipeline.scoring.model import Profile, ScoringModel, WeightSpec
from kam_pipeline.scoring.weights import _NOISE, combine_weights

__all__ = [
    "BAND_ABSOLUTE",
    "BAND_RELATIVE",
    "RANK_SCHEMA",
    "WEIGHT_SCHEMA",
    "Draws",
    "bootstrap",
    "profile_stability",
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
    cells: int = _CELLS,
) -> Draws:
    """Resample the rows of `values` (the peer group, as score_profile gets it) `draws` times.

    Each draw recomputes the weights that depend on data from the resampled rows, then scores
    every row (resampled or not) with them, on the same normalised values as the real score.
    `draws` and `seed` default to the model's `stability` settings; `cells` bounds the arrays of
    one chunk of draws (it does not change the draws). The matrices hold rows × draws cells each:
    profile_stability gives the marts' rows without them.
    """
    resampler = _Resampler(model, profile, values, churned, draws, seed)
    m, n, b = resampler.m, resampler.n, resampler.draws
    samples = np.zeros((b, m), dtype=int)
    weights = np.zeros((b, n))
    score = np.zeros((m, b))
    completeness = np.zeros((m, b))
    with _narrow_products():
        for chunk in resampler.chunks(cells):
            part = slice(chunk.start, chunk.start + len(chunk.samples))
            samples[part] = chunk.samples
            weights[part] = chunk.weights
            score[:, part] = chunk.score[resampler.inverse]
            completeness[:, part] = chunk.completeness[resampler.inverse]
    return Draws(samples=samples, weights=weights, score=score, completeness=completeness)


def _narrow_products() -> threadpool_limits:
    """One BLAS thread while a bootstrap runs (for the whole process: OpenBLAS's setting is global).

    The chunks' matrix products are narrow (a group's few indicators, a chunk's few draws): a
    second OpenBLAS thread mostly waited for the first. In a daily run at 44,053 accounts the
    scoring step took 4.3 CPU-s in 4.1 s with one thread, 5.7 CPU-s in the same wall time with
    two; 48 against about 65 CPU-s at 440,529 accounts, about a second longer (docs/performance.md).
    """
    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class _Chunk:
    """Consecutive draws of a bootstrap, from draw `start` on; scores of the distinct rows only."""

    start: int
    samples: np.ndarray  # draws × rows
    weights: np.ndarray  # draws × indicators
    score: np.ndarray  # distinct rows × draws
    completeness: np.ndarray  # distinct rows × draws


class _Resampler:
    """The draws of one profile's bootstrap, a chunk of draws at a time (see bootstrap)."""

    def __init__(
        self,
        model: ScoringModel,
        profile: Profile,
        values: np.ndarray,
        churned: np.ndarray | None,
        draws: int | None,
        seed: int | None,
    ) -> None:
        spec = model.spec.stability
        self.draws = spec.draws if draws is None else draws
        self.seed = spec.seed if seed is None else seed
        self.model, self.profile = model, profile
        indicators, groups = model.indicators, model.groups
        values = np.asarray(values, dtype=float)
        normalized, filled, has_value = prepare(model, profile, values, churned)
        usable = ~np.isnan(filled)
        self.m, self.n = values.shape
        self.cols = {g: [j for j, i in enumerate(indicators) if i.group == g] for g in groups}
        self.group_of = np.array([groups.index(i.group) for i in indicators], dtype=int)
        # A draw's score depends on an account only through its row of (filled, usable, has_value):
        # accounts with the same row are scored once, so they keep exactly equal scores (and tie).
        filled[~usable] = 0.0  # in place: the values of np.where(usable, filled, 0.0) without a copy
        first, self.inverse = _distinct_rows((filled, usable, has_value))
        # Of the distinct rows, each group's columns as the chunks' matrix products read them (not copied
        # out of one matrix for every chunk), the 0/1 ones as booleans (an eighth of the bytes; the products
        # cast them back exactly); the prepared matrices are freed before the weights' own arrays are built.
        self.u = len(first)
        self.u_filled = {g: filled[np.ix_(first, self.cols[g])] for g in groups}
        self.u_usable = {g: usable[np.ix_(first, self.cols[g])] for g in groups}
        self.u_has = has_value[first]
        del filled, usable, has_value
        self.within_rules = {
            g: _WithinWeights(profile, g, [indicators[j].id for j in self.cols[g]], normalized[:, self.cols[g]])
            for g in groups
        }
        # The entropy groups' columns side by side, as each chunk's counts of the rows are multiplied
        # by them: two matrix products for all those groups at once (see _entropy_terms).
        entropic = [g for g in groups if self.within_rules[g].entropy]
        self.entropy_bounds: dict[str, tuple[int, int]] = {}
        for g in entropic:
            start = sum(len(self.cols[e]) for e in self.entropy_bounds)
            self.entropy_bounds[g] = (start, start + len(self.cols[g]))
        self.entropy_known, self.entropy_terms = _entropy_terms(
            normalized[:, [j for g in entropic for j in self.cols[g]]]
        )
        self.fixed_between = None
        if not _varies(profile.group_weights):
            self.fixed_between = resolve_weights(profile.group_weights, groups, None, profile.name, "groups").final

    def chunks(self, cells: int = _CELLS) -> Iterator[_Chunk]:
        """The draws in order, as many at a time as keep each chunk's arrays near `cells` cells."""
        m = self.m
        # The draws' row indices come chunk by chunk from one stream: the same numbers as drawing
        # them all at once, without a draws × rows matrix.
        rng = _rng(self.seed, self.profile.name)
        # Bounded by the distinct rows (groups × rows × draws of group scores) and by the rows
        # (each draw's count of every row; scores of every row), so that many equal rows do not
        # let a chunk grow with the draws.
        step = max(1, cells // max(1, self.u * max(1, len(self.model.groups)), m))
        for start in range(0, self.draws, step):
            c = min(step, self.draws - start)
            yield self._chunk(start, rng.integers(0, m, size=(c, m)) if m else np.zeros((c, 0), dtype=int), cells)

    def _chunk(self, start: int, chunk: np.ndarray, cells: int) -> _Chunk:
        """The weights and the scores of every distinct row of the draws `chunk` (draws × rows), from
        draw `start` on; `cells` bounds the rows of one matrix product."""
        groups, cols, n, u = self.model.groups, self.cols, self.n, self.u
        c = len(chunk)
        within = np.zeros((c, n))
        # The sums the entropy weights of every entropy group read, from each draw's count of every row.
        entropy_sums: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if self.entropy_bounds:
            counts = _counts(chunk, self.m)
            n_known, terms = counts @ self.entropy_known, counts @ self.entropy_terms
            del counts
            k = n_known.shape[1]
            for g, (a, b) in self.entropy_bounds.items():
                entropy_sums[g] = (n_known[:, a:b], terms[:, a:b], terms[:, k + a : k + b])
        for g in groups:
            within[:, cols[g]] = self.within_rules[g].draws(chunk, entropy_sums.get(g))
        # Group scores of every distinct row and draw (groups × rows × draws): 100 · Σ w·value / Σ w
        # over the row's usable indicators of the group (two matrix products), NaN where none is usable.
        group_scores = np.full((len(groups), u, c), np.nan)
        for k, g in enumerate(groups):
            w = within[:, cols[g]].T
            num, den = self.u_filled[g] @ w, self.u_usable[g] @ w
            np.divide(100.0 * num, den, out=group_scores[k], where=den > 0)
        # Between groups: the draw's weights from the group scores of its own resample.
        between = np.zeros((c, len(groups)))
        for b, rows in enumerate(chunk):
            between[b] = (
                self.fixed_between
                if self.fixed_between is not None
                else resolve_weights(
                    self.profile.group_weights,
                    groups,
                    group_scores[:, self.inverse[rows], b].T / 100.0,
                    self.profile.name,
                    "groups",
                ).final
            )
        # The score: the group scores weighted by the draw's group weights, shared among the groups
        # the row has (as weight_shares does), NaN when it has none with a positive weight.
        weighed, total = np.zeros((u, c)), np.zeros((u, c))
        for k in range(len(groups)):
            present = ~np.isnan(group_scores[k])
            w = np.where(present, between[None, :, k], 0.0)
            total += w
            weighed += w * np.where(present, group_scores[k], 0.0)
        scores = np.divide(weighed, total, out=np.full((u, c), np.nan), where=total > 0)
        base = between[:, self.group_of] * within
        sums = base.sum(axis=1)
        # A block of rows at a time: the product casts the booleans to a float copy of what it reads.
        backed = np.empty((u, c))
        rows = max(1, cells // max(1, n))
        for row in range(0, u, rows):
            backed[row : row + rows] = self.u_has[row : row + rows] @ base.T
        np.divide(backed, sums, out=backed, where=sums > 0)
        backed[:, sums <= 0] = 0.0
        return _Chunk(start, chunk, base, scores, np.clip(backed, 0.0, 1.0))


def _distinct_rows(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each distinct row of the key np.column_stack(parts) (no NaN), and each row's
    position among those.

    Rows are told apart by a 64-bit hash of their values, then checked equal to their group's
    first row; in the (astronomically rare) case of a collision, by np.unique's exact comparison.
    """
    m = len(parts[0])
    if m == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)

    def key(rows: slice | np.ndarray) -> np.ndarray:
        return np.column_stack([part[rows] for part in parts])

    # The key is built, hashed and checked a block of rows at a time: whole (as floats) it would be
    # larger than the matrices it is made of, as would polars' frame of it or the rows compared.
    # A row's hash depends on that row only.
    block = max(1, _CELLS // max(1, sum(part.shape[1] for part in parts)))
    blocks = [slice(start, start + block) for start in range(0, m, block)]
    hashes = np.concatenate([pl.DataFrame(key(rows)).hash_rows(seed=0).to_numpy() for rows in blocks])
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not all(np.array_equal(key(first[inverse[rows]]), key(rows)) for rows in blocks):
        _, first, inverse = np.unique(key(slice(None)), axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    return first, inverse


class _WithinWeights:
    """The weights inside one group for a chunk of draws (draws × the group's indicators).

    Weights no resample can change are computed once. Entropy weights, alone or as the objective
    half of a combination, are computed for all the draws of a chunk at once from sums over each
    draw's count of every row (see _entropy_of_sums); other objective weights (CRITIC) are
    recomputed on each draw's resampled rows with the engine's resolve_weights.
    """

    def __init__(self, profile: Profile, group: str, items: list[str], matrix: np.ndarray) -> None:
        self.spec = profile.indicator_weights[group]
        self.profile, self.level, self.items, self.matrix = profile.name, f"indicators:{group}", items, matrix
        self.m = matrix.shape[0]
        self.fixed = None if _varies(self.spec) else self._resolve(np.arange(self.m))
        objective = self.spec.objective if self.spec.method == "combined" else self.spec
        self.entropy = self.fixed is None and objective.method == "entropy"
        self.subjective = None
        if self.entropy and self.spec.method == "combined":
            self.subjective = resolve_weights(self.spec.subjective, items, None, self.profile, self.level).final
        if self.fixed is not None or self.entropy:
            self.matrix = None  # only CRITIC resolves each draw's weights on the resampled rows

    def _resolve(self, rows: np.ndarray) -> np.ndarray:
        return resolve_weights(self.spec, self.items, self.matrix[rows], self.profile, self.level).final

    def draws(self, chunk: np.ndarray, sums: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> np.ndarray:
        """The weights of each draw of `chunk` (draws × rows); entropy weights from `sums`, the draws'
        sums over the group's columns (_counts(chunk, m) @ the columns of _entropy_terms)."""
        c, k = len(chunk), len(self.items)
        if self.fixed is not None:
            return np.broadcast_to(self.fixed, (c, k))
        if not self.entropy:
            return np.stack([self._resolve(rows) for rows in chunk]) if c else np.zeros((0, k))
        assert sums is not None, "entropy weights read the draws' sums"
        if self.subjective is None:
            return _entropy_of_sums(self.m, *sums, np.ones(k, dtype=bool))
        # combined: the objective weights of the items the subjective weights keep (as resolve_weights).
        kept = self.subjective > 0
        if not kept.any():
            kept = np.ones(k, dtype=bool)
        objective = _entropy_of_sums(self.m, *sums, kept)
        spec = self.spec
        return (
            np.stack(
                [combine_weights(self.subjective, o, method=spec.combination, alpha=spec.alpha) for o in objective]
            )
            if c
            else np.zeros((0, k))
        )


def _counts(chunk: np.ndarray, m: int) -> np.ndarray:
    """How many times each draw of `chunk` (draws × m row indices) holds each of the m rows, as floats."""
    c = len(chunk)
    if not m:
        return np.zeros((c, 0))
    counts = np.bincount((chunk + m * np.arange(c)[:, None]).reshape(-1), minlength=c * m)
    return counts.reshape(c, m).astype(float)


def _entropy_terms(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of a normalised matrix (rows × k, NaN where missing), what the entropy sums of a draw read:
    which values are known (booleans, rows × k) and, side by side, x and x ln x (0 where missing or
    0; rows × 2k)."""
    known = ~np.isnan(matrix)
    terms = np.zeros((matrix.shape[0], 2 * matrix.shape[1]))
    k = matrix.shape[1]
    x = terms[:, :k]
    np.copyto(x, matrix, where=known)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.multiply(x, np.log(x), out=terms[:, k:], where=known & (x > 0))
    return known, terms


def _entropy_of_sums(
    m: int, n_known: np.ndarray, s_known: np.ndarray, t_known: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """Entropy weights (as entropy_weights on the imputed resample of m rows) of every draw, from its
    sums: with counts[b, i] the times draw b holds row i, n_known = counts @ known, s_known =
    counts @ x and t_known = counts @ x ln x (see _entropy_terms), each draws × columns.

    Each column's missing values are imputed with the resample's column mean μ (as the engine
    does), so its sum S = Σ c·x + N_missing·μ and Σ x ln x = Σ c·x ln x + N_missing·μ ln μ; then
    Σ p ln p = Σ x ln x / S − ln S, e = −Σ p ln p / ln m, d = 1 − e (0 below the noise floor, and
    for a column summing to 0), w = d / Σ d over the `kept` columns (0 elsewhere), equal weights
    over them when no column discriminates or m < 2. Returns draws × columns. The sums run in
    another order than entropy_weights', so the weights agree with it to rounding (about 1e-12),
    not bit for bit.
    """
    c, k = n_known.shape
    out = np.zeros((c, k))
    if m < 2:
        out[:, kept] = 1.0 / kept.sum()
        return out
    mean = np.divide(s_known, n_known, out=np.zeros_like(s_known), where=n_known > 0)
    missing = m - n_known
    with np.errstate(divide="ignore", invalid="ignore"):
        s = s_known + missing * mean
        t = t_known + missing * np.where(mean > 0, mean * np.log(mean), 0.0)
        informative = s > 0
        e = np.where(informative, -(t / s - np.log(np.where(informative, s, 1.0))) / math.log(m), 1.0)
    d = np.where(kept, 1.0 - e, 0.0)
    d[d < _NOISE] = 0.0
    total = d.sum(axis=1, keepdims=True)
    equal = np.where(kept, 1.0 / kept.sum(), 0.0)
    return np.where(total > 0, d / np.where(total > 0, total, 1.0), equal)


def _grades(score: np.ndarray, completeness: np.ndarray, model: ScoringModel) -> np.ndarray:
    """The grade of every cell, by the same rule (grade_expr) as account_scores.grade."""
    from kam_pipeline.scoring.snapshot import grade_expr  # snapshot imports this module

    frame = pl.DataFrame({"score": score.reshape(-1), "completeness": completeness.reshape(-1)})
    grades = frame.select(grade_expr(pl.col("score"), pl.col("completeness"), model)).to_series()
    return grades.to_numpy().reshape(score.shape)


def _grade_codes(score: np.ndarray, completeness: np.ndarray, model: ScoringModel) -> np.ndarray:
    """The grade of every cell as a number, by the rule of grade_expr: -1 insufficient_data, k the k-th
    band of the model, len(bands) none. Equal codes are equal grades; comparing numbers over the
    (accounts x draws) cells spares building and comparing millions of strings."""
    bands = model.spec.grades
    codes = np.full(score.shape, len(bands), dtype=np.int16)
    for k in reversed(range(len(bands))):  # the first band (in the model's order) the score reaches wins
        codes = np.where(score >= bands[k].min, k, codes)
    insufficient = np.isnan(score) | (completeness < model.spec.evaluation.min_completeness)
    return np.where(insufficient, -1, codes).astype(np.int16)


def _ranks(score: np.ndarray) -> np.ndarray:
    """Rank of every row in each column, 1 = best, ties sharing the best rank (as account_scores);
    a NaN score ranks last."""
    keys = np.where(np.isnan(score), np.inf, -score).T  # one contiguous row per column
    order = np.argsort(keys, axis=1)
    ordered = np.take_along_axis(keys, order, axis=1)
    # In sorted order a value's rank is one more than the position of the first of its ties.
    starts = np.ones(ordered.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(keys.shape[1]), 0), axis=1)
    ranks = np.empty(keys.shape)
    np.put_along_axis(ranks, order, first + 1.0, axis=1)
    return ranks.T


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
    score = draws.score if rows is None else draws.score[rows]
    completeness = draws.completeness if rows is None else draws.completeness[rows]
    scored = ~np.isnan(real.score)
    own = score[scored]
    rank_low, rank_high = np.percentile(_ranks(own), [LOW, HIGH], axis=1)
    real_code = _grade_codes(real.score[scored], real.completeness[scored], model)
    kept = (_grade_codes(own, completeness[scored], model) == real_code[:, None]).mean(axis=1)
    return _stability_frames(model, real, draws.weights, rank_low, rank_high, kept, ids, subject)


def profile_stability(
    model: ScoringModel,
    profile: Profile,
    real: ProfileScores,
    values: np.ndarray,
    churned: np.ndarray | None,
    rows: np.ndarray | None,
    ids: list[str],
    subject: str = "account",
    draws: int | None = None,
    seed: int | None = None,
    cells: int = _CELLS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of stability_of(model, real, bootstrap(model, profile, values, churned, draws, seed),
    rows, ids, subject), equal to them, without the bootstrap's rows × draws matrices of scores.

    Each chunk of draws is ranked and graded as it comes; what is kept is every scored account's
    count of draws that keep its grade and, of its ranks, only the few smallest and largest that
    the 5 % and 95 % percentiles read (whole numbers, as 32-bit integers): 23 of 200 draws.
    """
    resampler = _Resampler(model, profile, values, churned, draws, seed)
    b = resampler.draws
    scored = ~np.isnan(real.score)
    # The bootstrap rows of the profile's scored accounts (`rows` an index or a mask, as in stability_of).
    own = (np.arange(resampler.m) if rows is None else np.arange(resampler.m)[rows])[scored]
    distinct = resampler.inverse[own] if len(own) else np.zeros(0, dtype=int)
    real_code = _grade_codes(real.score[scored], real.completeness[scored], model)
    weights = np.zeros((b, resampler.n))
    lowest, highest = _extreme_counts(b)
    extremes = np.zeros((len(own), 0), dtype=np.int32)
    pending: list[np.ndarray] = []
    # Ranks wait in `pending` until about `cells` of them are there, then join the extremes.
    width = max(1, cells // max(1, len(own)))
    kept = np.zeros(len(own), dtype=np.int64)
    with _narrow_products():
        for chunk in resampler.chunks(cells):
            part = slice(chunk.start, chunk.start + len(chunk.samples))
            weights[part] = chunk.weights
            score, completeness = chunk.score[distinct], chunk.completeness[distinct]
            pending.append(_ranks(score).astype(np.int32))
            kept += (_grade_codes(score, completeness, model) == real_code[:, None]).sum(axis=1)
            if sum(p.shape[1] for p in pending) >= width or part.stop == b:
                extremes = _merge_extremes(extremes, pending, lowest, highest, cells)
                pending = []
    # The percentiles of each account's ranks, a block of accounts at a time.
    rank_low, rank_high = np.zeros(len(own)), np.zeros(len(own))
    block = max(1, cells // max(1, b))
    for first in range(0, len(own), block):
        part = slice(first, first + block)
        ranks = _with_middle(extremes[part], b, lowest)
        rank_low[part], rank_high[part] = np.percentile(ranks.astype(float), [LOW, HIGH], axis=1)
    return _stability_frames(model, real, weights, rank_low, rank_high, kept / b, ids, subject)


def _extreme_counts(draws: int) -> tuple[int, int]:
    """How many of a row's smallest and largest of `draws` values fix its LOW and HIGH percentiles.

    np.percentile's linear interpolation at q reads the sorted values at the floor and the ceiling
    of q/100 · (draws − 1); one more on each side covers any rounding of that position.
    """
    lowest = math.floor(LOW / 100 * (draws - 1)) + 2
    highest = draws - math.floor(HIGH / 100 * (draws - 1)) + 1
    return min(draws, lowest), min(draws, highest)


def _keep_extremes(values: np.ndarray, lowest: int, highest: int) -> np.ndarray:
    """Each row of `values` sorted, and only its `lowest` smallest and `highest` largest when it has more."""
    values = np.sort(values, axis=1)
    if values.shape[1] <= lowest + highest:
        return values
    return np.concatenate([values[:, :lowest], values[:, -highest:]], axis=1)


def _merge_extremes(
    extremes: np.ndarray, pending: list[np.ndarray], lowest: int, highest: int, cells: int
) -> np.ndarray:
    """_keep_extremes of the rows of `extremes` joined with those of `pending`, about `cells` cells at a
    time, into `extremes` itself once it has the width kept: the joined and sorted rows of every
    account are not all held at once (rows do not depend on each other)."""
    joined = extremes.shape[1] + sum(p.shape[1] for p in pending)
    width = min(joined, lowest + highest)
    out = extremes if extremes.shape[1] == width else np.empty((len(extremes), width), dtype=extremes.dtype)
    rows = max(1, cells // max(1, joined))
    for first in range(0, len(extremes), rows):
        part = slice(first, first + rows)
        out[part] = _keep_extremes(
            np.concatenate([extremes[part], *(p[part] for p in pending)], axis=1), lowest, highest
        )
    return out


def _with_middle(extremes: np.ndarray, draws: int, lowest: int) -> np.ndarray:
    """Rows of `draws` values, sorted, whose smallest and largest values are those of `extremes`
    (as _keep_extremes gives them): the middle, which no percentile of _extreme_counts reads,
    repeats the largest of the smallest values."""
    middle = draws - extremes.shape[1]
    if middle == 0:
        return extremes
    filler = np.repeat(extremes[:, lowest - 1 : lowest], middle, axis=1)
    return np.concatenate([extremes[:, :lowest], filler, extremes[:, lowest:]], axis=1)


def _stability_frames(
    model: ScoringModel,
    real: ProfileScores,
    draw_weights: np.ndarray,
    rank_low: np.ndarray,
    rank_high: np.ndarray,
    kept: np.ndarray,
    ids: list[str],
    subject: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """weight_stability and rank_stability rows from the draws' weights (draws × indicators) and, per
    scored account, its rank band and share of draws keeping its grade."""
    b = draw_weights.shape[0]
    scored = ~np.isnan(real.score)
    accounts = int(scored.sum())
    weight = np.array([real.base_weight(i) for i in real.indicators])
    low, high = np.percentile(draw_weights, [LOW, HIGH], axis=0)
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
    rank = _ranks(real.score[scored][:, None])[:, 0]
    grade = _grades(real.score[scored][:, None], real.completeness[scored][:, None], model)[:, 0]
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
