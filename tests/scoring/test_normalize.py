"""Indicator normalisers: hand examples with missing values, ties, constants and direction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kam_pipeline.scoring.normalize import (
    CONSTANT_SCORE,
    METHODS,
    clipped_zscore,
    log_min_max,
    min_max,
    normalize,
    percentile_rank,
    target_attainment,
)

NAN = math.nan


def same(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected, dtype=float), equal_nan=True)


# --- min_max ------------------------------------------------------------------------


def test_min_max_higher_and_lower_keep_nan():
    values = [10, 20, NAN, 30, 20]
    same(min_max(values, "higher"), [0, 0.5, NAN, 1, 0.5])
    same(min_max(values, "lower"), [1, 0.5, NAN, 0, 0.5])


def test_min_max_constant_or_single_value_scores_the_midpoint():
    assert CONSTANT_SCORE == 0.5
    same(min_max([7, 7, NAN], "higher"), [0.5, 0.5, NAN])
    same(min_max([7, 7, NAN], "lower"), [0.5, 0.5, NAN])
    same(min_max([NAN, 3], "higher"), [NAN, 0.5])


def test_min_max_all_missing_and_empty():
    same(min_max([NAN, NAN], "higher"), [NAN, NAN])
    assert min_max([], "higher").shape == (0,)


def test_min_max_does_not_modify_input_and_returns_float():
    values = np.array([1, 2, 3])
    out = min_max(values, "lower")
    assert out.dtype == np.float64
    assert values.tolist() == [1, 2, 3]


# --- percentile_rank ----------------------------------------------------------------


def test_percentile_rank_ties_share_average_rank():
    # Ranks among the 4 present values: 1, 2.5, 2.5, 4 -> (r - 1) / 3.
    values = [10, 20, 20, 40, NAN]
    same(percentile_rank(values, "higher"), [0, 0.5, 0.5, 1, NAN])
    same(percentile_rank(values, "lower"), [1, 0.5, 0.5, 0, NAN])


def test_percentile_rank_ignores_outlier_magnitude():
    same(percentile_rank([1, 2, 3, 1000], "higher"), [0, 1 / 3, 2 / 3, 1])


def test_percentile_rank_unsorted_with_three_way_tie():
    # Sorted: 1 | 5 5 5 | 9 -> ranks 1, 3, 3, 3, 5 -> (r - 1) / 4.
    same(percentile_rank([5, 9, 1, 5, 5], "higher"), [0.5, 1, 0, 0.5, 0.5])


def test_percentile_rank_degenerate_columns():
    same(percentile_rank([NAN, 4, NAN], "higher"), [NAN, 0.5, NAN])
    same(percentile_rank([3, 3, 3], "lower"), [0.5, 0.5, 0.5])
    same(percentile_rank([NAN], "higher"), [NAN])


# --- clipped_zscore -----------------------------------------------------------------


def test_clipped_zscore_population_std():
    # mean 3, population std sqrt(2): z = -sqrt2, -1/sqrt2, 0, 1/sqrt2, sqrt2.
    r = math.sqrt(2)
    z = np.array([-r, -1 / r, 0, 1 / r, r])
    same(clipped_zscore([1, 2, 3, 4, 5], "higher"), (z + 3) / 6)
    same(clipped_zscore([1, 2, 3, 4, 5], "lower"), 1 - (z + 3) / 6)


def test_clipped_zscore_clips_an_outlier():
    # Nine zeros and one 100: mean 10, population std 30 -> z = -1/3 and 3.
    values = [0] * 9 + [100]
    same(clipped_zscore(values, "higher"), [(3 - 1 / 3) / 6] * 9 + [1.0])
    same(clipped_zscore(values, "higher", clip=2), [(2 - 1 / 3) / 4] * 9 + [1.0])
    same(clipped_zscore([1, 2, 3, 4, 5], "higher", clip=1)[[0, 2, 4]], [0, 0.5, 1])


def test_clipped_zscore_nan_and_constant():
    same(clipped_zscore([2, NAN, 4], "higher"), [1 / 3, NAN, 2 / 3])
    same(clipped_zscore([4, 4, NAN], "higher"), [0.5, 0.5, NAN])
    with pytest.raises(ValueError, match="clip"):
        clipped_zscore([1, 2], "higher", clip=0)


# --- log_min_max --------------------------------------------------------------------


def test_log_min_max_signed_log():
    # sign(x) log1p|x|: 0, ln 10, 2 ln 10, -ln 10 -> range 3 ln 10.
    same(log_min_max([0, 9, 99, -9, NAN], "higher"), [1 / 3, 2 / 3, 1, 0, NAN])
    same(log_min_max([0, 9, 99, -9, NAN], "lower"), [2 / 3, 1 / 3, 0, 1, NAN])


def test_log_min_max_constant():
    same(log_min_max([5, 5], "higher"), [0.5, 0.5])


# --- target_attainment --------------------------------------------------------------


def test_target_higher_with_and_without_cap():
    values = [10, 20, 30, -5, NAN]
    same(target_attainment(values, "higher", target=20), [0.5, 1, 1, 0, NAN])
    same(target_attainment(values, "higher", target=20, cap=1.5), [0.5 / 1.5, 1 / 1.5, 1, 0, NAN])


def test_target_lower_is_better():
    # Resolution time with a 2-day target: 4 days = half marks; 0 days = full marks.
    values = [1, 2, 4, 0, NAN]
    same(target_attainment(values, "lower", target=2), [1, 1, 0.5, 1, NAN])
    same(target_attainment(values, "lower", target=2, cap=2), [1, 0.5, 0.25, 1, NAN])
    same(target_attainment([-3], "lower", target=2, cap=2), [1])


def test_target_argument_errors():
    for bad in (0, -1, NAN, math.inf):
        with pytest.raises(ValueError, match="target"):
            target_attainment([1], "higher", target=bad)
    with pytest.raises(ValueError, match="cap"):
        target_attainment([1], "higher", target=1, cap=0)


# --- shared checks and dispatch -----------------------------------------------------


@pytest.mark.parametrize("fn", [min_max, percentile_rank, clipped_zscore, log_min_max])
def test_bad_direction_and_values(fn):
    with pytest.raises(ValueError, match="direction"):
        fn([1, 2], "up")
    with pytest.raises(ValueError, match="infinity"):
        fn([1, math.inf], "higher")
    with pytest.raises(ValueError, match="one-dimensional"):
        fn([[1, 2], [3, 4]], "higher")


@pytest.mark.parametrize("method", sorted(set(METHODS) - {"target"}))
def test_all_methods_stay_in_unit_interval(method):
    values = np.random.default_rng(5).lognormal(sigma=2, size=200)
    values[::17] = NAN
    # bounded needs its scale; (0, 10) leaves values on both sides of it (clipped).
    options = {"bounds": (0.0, 10.0)} if method == "bounded" else {}
    for direction in ("higher", "lower"):
        out = normalize(values, method, direction, **options)
        present = ~np.isnan(values)
        assert np.array_equal(np.isnan(out), ~present)
        assert ((out[present] >= 0) & (out[present] <= 1)).all()


def test_normalize_dispatches_by_name_with_options():
    values = [10, 20, NAN, 30]
    same(normalize(values, "minmax", "higher"), min_max(values, "higher"))
    same(normalize(values, "percentile", "lower"), percentile_rank(values, "lower"))
    same(normalize(values, "zscore", "higher", clip=1.0), clipped_zscore(values, "higher", clip=1.0))
    same(normalize(values, "log_minmax", "higher"), log_min_max(values, "higher"))
    same(
        normalize(values, "target", "higher", target=20, cap=1.5),
        target_attainment(values, "higher", target=20, cap=1.5),
    )
    with pytest.raises(ValueError, match="unknown normalisation method"):
        normalize(values, "rank", "higher")
