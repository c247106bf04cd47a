"""marts.method_comparison and method_agreement after real pipeline runs, recomputed independently
from score_contributions (pymcdm for TOPSIS, Deng's definition by loops for GRA), and the stored
game-theory coefficients and expert AHP matrices of a model that uses them."""

from __future__ import annotations

import html
import itertools
import json

import duckdb
import numpy as np
import pytest
import yaml
from pymcdm.methods import TOPSIS

from conftest import AS_OF, run_pipeline
from kam_pipeline.report import build_report
from kam_pipeline.report.i18n import LANGS, number, t
from kam_pipeline.scoring.model import default_model_path

pytestmark = pytest.mark.integration

GROUP_EXPERTS = {
    # rows/columns: financial, customer, internal_process, learning_growth
    "sales_director": [[1, 2, 3, 4], [1 / 2, 1, 2, 3], [1 / 3, 1 / 2, 1, 2], [1 / 4, 1 / 3, 1 / 2, 1]],
    "service_lead": [[1, 1, 2, 3], [1, 1, 3, 3], [1 / 2, 1 / 3, 1, 1], [1 / 3, 1 / 3, 1, 1]],
}


@pytest.fixture(scope="module")
def methods_run(generated_data, tmp_path_factory):
    """A run with a model that combines by game theory, asks two experts for the group AHP, and sets ρ;
    returns the published database and the model file."""
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    default = document["profiles"]["default"]
    default["group_weights"] = {"method": "ahp", "matrices": GROUP_EXPERTS}
    # Every profile combines by game theory: the default's specs, and those the new accounts' profile
    # sets for itself (the others inherit the default's).
    own = [*default["indicator_weights"].values(), *document["profiles"]["new_accounts"]["indicator_weights"].values()]
    for spec in own:
        spec["combination"] = "game_theory"
        spec.pop("alpha", None)
    document["profiles"]["multinational"].pop("group_weights")
    document["methods"] = {"gra_rho": 0.3}
    folder = tmp_path_factory.mktemp("methods")
    model = folder / "model.yaml"
    model.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    db = folder / "kam.duckdb"
    result = run_pipeline(generated_data, db, AS_OF, model)
    assert result.success
    checks = {
        (e.asset_key.path[-1], e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path[-1] in ("method_comparison", "method_agreement")
    }
    assert checks and all(checks.values()), checks
    return db, model


@pytest.fixture(scope="module")
def methods_db(methods_run):
    with duckdb.connect(str(methods_run[0]), read_only=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def default_db(pipeline_db):
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        yield conn


def _profiles(conn):
    return [
        r[0]
        for r in conn.execute(
            "select distinct profile from marts.method_comparison where as_of_date = ?", [AS_OF]
        ).fetchall()
    ]


def _matrix(conn, profile):
    """The profile's scored accounts, their normalised values (NaN = missing) and the base weights."""
    rows = conn.execute(
        """
        select c.account_id, c.indicator, c.normalized, c.base_weight
        from marts.score_contributions as c
        join marts.method_comparison as m using (as_of_date, account_id)
        where c.as_of_date = ? and m.profile = ?
        order by c.account_id, c.indicator
        """,
        [AS_OF, profile],
    ).fetchall()
    accounts = sorted({r[0] for r in rows})
    indicators = sorted({r[1] for r in rows})
    x = np.full((len(accounts), len(indicators)), np.nan)
    w = np.zeros(len(indicators))
    for account, indicator, value, weight in rows:
        i, j = accounts.index(account), indicators.index(indicator)
        x[i, j] = np.nan if value is None else value
        w[j] = weight
    # The rules, written here: a missing cell is its column's mean, an empty column goes,
    # and the weights are shared out again over the columns kept.
    keep = ~np.isnan(x).all(axis=0)
    x, w = x[:, keep], w[keep] / w[keep].sum()
    for j in range(x.shape[1]):
        x[np.isnan(x[:, j]), j] = np.nanmean(x[:, j])
    return accounts, x, w


def _stored(conn, profile, column):
    return dict(
        conn.execute(
            f"select account_id, {column} from marts.method_comparison where as_of_date = ? and profile = ?",
            [AS_OF, profile],
        ).fetchall()
    )


def _deng(x, w, rho):
    m, n = x.shape
    reference = [max(x[i, j] for i in range(m)) for j in range(n)]
    delta = [[abs(reference[j] - x[i, j]) for j in range(n)] for i in range(m)]
    low, high = min(map(min, delta)), max(map(max, delta))
    return [
        sum(w[j] * (1.0 if high == 0 else (low + rho * high) / (delta[i][j] + rho * high)) for j in range(n))
        for i in range(m)
    ]


@pytest.mark.parametrize(("database", "rho"), [("default_db", 0.5), ("methods_db", 0.3)])
def test_closeness_and_grades_recompute_from_the_contributions(request, database, rho):
    conn = request.getfixturevalue(database)
    body = TOPSIS(normalization_function=lambda x, cost: x)
    profiles = _profiles(conn)
    assert profiles
    for profile in profiles:
        accounts, x, w = _matrix(conn, profile)
        closeness = _stored(conn, profile, "topsis_closeness")
        grades = _stored(conn, profile, "gra_grade")
        if len(accounts) > 1:
            expected = body(x, w, np.ones(x.shape[1]))
            assert [closeness[a] for a in accounts] == pytest.approx(list(expected), abs=1e-9), profile
        assert [grades[a] for a in accounts] == pytest.approx(_deng(x, w, rho), abs=1e-9), profile


@pytest.mark.parametrize("database", ["default_db", "methods_db"])
def test_every_scored_account_is_ranked_within_its_profile(request, database):
    conn = request.getfixturevalue(database)
    bad = conn.execute(
        """
        with m as (
            select *, count(*) over (partition by profile) as accounts
            from marts.method_comparison where as_of_date = ?
        )
        select count(*) from m
        where not (rank between 1 and accounts and topsis_rank between 1 and accounts
                   and gra_rank between 1 and accounts
                   and topsis_closeness between 0 and 1 and gra_grade between 0 and 1)
        """,
        [AS_OF],
    ).fetchall()[0][0]
    assert bad == 0
    # The same accounts and scores as account_scores, and the weighted-sum rank is the score's rank in the profile.
    mismatched = conn.execute(
        """
        select count(*) from marts.account_scores as s
        full join marts.method_comparison as m using (as_of_date, account_id)
        where coalesce(s.as_of_date, m.as_of_date) = ? and (s.score is not null or m.account_id is not null)
          and (m.account_id is null or s.account_id is null or s.profile <> m.profile or s.score <> m.score)
        """,
        [AS_OF],
    ).fetchall()[0][0]
    assert mismatched == 0
    for profile in _profiles(conn):
        scores = _stored(conn, profile, "score")
        ranks = _stored(conn, profile, "rank")
        for account, score in scores.items():
            assert ranks[account] == 1 + sum(other > score for other in scores.values())


def _kendall(a, b):
    pairs = list(itertools.combinations(range(len(a)), 2))
    concordant = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs)
    ties_a = sum(a[i] == a[j] for i, j in pairs)
    ties_b = sum(b[i] == b[j] for i, j in pairs)
    n0 = len(pairs)
    return concordant / np.sqrt((n0 - ties_a) * (n0 - ties_b))  # τ-b


def test_agreement_rows_match_the_comparison(default_db):
    rows = default_db.execute(
        "select profile, accounts, topsis_kendall, gra_kendall, topsis_spearman from marts.method_agreement "
        "where as_of_date = ?",
        [AS_OF],
    ).fetchall()
    assert {r[0] for r in rows} == set(_profiles(default_db))
    for profile, accounts, topsis_kendall, gra_kendall, topsis_spearman in rows:
        scores = _stored(default_db, profile, "score")
        assert accounts == len(scores)
        ids = sorted(scores)
        a = np.array([scores[i] for i in ids])
        for column, stored in (("topsis_closeness", topsis_kendall), ("gra_grade", gra_kendall)):
            other = _stored(default_db, profile, column)
            b = np.array([other[i] for i in ids])
            if accounts < 2:
                assert stored is None
            else:
                assert stored == pytest.approx(_kendall(a, b), abs=1e-9)
        if accounts >= 2:
            assert -1 <= topsis_spearman <= 1
    assert (
        default_db.execute("select count(distinct as_of_date) from marts.method_agreement").fetchall()[0][0] == 2
    )  # both daily runs


def test_linear_combination_stores_alpha_and_its_complement(default_db):
    rows = default_db.execute(
        "select distinct alpha_subjective, alpha_objective, group_alpha_subjective from marts.indicator_weights "
        "where as_of_date = ? and subject = 'account'",
        [AS_OF],
    ).fetchall()
    assert rows == [(0.5, 0.5, None)]  # the default combines linearly with alpha 0.5; groups are plain AHP


def test_game_theory_coefficients_solve_the_system_of_the_stored_weights(methods_db):
    groups = methods_db.execute(
        'select profile, "group", list(subjective_weight order by indicator), list(objective_weight order by indicator), '
        "any_value(alpha_subjective), any_value(alpha_objective), any_value(method), "
        "list(weight_in_group order by indicator) "
        "from marts.indicator_weights where as_of_date = ? and subject = 'account' group by all",
        [AS_OF],
    ).fetchall()
    assert groups
    for profile, group, subjective, objective, a_s, a_o, method, final in groups:
        u1, u2 = np.array(subjective), np.array(objective)
        gram = np.array([[u1 @ u1, u1 @ u2], [u2 @ u1, u2 @ u2]])
        alpha = np.linalg.solve(gram, np.diag(gram))
        star = np.abs(alpha) / np.abs(alpha).sum()
        assert (a_s, a_o) == pytest.approx(tuple(star), abs=1e-9), (profile, group)
        assert final == pytest.approx(list(star[0] * u1 + star[1] * u2), abs=1e-9)
        assert method == "combined(expert+entropy,game_theory)"


def test_each_expert_and_the_aggregate_are_stored_with_their_consistency(methods_db):
    rows = {
        (r[0], r[1]): r[2:]
        for r in methods_db.execute(
            "select profile, matrix_name, matrix, weights, lambda_max, cr from marts.weight_consistency "
            "where as_of_date = ? and subject = 'account'",
            [AS_OF],
        ).fetchall()
    }
    for profile in ("default", "multinational"):
        assert {name for p, name in rows if p == profile} == {"groups", "groups:sales_director", "groups:service_lead"}
        for expert, matrix in GROUP_EXPERTS.items():
            stored = np.array(json.loads(rows[(profile, f"groups:{expert}")][0]))
            assert stored == pytest.approx(np.array(matrix))
        aggregate = np.array(json.loads(rows[(profile, "groups")][0]))
        assert aggregate == pytest.approx(
            np.sqrt(np.array(GROUP_EXPERTS["sales_director"]) * GROUP_EXPERTS["service_lead"])
        )
        values, vectors = np.linalg.eig(aggregate)
        k = int(np.argmax(values.real))
        w = np.abs(vectors[:, k].real)
        _, weights, lambda_max, cr = rows[(profile, "groups")]
        assert json.loads(weights) == pytest.approx(list(w / w.sum()), abs=1e-9)
        assert cr == pytest.approx((values[k].real - 4) / 3 / 0.90, abs=1e-9)
        assert lambda_max == pytest.approx(values[k].real, abs=1e-9)


@pytest.mark.parametrize("lang", LANGS)
def test_the_report_shows_the_coefficients_and_every_expert(methods_run, methods_db, tmp_path, lang):
    db, model = methods_run
    page = build_report(db, tmp_path / f"report.{lang}.html", lang=lang, model=model).path.read_text(encoding="utf-8")
    text = html.unescape(page)  # Deng's -> the template escapes the apostrophe
    a_s, a_o = methods_db.execute(
        "select alpha_subjective, alpha_objective from marts.indicator_weights "
        "where as_of_date = ? and subject = 'account' and profile = 'default' and \"group\" = 'customer' limit 1",
        [AS_OF],
    ).fetchall()[0]
    label = "Customer" if lang == "en" else "客户"
    where = t(lang, "matrix_indicators", group=label)
    shown = t(lang, "game_theory_level", where=where, subjective=number(a_s, 3, lang), objective=number(a_o, 3, lang))
    assert shown in text
    for expert in GROUP_EXPERTS:
        assert t(lang, "matrix_expert", where=t(lang, "matrix_groups"), expert=expert) in text
    assert t(lang, "matrix_aggregate", where=t(lang, "matrix_groups")) in text
    assert t(lang, "methods_text", rho=number(0.3, 2, lang)) in text
