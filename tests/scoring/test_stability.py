"""The bootstrap of weights and ranks (marts.weight_stability, rank_stability): properties that
could fail, the draws recomputed in the test from the resampled rows, and a pipeline run."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml
from threadpoolctl import threadpool_info

from conftest import AS_OF, run_pipeline
from kam_pipeline.report import build_report
from kam_pipeline.report.i18n import LANGS, t
from kam_pipeline.scoring.engine import score_profile
from kam_pipeline.scoring.model import ModelError, ScoringModel, default_model_path, load_model
from kam_pipeline.scoring.snapshot import score_snapshot
from kam_pipeline.scoring.stability import (
    _extreme_counts,
    _keep_extremes,
    _narrow_products,
    _with_middle,
    bootstrap,
    profile_stability,
    stability_of,
)

ORDER = ["revenue", "gross_margin", "csat", "complaint_rate"]  # model.indicators order
GRADES = [("A", 80), ("B", 65), ("C", 50), ("D", 0)]  # the default bands


def tiny_model(tmp_path: Path, within: str = "entropy", stability: dict | None = None) -> ScoringModel:
    """Two groups of two minmax indicators; inside the groups `within` ('entropy' or 'fixed'),
    between them fixed 0.6 / 0.4."""

    def weights(items: list[str]) -> dict:
        if within == "fixed":
            return {"method": "fixed", "weights": {items[0]: 0.7, items[1]: 0.3}}
        return {"method": within}

    document = {
        "name": "tiny",
        "groups": {
            "financial": {"indicators": {"revenue": {}, "gross_margin": {}}},
            "customer": {"indicators": {"csat": {}, "complaint_rate": {}}},
        },
        "profiles": {
            "default": {
                "group_weights": {"method": "fixed", "weights": {"financial": 0.6, "customer": 0.4}},
                "indicator_weights": {
                    "financial": weights(["revenue", "gross_margin"]),
                    "customer": weights(["csat", "complaint_rate"]),
                },
            }
        },
    }
    if stability is not None:
        document["stability"] = stability
    path = tmp_path / f"tiny_{within}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    model = load_model(path)
    assert [i.id for i in model.indicators] == ORDER
    return model


def random_values(m: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.gamma(2.0, 1000.0, m), rng.uniform(0.05, 0.4, m), rng.uniform(40, 100, m), rng.uniform(0, 0.2, m)]
    )


def run(model: ScoringModel, values: np.ndarray, **options):
    profile = model.profile("default")
    real = score_profile(model, profile, values)
    draws = bootstrap(model, profile, values, **options)
    weights, ranks = stability_of(model, real, draws, None, [f"a{i:02d}" for i in range(len(values))])
    return real, draws, weights, ranks


def test_identical_accounts_give_entropy_weights_without_a_band(tmp_path):
    model = tiny_model(tmp_path)
    values = np.tile([5000.0, 0.2, 70.0, 0.05], (12, 1))
    real, draws, weights, ranks = run(model, values, draws=50, seed=1)
    # Every resample is the same matrix: every draw has the real weights.
    assert draws.weights.shape == (50, 4)
    for r in weights.iter_rows(named=True):
        assert r["weight_p05"] == pytest.approx(r["weight"], abs=1e-12)
        assert r["weight_p95"] == pytest.approx(r["weight"], abs=1e-12)
        assert not r["unstable"]
    assert ranks.get_column("rank").to_list() == [1] * 12  # all tied
    assert set(ranks.get_column("rank_p95").to_list()) == {1.0}
    assert set(ranks.get_column("grade_stability").to_list()) == {1.0}


def test_the_same_seed_gives_the_same_draws_and_another_seed_others(tmp_path):
    model = tiny_model(tmp_path)
    values = random_values(30)
    first = run(model, values, draws=40, seed=5)
    again = run(model, values, draws=40, seed=5)
    other = run(model, values, draws=40, seed=6)
    assert np.array_equal(first[1].samples, again[1].samples)
    assert np.array_equal(first[1].weights, again[1].weights)
    assert first[2].equals(again[2]) and first[3].equals(again[3])
    assert not np.array_equal(first[1].samples, other[1].samples)
    assert not np.allclose(first[1].weights, other[1].weights)


def test_the_model_sets_draws_and_seed(tmp_path):
    model = tiny_model(tmp_path, stability={"draws": 30, "seed": 11})
    values = random_values(20)
    _, draws, weights, _ = run(model, values)
    assert draws.weights.shape[0] == 30
    assert set(weights.get_column("draws").to_list()) == {30}
    assert np.array_equal(draws.samples, run(model, values, draws=30, seed=11)[1].samples)
    assert load_model(tiny_model(tmp_path).path).spec.stability.draws == 200  # the default


def test_a_negative_number_of_draws_is_refused_before_any_data(tmp_path):
    with pytest.raises(ModelError, match=r"stability\.draws"):
        tiny_model(tmp_path, stability={"draws": -1})


def test_fixed_weights_have_no_band_and_stable_ranks(tmp_path):
    model = tiny_model(tmp_path, within="fixed")
    values = random_values(25)
    real, draws, weights, ranks = run(model, values, draws=60, seed=2)
    expected = {"revenue": 0.42, "gross_margin": 0.18, "csat": 0.28, "complaint_rate": 0.12}
    for r in weights.iter_rows(named=True):
        assert r["weight"] == pytest.approx(expected[r["indicator"]])
        assert r["weight_p05"] == pytest.approx(r["weight"]) and r["weight_p95"] == pytest.approx(r["weight"])
    # Every draw scores every account as the real score does.
    assert np.allclose(draws.score, real.score[:, None])
    order = np.argsort(-real.score, kind="stable")
    hand_rank = np.empty(25, dtype=int)
    hand_rank[order] = np.arange(1, 26)  # random scores: no ties
    assert ranks.get_column("rank").to_list() == hand_rank.tolist()
    assert ranks.get_column("rank_p05").to_list() == hand_rank.astype(float).tolist()
    assert ranks.get_column("rank_p95").to_list() == hand_rank.astype(float).tolist()
    assert set(ranks.get_column("grade_stability").to_list()) == {1.0}


def test_one_outlier_account_makes_the_entropy_weight_unstable(tmp_path):
    # gross_margin is flat except one account: min-max gives it 1 and every other 0, so entropy
    # gives that column nearly all the financial weight — when the outlier is drawn. A resample
    # without it (about 36 % of them) has an all-zero column with weight 0.
    model = tiny_model(tmp_path)
    values = random_values(30)
    values[:, 1] = 0.2
    values[7, 1] = 0.9
    real, draws, weights, _ = run(model, values, draws=200, seed=4)
    by = {r["indicator"]: r for r in weights.iter_rows(named=True)}
    margin = by["gross_margin"]
    assert margin["weight"] > 0.5  # the real weight: 0.6 x a share near 1
    assert margin["weight_p05"] == pytest.approx(0.0, abs=1e-12)
    assert margin["weight_p95"] - margin["weight_p05"] > 0.5
    assert margin["unstable"] and by["revenue"]["unstable"]
    without = [b for b in range(200) if 7 not in draws.samples[b]]
    assert 40 < len(without) < 110  # (29/30)^30 ≈ 0.36 of 200
    assert np.allclose(draws.weights[without, 1], 0.0)
    # The customer group has no outlier: its bands are far narrower.
    for indicator in ("csat", "complaint_rate"):
        assert by[indicator]["weight_p95"] - by[indicator]["weight_p05"] < 0.5 * (
            margin["weight_p95"] - margin["weight_p05"]
        )


def _entropy(x: np.ndarray) -> np.ndarray:
    """Entropy weights by the textbook formula (each column of a non-negative matrix)."""
    m = x.shape[0]
    p = x / x.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    d = 1.0 + plogp.sum(axis=0) / np.log(m)
    return d / d.sum()


def _minmax(col: np.ndarray, higher: bool) -> np.ndarray:
    s = (col - col.min()) / (col.max() - col.min())
    return s if higher else 1.0 - s


def test_draws_recomputed_by_hand_from_the_resampled_rows(tmp_path):
    model = tiny_model(tmp_path)
    values = random_values(15, seed=9)
    b = 120
    real, draws, weights, ranks = run(model, values, draws=b, seed=8)
    n = np.column_stack(
        [_minmax(values[:, j], higher) for j, higher in enumerate([True, True, True, False])]
    )  # complaint_rate: lower is better
    hand_weights = np.zeros((b, 4))
    for k, rows in enumerate(draws.samples):
        hand_weights[k, :2] = 0.6 * _entropy(n[rows][:, :2])
        hand_weights[k, 2:] = 0.4 * _entropy(n[rows][:, 2:])
    assert np.allclose(draws.weights, hand_weights)
    hand_scores = 100.0 * n @ hand_weights.T  # every account, every draw (no value missing)
    assert np.allclose(draws.score, hand_scores)
    low, high = np.percentile(hand_weights, [5, 95], axis=0)
    assert np.allclose(weights.get_column("weight_p05").to_numpy(), low)
    assert np.allclose(weights.get_column("weight_p95").to_numpy(), high)
    # Ranks per draw (1 = best; continuous scores, no ties), then their percentiles per account.
    hand_ranks = (-hand_scores).argsort(axis=0).argsort(axis=0) + 1
    rank_low, rank_high = np.percentile(hand_ranks, [5, 95], axis=1)
    assert np.allclose(ranks.get_column("rank_p05").to_numpy(), rank_low)
    assert np.allclose(ranks.get_column("rank_p95").to_numpy(), rank_high)

    def grade(score: float) -> str:
        return next(g for g, low in GRADES if score >= low)

    real_grades = [grade(s) for s in real.score]
    assert ranks.get_column("grade").to_list() == real_grades
    kept = [np.mean([grade(s) == real_grades[i] for s in hand_scores[i]]) for i in range(15)]
    assert np.allclose(ranks.get_column("grade_stability").to_numpy(), kept)
    assert any(k < 1 for k in kept), "the example should move some grade"


@pytest.fixture(scope="module")
def stability_run(generated_data, tmp_path_factory):
    """One daily run with the default model (200 draws); the Dagster result and the published file."""
    db = tmp_path_factory.mktemp("stability") / "kam.duckdb"
    result = run_pipeline(generated_data, db, AS_OF)
    assert result.success
    return result, db


@pytest.mark.integration
def test_a_pipeline_run_publishes_both_marts_with_their_checks(stability_run):
    result, db = stability_run
    checks = {
        (e.asset_key.path[-1], e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path[-1] in ("weight_stability", "rank_stability")
    }
    assert checks == {
        ("weight_stability", "gx_snapshot_valid"): True,
        ("weight_stability", "gx_row_count_stable"): True,
        ("rank_stability", "gx_snapshot_valid"): True,
        ("rank_stability", "gx_row_count_stable"): True,
    }
    with duckdb.connect(str(db), read_only=True) as conn:
        # One row per scored account, with the rank method_comparison gives it.
        assert (
            conn.execute(
                "select count(*), count(m.account_id), count(*) filter (where r.rank = m.rank) "
                "from marts.rank_stability r left join marts.method_comparison m using (as_of_date, account_id)"
            ).fetchone()
            == conn.execute("select count(*), count(*), count(*) from marts.method_comparison").fetchone()
        )
        # One row per indicator of every profile with accounts, with the weight indicator_weights stores.
        rows, matched, draws = conn.execute(
            "select count(*), count(*) filter (where abs(s.weight - w.weight) < 1e-12), min(s.draws) "
            "from marts.weight_stability s join marts.indicator_weights w "
            "using (as_of_date, subject, profile, indicator)"
        ).fetchone()
        profiles = conn.execute("select count(distinct profile) from marts.account_scores").fetchone()[0]
        indicators = conn.execute("select count(distinct indicator) from marts.score_contributions").fetchone()[0]
        assert rows == matched == profiles * indicators
        assert draws == 200


@pytest.mark.integration
@pytest.mark.parametrize("lang", LANGS)
def test_the_report_flags_the_profiles_with_unstable_weights(stability_run, tmp_path, lang):
    _, db = stability_run
    with duckdb.connect(str(db), read_only=True) as conn:
        flagged = conn.execute(
            "select profile, any_value(accounts), count(*) from marts.weight_stability "
            "where unstable group by profile order by profile"
        ).fetchall()
    page = html.unescape(build_report(db, tmp_path / f"report.{lang}.html", lang=lang).path.read_text("utf-8"))
    assert t(lang, "stability_heading") in page
    assert t(lang, "stability_text", draws=200) in page
    for profile, accounts, count in flagged:
        sentence = t(lang, "stability_unstable", profile=profile, accounts=accounts, count=count, items="\0")
        assert sentence.split("\0")[0] in page, profile
    if not flagged:
        assert t(lang, "stability_stable") in page


@pytest.mark.integration
def test_zero_draws_write_both_marts_without_rows(stability_run, tmp_path):
    _, db = stability_run
    work = tmp_path / "kam.work.duckdb"
    shutil.copy(db.with_name("kam.work.duckdb"), work)
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    document["stability"] = {"draws": 0}
    path = tmp_path / "off.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with duckdb.connect(str(work)) as conn:
        before = conn.execute("select count(*) from marts.rank_stability where as_of_date = ?", [AS_OF]).fetchall()[0]
        result = score_snapshot(conn, load_model(path), AS_OF)
        after = [
            conn.execute(f"select count(*) from marts.{table} where as_of_date = ?", [AS_OF]).fetchall()[0][0]
            for table in ("weight_stability", "rank_stability", "account_scores")
        ]
    assert before[0] > 0
    assert result.counts["weight_stability"] == result.counts["rank_stability"] == 0
    assert after[:2] == [0, 0] and after[2] == result.account_scores.height > 0


def _critic(x: np.ndarray) -> np.ndarray:
    """CRITIC weights by the textbook formula: σ_j (sample) · Σ_k (1 − r_jk), normalised."""
    r = np.corrcoef(x, rowvar=False)
    c = x.std(axis=0, ddof=1) * (1.0 - r).sum(axis=1)
    return c / c.sum()


def test_combined_entropy_with_missing_values_and_critic_recomputed_by_hand(tmp_path):
    # financial: 0.5 · expert (3 : 1) + 0.5 · entropy; customer: CRITIC; between groups fixed 0.6 / 0.4.
    # Missing values: the objective weights impute the resample's column mean, the score shares the
    # group's weight among the indicators the account has.
    document = yaml.safe_load(Path(tiny_model(tmp_path).path).read_text(encoding="utf-8"))
    weights_of = document["profiles"]["default"]["indicator_weights"]
    weights_of["financial"] = {
        "method": "combined",
        "combination": "linear",
        "alpha": 0.5,
        "subjective": {"method": "expert", "experts": {"cfo": {"revenue": 3, "gross_margin": 1}}},
        "objective": {"method": "entropy"},
    }
    weights_of["customer"] = {"method": "critic"}
    path = tmp_path / "combined.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    model = load_model(path)
    values = random_values(25, seed=4)
    values[[2, 7, 11], 0] = np.nan  # revenue missing for three accounts
    values[5, 1] = np.nan
    values[20] = values[3]  # two identical accounts
    b = 60
    _, draws, _, ranks = run(model, values, draws=b, seed=3)
    n = np.column_stack([_minmax(values[:, j], h) for j, h in enumerate([True, True, True, False])])
    n_nan = n.copy()
    for j in range(2):  # minmax over the known values, NaN stays NaN
        col = values[:, j]
        known = ~np.isnan(col)
        n_nan[:, j] = np.where(known, (col - np.nanmin(col)) / (np.nanmax(col) - np.nanmin(col)), np.nan)
    hand_weights = np.zeros((b, 4))
    for k, rows in enumerate(draws.samples):
        sample = n_nan[rows][:, :2].copy()
        for j in range(2):
            sample[np.isnan(sample[:, j]), j] = np.nanmean(sample[:, j])
        hand_weights[k, :2] = 0.6 * (0.5 * np.array([0.75, 0.25]) + 0.5 * _entropy(sample))
        hand_weights[k, 2:] = 0.4 * _critic(n_nan[rows][:, 2:])
    assert np.allclose(draws.weights, hand_weights, atol=1e-10)
    hand_scores = np.zeros((25, b))
    for i in range(25):
        have = ~np.isnan(n_nan[i])
        for k in range(b):
            w = hand_weights[k]
            financial = (w[:2] * have[:2]) @ np.nan_to_num(n_nan[i, :2]) / (w[:2] * have[:2]).sum()
            customer = w[2:] @ n_nan[i, 2:] / w[2:].sum()
            hand_scores[i, k] = 100 * (0.6 * financial + 0.4 * customer)
    assert np.allclose(draws.score, hand_scores, atol=1e-8)
    # The two identical accounts get exactly the same score in every draw, hence the same ranks.
    assert np.array_equal(draws.score[3], draws.score[20])
    by = {r["account_id"]: r for r in ranks.iter_rows(named=True)}
    assert (by["a03"]["rank_p05"], by["a03"]["rank_p95"]) == (by["a20"]["rank_p05"], by["a20"]["rank_p95"])


def test_ranks_and_grade_codes_match_rankdata_and_the_grade_rule():
    # The (accounts x draws) ranks and grade comparisons are vectorised; scipy's rankdata ("min", as
    # account_scores ranks) and the polars grade rule of account_scores are the references.
    import polars as pl
    from scipy import stats

    from kam_pipeline.scoring.snapshot import grade_expr
    from kam_pipeline.scoring.stability import _grade_codes, _ranks

    model = load_model(None)
    rng = np.random.default_rng(3)
    score = np.round(rng.uniform(0, 100, (400, 7)) / 5) * 5  # steps of 5: many ties
    score[rng.uniform(size=score.shape) < 0.1] = np.nan
    completeness = rng.uniform(0.0, 1.0, score.shape)
    expected = stats.rankdata(np.where(np.isnan(score), np.inf, -score), method="min", axis=0)
    assert np.array_equal(_ranks(score), expected)
    grades = (
        pl.DataFrame({"s": score.reshape(-1), "c": completeness.reshape(-1)})
        .select(grade_expr(pl.col("s"), pl.col("c"), model))
        .to_series()
        .to_numpy()
        .reshape(score.shape)
    )
    codes = _grade_codes(score, completeness, model)
    assert len(set(grades.reshape(-1))) >= 3  # several grades and insufficient_data are met
    for j in range(score.shape[1]):  # each column as the real grades, the others as draws
        assert np.array_equal(grades == grades[:, [j]], codes == codes[:, [j]])
    assert np.array_equal(codes == -1, grades == "insufficient_data")


@pytest.mark.parametrize("within", ["entropy", "fixed"])
def test_the_marts_rows_without_the_draw_matrices_equal_those_from_them(tmp_path, within):
    # score_snapshot ranks and grades the draws a chunk at a time (profile_stability) instead of
    # holding the accounts × draws matrices of bootstrap: the rows must be the same, for a profile
    # scored among its own accounts and for one scored among the portfolio (rows a mask), and the
    # chunks must not change the draws.
    model = tiny_model(tmp_path, within)
    profile = model.profile("default")
    values = random_values(90, seed=5)
    values[10:30] = values[4]  # many equal accounts: fewer distinct rows than accounts
    values[40:48, 2] = np.nan
    ids = [f"a{i:02d}" for i in range(90)]
    full = bootstrap(model, profile, values, draws=41, seed=6)
    for cells in (300, 1_120, 4_000_000):  # 2, 8 and all 41 draws per chunk (70 distinct rows × 2 groups)
        chunked = bootstrap(model, profile, values, draws=41, seed=6, cells=cells)
        assert np.array_equal(chunked.samples, full.samples)
        assert np.allclose(chunked.score, full.score, rtol=0, atol=1e-9, equal_nan=True)
    real = score_profile(model, profile, values)
    for cells in (300, 1_120, 4_000_000):
        expected = stability_of(
            model, real, bootstrap(model, profile, values, draws=41, seed=6, cells=cells), None, ids
        )
        got = profile_stability(model, profile, real, values, None, None, ids, draws=41, seed=6, cells=cells)
        assert got[0].equals(expected[0]) and got[1].equals(expected[1])
    mask = np.zeros(90, dtype=bool)
    mask[[3, 12, 44, 70, 85]] = True
    own = real.take(mask)
    own_ids = [a for a, keep in zip(ids, mask, strict=True) if keep]
    expected = stability_of(model, own, full, mask, own_ids)
    got = profile_stability(model, profile, own, values, None, mask, own_ids, draws=41, seed=6)
    assert got[1].get_column("account_id").to_list() == own_ids
    assert got[0].equals(expected[0]) and got[1].equals(expected[1])


def test_the_rank_bands_from_the_extreme_ranks_equal_those_of_every_draw():
    # profile_stability keeps, of each account's ranks, only the smallest and largest (merged a few
    # draws at a time): the 5 and 95 % percentiles must be those of all the draws, for any number of
    # draws and with ties, as np.percentile gives them.
    rng = np.random.default_rng(3)
    for draws in [*range(1, 60), 99, 100, 101, 199, 200, 201, 1000]:
        ranks = rng.integers(1, 12, size=(7, draws)).astype(np.int32)  # few values: many ties
        lowest, highest = _extreme_counts(draws)
        extremes = np.zeros((7, 0), dtype=np.int32)
        start = 0
        while start < draws:
            step = int(rng.integers(1, 9))
            extremes = _keep_extremes(
                np.concatenate([extremes, ranks[:, start : start + step]], axis=1), lowest, highest
            )
            start += step
        assert extremes.shape[1] <= draws
        got = np.percentile(_with_middle(extremes, draws, lowest).astype(float), [5.0, 95.0], axis=1)
        assert np.array_equal(got, np.percentile(ranks.astype(float), [5.0, 95.0], axis=1)), draws


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_the_bootstrap_runs_on_one_blas_thread_and_gives_the_count_back(tmp_path):
    before = _blas_threads()
    assert before, "NumPy's BLAS is loaded"
    with _narrow_products():
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before
    model = tiny_model(tmp_path)
    run(model, random_values(40), draws=30, seed=1)
    assert _blas_threads() == before
