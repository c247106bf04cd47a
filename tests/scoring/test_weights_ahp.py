"""AHP weights against worked examples from the literature, plus input checking."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kam_pipeline.scoring.weights import (
    RANDOM_INDEX,
    AhpResult,
    WeightError,
    ahp_weights,
    check_pairwise,
)

# Saaty, T. L. (2008) "Decision making with the analytic hierarchy process",
# Int. J. Services Sciences 1(1), 83-98: relative consumption of drinks in the US.
# Order: coffee, wine, tea, beer, sodas, milk, water.
DRINKS = np.array(
    [
        [1, 9, 5, 2, 1, 1, 1 / 2],
        [1 / 9, 1, 1 / 3, 1 / 9, 1 / 9, 1 / 9, 1 / 9],
        [1 / 5, 3, 1, 1 / 3, 1 / 4, 1 / 3, 1 / 9],
        [1 / 2, 9, 3, 1, 1 / 2, 1, 1 / 3],
        [1, 9, 4, 2, 1, 2, 1 / 2],
        [1, 9, 3, 1, 1 / 2, 1, 1 / 3],
        [2, 9, 9, 3, 2, 3, 1],
    ]
)
DRINKS_WEIGHTS = {  # as published (3 decimals)
    "coffee": 0.177,
    "wine": 0.019,
    "tea": 0.042,
    "beer": 0.116,
    "sodas": 0.190,
    "milk": 0.129,
    "water": 0.327,
}

# Wikipedia, "Analytic hierarchy process - car example" (the Jones family): criteria
# cost, safety, style, capacity compared with respect to the goal.
CAR_CRITERIA = np.array(
    [
        [1, 3, 7, 3],
        [1 / 3, 1, 9, 1],
        [1 / 7, 1 / 9, 1, 1 / 7],
        [1 / 3, 1, 7, 1],
    ]
)

# Wang, Y.-M. & Chin, K.-S. (2011) "A linear programming approximation to the
# eigenvector method in the analytic hierarchy process", Information Sciences
# 181(23), 5240-5248: an inconsistent 6x6 matrix (matrix and eigenvector weights
# as transcribed in pymcdm's test suite, test/test_weights.py).
WANG_CHIN = np.array(
    [
        [1, 4, 3, 1, 3, 4],
        [1 / 4, 1, 7, 3, 1 / 5, 1],
        [1 / 3, 1 / 7, 1, 1 / 5, 1 / 5, 1 / 6],
        [1, 1 / 3, 5, 1, 1, 1 / 3],
        [1 / 3, 5, 5, 1, 1, 3],
        [1 / 4, 1, 6, 3, 1 / 3, 1],
    ]
)


def test_random_index_is_saatys_table():
    assert RANDOM_INDEX == {
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


def test_saaty_drinks_matrix():
    result = ahp_weights(DRINKS)
    assert result.lambda_max == pytest.approx(7.1766, abs=1e-3)
    np.testing.assert_allclose(result.weights, list(DRINKS_WEIGHTS.values()), atol=0.002)
    # Saaty reports CR = 0.022 for this matrix.
    assert result.cr == pytest.approx(0.022, abs=5e-4)
    assert result.accepted
    assert (result.n, result.random_index, result.method) == (7, 1.32, "eigenvector")


def test_car_example_criteria():
    result = ahp_weights(CAR_CRITERIA)
    np.testing.assert_allclose(result.weights, [0.510, 0.234, 0.041, 0.215], atol=0.001)
    assert result.accepted


def test_wang_chin_inconsistent_matrix_is_computed_but_not_accepted():
    result = ahp_weights(WANG_CHIN)
    np.testing.assert_allclose(result.weights, [0.3208, 0.1395, 0.0348, 0.1285, 0.2374, 0.1391], atol=1e-4)
    assert result.cr == pytest.approx(0.229, abs=1e-3)
    assert result.ci == pytest.approx(result.cr * 1.24)
    assert result.accepted is False
    # The caller may relax the threshold; the numbers do not change.
    assert ahp_weights(WANG_CHIN, cr_threshold=0.25).accepted is True


def test_three_by_three_closed_form_lambda_max():
    # For a 3x3 reciprocal matrix, lambda_max = 1 + c^(1/3) + c^(-1/3) with
    # c = a12 * a23 / a13 (Aupetit & Genest 1993). A cyclic 9-9-1/9 matrix gives
    # c = 729, lambda_max = 1 + 9 + 1/9, the worst possible inconsistency on the scale.
    a = np.array([[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]])
    for method in ("eigenvector", "geometric"):
        result = ahp_weights(a, method=method)
        assert result.lambda_max == pytest.approx(1 + 9 + 1 / 9)
        assert result.ci == pytest.approx((1 + 9 + 1 / 9 - 3) / 2)
        assert result.cr == pytest.approx((1 + 9 + 1 / 9 - 3) / 2 / 0.58)
        assert not result.accepted
        np.testing.assert_allclose(result.weights, [1 / 3, 1 / 3, 1 / 3])


def test_geometric_and_eigenvector_agree_for_three_items():
    # For n = 3 the row-geometric-mean vector is exactly the principal eigenvector
    # (Crawford & Williams 1985), so both methods must give the same weights and lambda_max.
    a = np.array([[1, 6, 8], [1 / 6, 1, 4], [1 / 8, 1 / 4, 1]])  # Triantaphyllou & Mann 1995
    ev = ahp_weights(a, method="eigenvector")
    gm = ahp_weights(a, method="geometric")
    np.testing.assert_allclose(gm.weights, ev.weights, atol=1e-12)
    assert gm.lambda_max == pytest.approx(ev.lambda_max)
    # The geometric means by hand: (48)^(1/3), (2/3)^(1/3), (1/32)^(1/3).
    g = np.array([48, 2 / 3, 1 / 32]) ** (1 / 3)
    np.testing.assert_allclose(gm.weights, g / g.sum())
    assert gm.method == "geometric"


def test_consistent_matrix_recovers_its_weights_exactly():
    w = np.array([0.5, 0.25, 0.15, 0.1])
    a = w[:, None] / w[None, :]
    for method in ("eigenvector", "geometric"):
        result = ahp_weights(a, method=method)
        np.testing.assert_allclose(result.weights, w)
        assert result.lambda_max == pytest.approx(4)
        assert result.ci == pytest.approx(0, abs=1e-12)
        assert result.accepted


def test_geometric_method_on_drinks_stays_close_to_eigenvector():
    gm = ahp_weights(DRINKS, method="geometric")
    ev = ahp_weights(DRINKS)
    np.testing.assert_allclose(gm.weights, ev.weights, atol=0.01)
    # lambda_max from (A w)_i / w_i is >= n and near the eigenvalue for a consistent-ish matrix.
    assert 7 < gm.lambda_max < 7.2
    assert gm.weights.sum() == pytest.approx(1)


def test_one_and_two_items_have_zero_cr():
    one = ahp_weights([[1]])
    assert one.weights.tolist() == [1.0]
    assert (one.ci, one.cr, one.accepted) == (0.0, 0.0, True)
    two = ahp_weights([[1, 3], [1 / 3, 1]])
    np.testing.assert_allclose(two.weights, [0.75, 0.25])
    assert (two.cr, two.random_index) == (0.0, 0.0)


def test_decimal_reciprocals_are_accepted():
    # 1/3 typed as 0.33 and 1/9 typed as 0.11: |a_ij * a_ji - 1| = 0.01, within tolerance.
    a = [[1, 3, 9], [0.33, 1, 3], [0.11, 0.33, 1]]
    assert check_pairwise(a) == []
    result = ahp_weights(a)
    assert result.weights.sum() == pytest.approx(1)
    assert result.ci >= 0


def test_zero_entry_is_named_and_rejected():
    a = [[1, 2, 3], [1 / 2, 1, 0], [1 / 3, 4, 1]]
    problems = check_pairwise(a)
    assert any("(row 2, col 3)" in p and "positive" in p for p in problems)
    with pytest.raises(WeightError, match=r"\(row 2, col 3\)"):
        ahp_weights(a)


def test_non_reciprocal_pair_is_named():
    a = [[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 2, 1]]  # a23 * a32 = 4
    problems = check_pairwise(a)
    assert len(problems) == 1
    assert "(row 2, col 3)" in problems[0] and "(row 3, col 2)" in problems[0]
    assert "not reciprocal" in problems[0]
    with pytest.raises(WeightError, match="not reciprocal"):
        ahp_weights(a)


def test_other_problems_are_reported_in_plain_words():
    assert "not square" in check_pairwise([[1, 2, 3], [0.5, 1, 2]])[0]
    assert "empty" in check_pairwise(np.zeros((0, 0)))[0]
    assert "could not be read" in check_pairwise([[1, 2], [1]])[0]
    diag = check_pairwise([[2, 1], [1, 1]])
    assert any("(row 1, col 1)" in p and "diagonal" in p for p in diag)
    nan = check_pairwise([[1, np.nan], [1, 1]])
    assert any("(row 1, col 2)" in p and "finite" in p for p in nan)
    scale = check_pairwise([[1, 10], [0.1, 1]])
    assert any("(row 1, col 2)" in p and "1/9 .. 9" in p for p in scale)
    assert any("(row 2, col 1)" in p and "1/9 .. 9" in p for p in scale)


def test_more_than_ten_items_is_refused():
    with pytest.raises(ValueError, match="up to 10"):
        ahp_weights(np.ones((11, 11)))


def test_bad_arguments():
    with pytest.raises(WeightError, match="unknown AHP method"):
        ahp_weights(CAR_CRITERIA, method="power")
    with pytest.raises(WeightError, match="cr_threshold"):
        ahp_weights(CAR_CRITERIA, cr_threshold=-0.1)


def test_result_is_immutable():
    result = ahp_weights(CAR_CRITERIA)
    assert isinstance(result, AhpResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.cr = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.weights[0] = 1.0


SAATY_SCALE = np.array([1 / 9, 1 / 8, 1 / 7, 1 / 6, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5, 6, 7, 8, 9])


def _random_pairwise(n: int, rng: np.random.Generator) -> np.ndarray:
    a = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            a[i, j] = rng.choice(SAATY_SCALE)
            a[j, i] = 1 / a[i, j]
    return a


@pytest.mark.parametrize("n", [3, 5, 8])
def test_matches_pymcdm_on_random_matrices(n):
    subjective = pytest.importorskip("pymcdm.weights.subjective")
    a = _random_pairwise(n, np.random.default_rng(n))
    ours = ahp_weights(a)
    theirs = subjective.AHP(matrix=a)
    np.testing.assert_allclose(ours.weights, theirs(), atol=1e-10)
    # pymcdm divides the same CI by Tummala & Ling's (1998) random index (RI_M)
    # instead of Saaty's table, so CR differs; CI itself must agree.
    their_ci = theirs.get_cr() * subjective.AHP.RI_M[n - 1]
    assert ours.ci == pytest.approx(their_ci, abs=1e-10)
