"""TOPSIS, grey relational analysis and their agreement, against the literature and independent maths."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from pymcdm import normalizations
from pymcdm.methods import TOPSIS

from kam_pipeline.scoring.methods import (
    grey_relational_grades,
    method_agreement_of,
    method_matrix,
    topsis,
)

# Hwang & Yoon (1981), the fighter-aircraft selection: max speed, ferry range, max payload,
# acquisition cost (lower is better), reliability, manoeuvrability; published closeness
# C* = 0.643, 0.268, 0.613, 0.312 (A1 > A3 > A4 > A2), printed to three decimals from rounded
# intermediate tables, hence a tolerance of one unit in the third decimal.
FIGHTERS = np.array(
    [
        [2.0, 1500, 20000, 5.5, 5, 9],
        [2.5, 2700, 18000, 6.5, 3, 5],
        [1.8, 2000, 21000, 4.5, 7, 7],
        [2.2, 1800, 20000, 5.0, 5, 5],
    ]
)
FIGHTER_WEIGHTS = np.array([0.2, 0.1, 0.1, 0.1, 0.2, 0.3])
FIGHTER_CLOSENESS = [0.643, 0.268, 0.613, 0.312]


def test_topsis_reproduces_hwang_and_yoon_fighter_aircraft():
    # Vector normalisation as in the book; the cost column enters as 1 - r, so "higher is better"
    # everywhere: v = w(1 - r) moves every distance to the ideal/anti-ideal by nothing but a sign.
    r = FIGHTERS / np.sqrt((FIGHTERS**2).sum(axis=0))
    r[:, 3] = 1 - r[:, 3]
    closeness = topsis(r, FIGHTER_WEIGHTS)
    assert closeness == pytest.approx(FIGHTER_CLOSENESS, abs=1e-3)
    assert list(np.argsort(-closeness)) == [0, 2, 3, 1]


def test_topsis_matches_pymcdm_on_random_benefit_matrices():
    rng = np.random.default_rng(19)
    # pymcdm with an identity normalisation runs TOPSIS on exactly the matrix it is given.
    body = TOPSIS(normalization_function=lambda x, cost: x)
    for m, n in [(3, 2), (8, 5), (40, 12)]:
        x = rng.uniform(size=(m, n))
        w = rng.dirichlet(np.ones(n))
        assert topsis(x, w) == pytest.approx(body(x, w, np.ones(n)), abs=1e-12)


def test_pymcdm_with_vector_normalisation_agrees_on_the_fighter_example():
    # The same literature example through pymcdm's own normalisation (cost column flipped by it).
    body = TOPSIS(normalization_function=normalizations.vector_normalization)
    expected = body(FIGHTERS, FIGHTER_WEIGHTS, np.array([1, 1, 1, -1, 1, 1]))
    r = FIGHTERS / np.sqrt((FIGHTERS**2).sum(axis=0))
    r[:, 3] = 1 - r[:, 3]
    assert topsis(r, FIGHTER_WEIGHTS) == pytest.approx(expected, abs=1e-12)


def test_topsis_of_equal_rows_is_one_half():
    assert topsis(np.full((3, 2), 0.4), [0.5, 0.5]) == pytest.approx([0.5, 0.5, 0.5])


def test_topsis_ideal_and_anti_ideal_rows_score_one_and_zero():
    x = np.array([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]])
    assert topsis(x, [0.3, 0.7])[[0, 2]] == pytest.approx([1.0, 0.0])


def test_grey_relational_grade_hand_derivation():
    # reference = (1, 1); Δ = [[0, .5], [.5, 0], [1, 1]]; Δmin = 0, Δmax = 1; with ρ = 0.5,
    # ξ = 0.5 / (Δ + 0.5) = [[1, 1/2], [1/2, 1], [1/3, 1/3]]; w = (0.6, 0.4):
    # grades 0.6 + 0.2 = 0.8, 0.3 + 0.4 = 0.7, 1/3.
    x = np.array([[1.0, 0.5], [0.5, 1.0], [0.0, 0.0]])
    assert grey_relational_grades(x, [0.6, 0.4]) == pytest.approx([0.8, 0.7, 1 / 3])


def test_grey_relational_grade_hand_derivation_with_a_nonzero_delta_min_and_rho():
    # reference = (0.9, 0.8); Δ = [[0, .4], [.3, 0], [.6, .6]]: Δmin = 0, Δmax = 0.6. With
    # ρ = 0.25, ρΔmax = 0.15: ξ = 0.15 / (Δ + 0.15) = [[1, 3/11], [1/3, 1], [1/5, 1/5]].
    x = np.array([[0.9, 0.4], [0.6, 0.8], [0.3, 0.2]])
    w = [0.5, 0.5]
    expected = [(1 + 3 / 11) / 2, (1 / 3 + 1) / 2, 0.2]
    assert grey_relational_grades(x, w, rho=0.25) == pytest.approx(expected)


def _deng_by_loops(x, w, rho):
    """Deng's grade with plain loops, straight from the definition (an independent computation)."""
    m, n = len(x), len(x[0])
    reference = [max(x[i][j] for i in range(m)) for j in range(n)]
    deltas = [[abs(reference[j] - x[i][j]) for j in range(n)] for i in range(m)]
    low = min(min(row) for row in deltas)
    high = max(max(row) for row in deltas)
    grades = []
    for i in range(m):
        total = 0.0
        for j in range(n):
            xi = 1.0 if high == 0 else (low + rho * high) / (deltas[i][j] + rho * high)
            total += w[j] * xi
        grades.append(total)
    return grades


@pytest.mark.parametrize("rho", [0.1, 0.5, 1.0])
def test_grey_relational_grade_matches_the_definition_on_random_matrices(rho):
    rng = np.random.default_rng(7)
    for m, n in [(2, 3), (15, 6)]:
        x = rng.uniform(size=(m, n))
        w = rng.dirichlet(np.ones(n))
        assert grey_relational_grades(x, w, rho) == pytest.approx(_deng_by_loops(x.tolist(), list(w), rho), abs=1e-12)


def test_grey_relational_grade_is_one_when_every_row_is_the_reference():
    assert grey_relational_grades(np.full((4, 3), 0.7), [0.2, 0.3, 0.5]) == pytest.approx([1.0] * 4)


def test_grey_relational_grade_refuses_rho_outside_zero_one():
    with pytest.raises(ValueError, match="rho"):
        grey_relational_grades(np.eye(2), [0.5, 0.5], rho=0)


def test_method_matrix_fills_column_means_and_drops_empty_columns():
    nan = np.nan
    x = np.array([[0.2, nan, 1.0, nan], [0.6, nan, nan, 0.3], [nan, nan, 0.4, 0.9]])
    filled, w = method_matrix(x, [0.4, 0.3, 0.2, 0.1])
    # Column 2 has no value: dropped; the weights 0.4, 0.2, 0.1 are renormalised over 0.7.
    assert w == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert filled == pytest.approx(np.array([[0.2, 1.0, 0.6], [0.6, 0.7, 0.3], [0.4, 0.4, 0.9]]))


def test_method_matrix_with_nothing_to_compare_has_no_columns():
    x, w = method_matrix(np.full((2, 2), np.nan), [0.5, 0.5])
    assert x.shape == (2, 0) and w.shape == (0,)


def _spearman_by_formula(a, b):
    # No ties: ρ = 1 − 6 Σ d² / (n (n² − 1)) on the ranks.
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    n = len(a)
    return 1 - 6 * float(((ra - rb) ** 2).sum()) / (n * (n * n - 1))


def _kendall_by_pairs(a, b):
    # No ties: τ = (concordant − discordant) / (n (n − 1) / 2).
    pairs = list(itertools.combinations(range(len(a)), 2))
    signs = [np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs]
    return float(sum(signs)) / len(pairs)


def test_method_agreement_matches_the_textbook_formulas():
    rng = np.random.default_rng(3)
    score = rng.permutation(10) * 7.0 + 3
    closeness = rng.uniform(size=10)
    grade = score / 100 + rng.normal(scale=0.05, size=10)
    frame = pl.DataFrame(
        {
            "profile": ["default"] * 10 + ["solo"],
            "score": [*score, 50.0],
            "topsis_closeness": [*closeness, 0.5],
            "gra_grade": [*grade, 1.0],
        }
    )
    rows = {r["profile"]: r for r in method_agreement_of(frame).iter_rows(named=True)}
    default = rows["default"]
    assert default["accounts"] == 10
    assert default["topsis_spearman"] == pytest.approx(_spearman_by_formula(score, closeness))
    assert default["topsis_kendall"] == pytest.approx(_kendall_by_pairs(score, closeness))
    assert default["gra_spearman"] == pytest.approx(_spearman_by_formula(score, grade))
    assert default["gra_kendall"] == pytest.approx(_kendall_by_pairs(score, grade))
    # One account: no correlation is defined.
    solo = rows["solo"]
    assert solo["accounts"] == 1
    assert [solo[c] for c in ("topsis_spearman", "topsis_kendall", "gra_spearman", "gra_kendall")] == [None] * 4
