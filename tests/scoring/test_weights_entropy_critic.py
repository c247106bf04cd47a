"""Entropy and CRITIC weights against published examples and pymcdm."""

from __future__ import annotations

import numpy as np
import pytest

from kam_pipeline.scoring.normalize import min_max
from kam_pipeline.scoring.weights import WeightError, critic_weights, entropy_weights

# Elsayed, E. A., Dawood, A. S. & Karthikeyan, R. (2017) "Evaluating alternatives
# through the application of TOPSIS method with entropy weight", Int. J. Eng. Trends
# Technol. 46(2), 60-66. Matrix and weights as transcribed in pymcdm's test suite
# (test/test_weights.py); p_ij is taken directly on these raw values (sum
# normalisation), which is what the entropy formula does with any non-negative matrix.
ELSAYED = np.array(
    [
        [7, 312, 1891, 6613, 163],
        [72, 88, 728, 941804, 1078],
        [10, 252, 2594, 3466, 117471],
        [10, 145, 980, 2371, 86329],
        [65, 54, 350, 501, 29897],
        [29, 48, 380, 912, 34051],
        [7, 476, 3300, 78470, 2212],
        [70, 87, 650, 733, 819000],
        [4, 86, 591, 3015, 103],
        [12, 79, 579, 3240, 96098],
        [21, 45, 261, 1253, 453],
        [1, 72, 530, 4333, 0.104800],
    ]
)
ELSAYED_WEIGHTS = [0.104991, 0.069124, 0.071373, 0.449937, 0.304575]

# Tuş, A. & Adalı, E. A. (2019) "The new combination with CRITIC and WASPAS methods
# for the time and attendance software selection problem", Opsearch 56(2), 528-538.
# Decision matrix and CRITIC weights as transcribed in pymcdm's test suite. The
# published weights are reproduced with every column min-max normalised as
# higher-is-better (treating column 1 as a cost gives .184/.213/... instead).
TUS_ADALI = np.array(
    [
        [5000, 3, 3, 4, 3, 2],
        [680, 5, 3, 2, 2, 1],
        [2000, 3, 2, 3, 4, 3],
        [600, 4, 3, 1, 2, 2],
        [800, 2, 4, 3, 3, 4],
    ]
)
TUS_ADALI_WEIGHTS = [0.157, 0.249, 0.168, 0.121, 0.154, 0.151]


def _min_max_columns(matrix: np.ndarray, directions: list[str]) -> np.ndarray:
    return np.column_stack([min_max(matrix[:, j], d) for j, d in enumerate(directions)])


# --- entropy ------------------------------------------------------------------------


def test_entropy_elsayed_2017():
    np.testing.assert_allclose(entropy_weights(ELSAYED), ELSAYED_WEIGHTS, atol=5e-7)


def test_entropy_with_zeros_uses_zero_log_zero_convention():
    # By hand: column 1 p = (0, 1/6, 2/6, 3/6); 0 * ln 0 counts as 0.
    x = [[0, 2, 3], [1, 2, 4], [2, 3, 5], [3, 3, 1]]
    np.testing.assert_allclose(entropy_weights(x), [0.7273, 0.0391, 0.2336], atol=5e-5)


def test_entropy_hand_example_two_alternatives():
    # m = 2: e = -(p ln p + q ln q) / ln 2. Column 1 (1, 1) has e = 1; column 2
    # (0, 1) has e = 0; column 3 (1, 3): e = H(1/4)/ln2 = 0.811278.
    d3 = 1 - (-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) / np.log(2))
    expected = np.array([0.0, 1.0, d3]) / (1.0 + d3)
    np.testing.assert_allclose(entropy_weights([[1, 0, 1], [1, 1, 3]]), expected)


def test_entropy_zero_column_has_no_information():
    w = entropy_weights([[0, 1], [0, 3], [0, 2]])
    np.testing.assert_allclose(w, [0.0, 1.0])


def test_entropy_equal_weights_when_nothing_discriminates():
    np.testing.assert_allclose(entropy_weights([[2, 5, 0], [2, 5, 0], [2, 5, 0]]), [1 / 3] * 3)
    # Constant columns must give exactly equal weights, not rounding noise.
    np.testing.assert_array_equal(entropy_weights([[0.3, 0.7], [0.3, 0.7]]), [0.5, 0.5])


def test_entropy_single_alternative_gives_equal_weights():
    np.testing.assert_allclose(entropy_weights([[0.2, 0.9, 0.4]]), [1 / 3] * 3)


def test_entropy_refuses_missing_and_negative_values():
    with pytest.raises(WeightError, match="NaN"):
        entropy_weights([[0.1, np.nan], [0.2, 0.3]])
    with pytest.raises(WeightError, match=r"non-negative.*\(row 2, col 1\)"):
        entropy_weights([[0.1, 0.2], [-0.2, 0.3]])
    with pytest.raises(WeightError, match="two-dimensional"):
        entropy_weights([0.1, 0.2])


def test_entropy_matches_pymcdm_on_random_positive_matrix():
    pymcdm_weights = pytest.importorskip("pymcdm.weights")
    x = np.random.default_rng(7).uniform(0.01, 1.0, size=(30, 6))
    np.testing.assert_allclose(entropy_weights(x), pymcdm_weights.entropy_weights(x), atol=1e-12)


def test_entropy_zero_handling_is_a_documented_difference_from_pymcdm():
    # pymcdm 1.4 refuses any zero (its sum normalisation requires positive values);
    # we follow the textbook convention 0 * ln 0 = 0, because a normalised indicator
    # is 0 for the worst account by construction.
    pymcdm_weights = pytest.importorskip("pymcdm.weights")
    x = np.array([[0, 2, 3], [1, 2, 4], [2, 3, 5], [3, 3, 1]], dtype=float)
    with pytest.raises(ValueError):
        pymcdm_weights.entropy_weights(x)
    assert entropy_weights(x).sum() == pytest.approx(1)


# --- CRITIC -------------------------------------------------------------------------


def test_critic_tus_adali_2019():
    normalised = _min_max_columns(TUS_ADALI, ["higher"] * 6)
    np.testing.assert_allclose(critic_weights(normalised), TUS_ADALI_WEIGHTS, atol=5e-4)


def test_critic_hand_example():
    # Columns a = (0, .5, 1), b = (1, .5, 0) (r = -1), c = (0, 0, 1) (r_ac = .866, r_bc = -.866).
    x = np.array([[0, 1, 0], [0.5, 0.5, 0], [1, 0, 1]])
    s_ab = 0.5  # sample std of (0, .5, 1)
    s_c = np.sqrt(1 / 3)  # sample std of (0, 0, 1)
    r = np.sqrt(3) / 2
    c = np.array([s_ab * (0 + 2 + (1 - r)), s_ab * (2 + 0 + (1 + r)), s_c * ((1 - r) + (1 + r) + 0)])
    np.testing.assert_allclose(critic_weights(x), c / c.sum())


def test_critic_constant_column_gets_zero_weight_and_no_nan():
    x = np.array([[0.0, 0.5, 1.0], [0.5, 0.5, 0.0], [1.0, 0.5, 0.5]])
    w = critic_weights(x)
    assert np.isfinite(w).all()
    assert w[1] == 0.0
    assert w.sum() == pytest.approx(1)
    # Columns 1 and 3 both have std 0.5 and r = -0.5; the constant column's
    # correlations count as 0, adding 1 to each of their conflict sums equally.
    np.testing.assert_allclose(w, [0.5, 0.0, 0.5])


def test_critic_equal_weights_when_nothing_varies():
    np.testing.assert_array_equal(critic_weights([[0.2, 0.4], [0.2, 0.4], [0.2, 0.4]]), [0.5, 0.5])
    np.testing.assert_array_equal(critic_weights(np.zeros((4, 3))), [1 / 3] * 3)
    np.testing.assert_allclose(critic_weights([[0.1, 0.9]]), [0.5, 0.5])


def test_critic_perfectly_correlated_columns_fall_back_to_equal():
    x = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    np.testing.assert_allclose(critic_weights(x), [0.5, 0.5])


def test_critic_refuses_missing_values():
    with pytest.raises(WeightError, match="NaN"):
        critic_weights([[0.1, np.nan], [0.2, 0.3]])


def test_critic_matches_pymcdm_on_random_normalised_matrix():
    # pymcdm min-max normalises internally; on an already min-max normalised matrix
    # that is the identity, so the two implementations must agree.
    pymcdm_weights = pytest.importorskip("pymcdm.weights")
    raw = np.random.default_rng(11).normal(size=(25, 5))
    x = _min_max_columns(raw, ["higher", "lower", "higher", "higher", "lower"])
    np.testing.assert_allclose(critic_weights(x), pymcdm_weights.critic_weights(x), atol=1e-12)
