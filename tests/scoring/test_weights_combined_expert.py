"""Combined (subjective + objective) weights and expert-scoring weights, by hand examples."""

from __future__ import annotations

import numpy as np
import pytest

from kam_pipeline.scoring.weights import WeightError, combine_weights, expert_weights

# --- combine_weights ----------------------------------------------------------------


def test_linear_combination():
    ws, wo = [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]
    np.testing.assert_allclose(combine_weights(ws, wo), [0.35, 0.25, 0.40])
    np.testing.assert_allclose(combine_weights(ws, wo, alpha=0.8), [0.44, 0.28, 0.28])
    np.testing.assert_allclose(combine_weights(ws, wo, alpha=1.0), ws)
    np.testing.assert_allclose(combine_weights(ws, wo, alpha=0.0), wo)


def test_inputs_are_rescaled_to_sum_one():
    # Importance points (5, 3, 2) are the same profile as (0.5, 0.3, 0.2).
    np.testing.assert_allclose(combine_weights([5, 3, 2], [1, 1, 3]), [0.35, 0.25, 0.40])


def test_multiplicative_combination():
    # Products 0.10, 0.06, 0.12; sum 0.28.
    w = combine_weights([0.5, 0.3, 0.2], [0.2, 0.2, 0.6], method="multiplicative")
    np.testing.assert_allclose(w, [0.10 / 0.28, 0.06 / 0.28, 0.12 / 0.28])


def test_multiplicative_falls_back_to_linear_when_all_products_are_zero():
    ws, wo = [0.6, 0.4, 0.0], [0.0, 0.0, 1.0]
    w = combine_weights(ws, wo, method="multiplicative", alpha=0.7)
    np.testing.assert_allclose(w, [0.42, 0.28, 0.30])


def test_game_theory_hand_derivation_two_criteria():
    # u1 = (.6, .4), u2 = (.3, .7): u1.u1 = .52, u2.u2 = .58, u1.u2 = .46, det = .09.
    # Cramer's rule on [[.52, .46], [.46, .58]] a = [.52, .58]:
    #   a1 = .58 (.52 - .46) / .09 = 29/75, a2 = .52 (.58 - .46) / .09 = 52/75
    # normalised a = (29/81, 52/81); w = (33/81, 48/81) = (11/27, 16/27).
    w = combine_weights([0.6, 0.4], [0.3, 0.7], method="game_theory")
    np.testing.assert_allclose(w, [11 / 27, 16 / 27])


def test_game_theory_takes_absolute_coefficients():
    # u1 = (.4, .3, .3), u2 = (.8, .1, .1): u1.u1 = .34, u2.u2 = .66, u1.u2 = .38, det = .08.
    #   a1 = .66 (.34 - .38) / .08 = -0.33, a2 = .34 (.66 - .38) / .08 = 1.19
    # |a| normalised = (33/152, 119/152).
    w = combine_weights([0.4, 0.3, 0.3], [0.8, 0.1, 0.1], method="game_theory")
    a1, a2 = 33 / 152, 119 / 152
    np.testing.assert_allclose(w, a1 * np.array([0.4, 0.3, 0.3]) + a2 * np.array([0.8, 0.1, 0.1]))


def test_game_theory_solution_satisfies_its_defining_condition():
    # Before taking |a| and normalising, the combination w* = a1 u1 + a2 u2 satisfies
    # u_k . w* = u_k . u_k for both inputs (the first-order condition of the model).
    # When both coefficients come out positive, normalising only rescales w*, so the
    # returned w must be proportional to a vector meeting that condition.
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(20):
        u1, u2 = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
        g = np.array([[u1 @ u1, u1 @ u2], [u2 @ u1, u2 @ u2]])
        a = np.linalg.solve(g, np.diag(g))
        w = combine_weights(u1, u2, method="game_theory")
        assert w.sum() == pytest.approx(1)
        if (a > 0).all():
            w_star = w * a.sum()
            assert u1 @ w_star == pytest.approx(u1 @ u1)
            assert u2 @ w_star == pytest.approx(u2 @ u2)
            checked += 1
    assert checked >= 10


def test_game_theory_with_identical_inputs_returns_them():
    np.testing.assert_allclose(combine_weights([0.2, 0.3, 0.5], [2, 3, 5], method="game_theory"), [0.2, 0.3, 0.5])


def test_game_theory_symmetric_inputs_get_equal_coefficients():
    w = combine_weights([0.5, 0.3, 0.2], [0.2, 0.3, 0.5], method="game_theory")
    np.testing.assert_allclose(w, [0.35, 0.3, 0.35])


def test_combine_errors():
    with pytest.raises(WeightError, match="different numbers of criteria"):
        combine_weights([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(WeightError, match="alpha"):
        combine_weights([0.5, 0.5], [0.5, 0.5], alpha=1.5)
    with pytest.raises(WeightError, match="unknown combination method"):
        combine_weights([0.5, 0.5], [0.5, 0.5], method="harmonic")
    with pytest.raises(WeightError, match="negative"):
        combine_weights([0.5, -0.5], [0.5, 0.5])
    with pytest.raises(WeightError, match="all zero"):
        combine_weights([0, 0], [0.5, 0.5])
    with pytest.raises(WeightError, match="NaN"):
        combine_weights([np.nan, 1], [0.5, 0.5])


# --- expert_weights -----------------------------------------------------------------

# Five experts score three criteria on a 10-point budget; expert 4 is an outlier.
# Row shares: (.5 .3 .2) (.4 .4 .2) (.6 .2 .2) (.1 .1 .8) (.5 .4 .1).
EXPERTS = [[5, 3, 2], [4, 4, 2], [6, 2, 2], [1, 1, 8], [5, 4, 1]]


def test_expert_plain_mean():
    # Means of the shares: (2.1/5, 1.4/5, 1.5/5).
    np.testing.assert_allclose(expert_weights(EXPERTS), [0.42, 0.28, 0.30])


def test_expert_trimmed_mean():
    # trim 0.2 of 5 experts: drop floor(1.0) = 1 lowest and 1 highest per criterion.
    # c1 sorted .1 .4 .5 .5 .6 -> mean(.4 .5 .5) = 14/30
    # c2 sorted .1 .2 .3 .4 .4 -> mean(.2 .3 .4) =  9/30
    # c3 sorted .1 .2 .2 .2 .8 -> mean(.2 .2 .2) =  6/30, total 29/30.
    np.testing.assert_allclose(expert_weights(EXPERTS, trim=0.2), [14 / 29, 9 / 29, 6 / 29])


def test_expert_rows_are_normalised_before_averaging():
    # The same opinion on a 100-point scale must not outweigh a 10-point one.
    np.testing.assert_allclose(expert_weights([[8, 2], [20, 80]]), [0.5, 0.5])


def test_expert_trim_too_small_to_cut_anyone():
    # floor(0.1 * 5) = 0: nothing is dropped.
    np.testing.assert_allclose(expert_weights(EXPERTS, trim=0.1), expert_weights(EXPERTS))


def test_expert_errors():
    with pytest.raises(WeightError, match=r"expert 2, criterion 3.*negative"):
        expert_weights([[1, 2, 3], [1, 2, -3]])
    with pytest.raises(WeightError, match="expert 2 gave every criterion a score of 0"):
        expert_weights([[1, 2, 3], [0, 0, 0]])
    for trim in (-0.1, 0.5, 0.7):
        with pytest.raises(WeightError, match="trim"):
            expert_weights(EXPERTS, trim=trim)
    with pytest.raises(WeightError, match="not a number"):
        expert_weights([[1, np.nan]])
    with pytest.raises(WeightError, match="every criterion has zero importance"):
        expert_weights(np.eye(3), trim=0.34)
