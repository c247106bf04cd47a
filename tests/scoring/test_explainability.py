"""Every published weight and score can be recomputed from what the marts store (independent maths)."""

from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import pytest

from conftest import AS_OF
from kam_pipeline.scoring.model import load_model
from kam_pipeline.scoring.normalize import normalize

pytestmark = pytest.mark.integration

SAATY_RI = {3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45, 10: 1.49}


@pytest.fixture()
def db(pipeline_db):
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        yield conn


def test_ahp_figures_recompute_from_the_stored_matrices(db):
    rows = db.execute(
        "select subject, profile, matrix_name, n, items, matrix, weights, lambda_max, ci, cr "
        "from marts.weight_consistency where as_of_date = ?",
        [AS_OF],
    ).fetchall()
    assert (
        len(rows) == 4
    )  # the group matrices of the account profiles default, multinational, new_accounts and the managers
    for subject, profile, _name, n, items, matrix, weights, lambda_max, ci, cr in rows:
        a = np.array(json.loads(matrix), dtype=float)
        values, vectors = np.linalg.eig(a)
        k = int(np.argmax(values.real))
        w = np.abs(vectors[:, k].real)
        w /= w.sum()
        lam = float(values[k].real)
        assert lam == pytest.approx(lambda_max, abs=1e-9)
        assert ci == pytest.approx((lam - n) / (n - 1), abs=1e-9)
        assert cr == pytest.approx(((lam - n) / (n - 1)) / SAATY_RI[n], abs=1e-9)
        assert json.loads(weights) == pytest.approx(list(w), abs=1e-9)
        # the group weights used for scoring are that eigenvector
        stored = dict(
            db.execute(
                'select "group", any_value(group_weight) from marts.indicator_weights '
                "where as_of_date = ? and subject = ? and profile = ? group by 1",
                [AS_OF, subject, profile],
            ).fetchall()
        )
        assert [stored[item] for item in json.loads(items)] == pytest.approx(list(w), abs=1e-9), (subject, profile)


def _entropy(matrix: np.ndarray) -> np.ndarray:
    m = matrix.shape[0]
    d = []
    for column in matrix.T:
        total = column.sum()
        if total == 0:
            d.append(0.0)
            continue
        p = column / total
        e = -sum(x * math.log(x) for x in p if x > 0) / math.log(m)
        d.append(1 - e)
    d = np.array(d)
    return d / d.sum() if d.sum() > 0 else np.full(len(d), 1 / len(d))


def test_entropy_and_combined_weights_recompute_from_the_normalised_values(db):
    groups = db.execute(
        'select profile, "group", list(indicator order by indicator) from marts.indicator_weights '
        "where as_of_date = ? and subject = 'account' and objective_weight is not null group by all",
        [AS_OF],
    ).fetchall()
    assert groups
    peer_groups = dict(
        db.execute(
            "select distinct profile, peer_group from marts.account_scores where as_of_date = ?", [AS_OF]
        ).fetchall()
    )
    assert set(peer_groups.values()) == {"default", "portfolio"}  # the generated data has both cases
    specs = {i.id: i for i in load_model().indicators}
    for profile, group, indicators in groups:
        if peer_groups[profile] == profile:
            # Compared among its own accounts: the stored normalised values are the entropy's input.
            accounts = [
                r[0]
                for r in db.execute(
                    "select distinct account_id from marts.score_contributions where as_of_date = ? and profile = ? "
                    "order by 1",
                    [AS_OF, profile],
                ).fetchall()
            ]
            cells = {
                (a, i): v
                for a, i, v in db.execute(
                    "select account_id, indicator, case when imputed or value is null then null else normalized end "
                    'from marts.score_contributions where as_of_date = ? and profile = ? and "group" = ?',
                    [AS_OF, profile, group],
                ).fetchall()
            }
            matrix = np.array(
                [[np.nan if cells[(a, i)] is None else cells[(a, i)] for i in indicators] for a in accounts],
                dtype=float,
            )
        else:
            # Compared with the portfolio (fewer than min_peers accounts): every scored account's raw
            # values, normalised together by each indicator's method, are the entropy's input.
            assert peer_groups[profile] == "portfolio"
            raw = {
                (a, i): v
                for a, i, v in db.execute(
                    "select account_id, indicator, value from marts.score_contributions "
                    'where as_of_date = ? and "group" = ?',
                    [AS_OF, group],
                ).fetchall()
            }
            accounts = sorted({a for a, _ in raw})
            columns = []
            for i in indicators:
                spec = specs[i].spec
                options = {"bounds": spec.bounds} if spec.normalization == "bounded" else {}
                column = [np.nan if raw[(a, i)] is None else raw[(a, i)] for a in accounts]
                columns.append(normalize(column, spec.normalization, specs[i].direction, **options))
            matrix = np.column_stack(columns)
        # a missing normalised value counts as its column mean (README); an empty column as no information
        for j in range(matrix.shape[1]):
            col = matrix[:, j]
            known = ~np.isnan(col)
            col[~known] = col[known].mean() if known.any() else 0.0
        stored = db.execute(
            "select objective_weight, subjective_weight, weight_in_group, method from marts.indicator_weights "
            "where as_of_date = ? and subject = 'account' and profile = ? and \"group\" = ? order by indicator",
            [AS_OF, profile, group],
        ).fetchall()
        # An indicator the experts give no importance is set aside (docs/scoring_model.md): the entropy
        # is computed over the others, and it gets 0.
        kept = np.array([r[1] > 0 for r in stored])
        if kept.any() and not kept.all():
            expected = np.zeros(len(indicators))
            expected[kept] = _entropy(matrix[:, kept])
        else:
            expected = _entropy(matrix)
        assert [r[0] for r in stored] == pytest.approx(list(expected), abs=1e-9), (profile, group)
        alpha = float(stored[0][3].split("alpha=")[1].rstrip(")"))
        for objective, subjective, final, _ in stored:
            assert final == pytest.approx(alpha * subjective + (1 - alpha) * objective, abs=1e-12)


def test_final_weight_is_group_weight_times_weight_in_group(db):
    bad = db.execute(
        "select count(*) from marts.indicator_weights where abs(weight - group_weight * weight_in_group) > 1e-12"
    ).fetchall()[0][0]
    assert bad == 0


def test_account_kpi_attainment_recomputes_from_indicators(db):
    targets = {"revenue_growth": 0.20, "csat": 90.0, "active_month_ratio": 0.80, "share_of_wallet": 0.30}
    rows = db.execute(
        "select k.entity_id, k.kpi, k.value, k.target, k.attainment, k.met, "
        "i.revenue_growth, i.csat, i.active_month_ratio, i.share_of_wallet "
        "from marts.kpi_attainment k join marts.account_indicators i "
        "on i.as_of_date = k.as_of_date and i.account_id = k.entity_id "
        "where k.as_of_date = ? and k.level = 'account'",
        [AS_OF],
    ).fetchall()
    assert len(rows) == 24 * 4
    for _account, kpi, value, target, attainment, met, *indicator_values in rows:
        raw = dict(zip(targets, indicator_values, strict=True))[kpi]
        assert target == targets[kpi]
        if raw is None:
            assert value is None and attainment is None and met is None
        else:
            assert value == pytest.approx(float(raw))
            assert attainment == pytest.approx(float(raw) / targets[kpi])
            assert met == (float(raw) >= targets[kpi])
    summary = db.execute(
        # DuckDB's least/greatest skip NULLs, so a missing KPI is kept out of the mean explicitly
        "select s.account_id, s.kpi_attainment, "
        "avg(case when k.attainment is not null then least(greatest(k.attainment, 0), 1) end) "
        "from marts.account_scores s join marts.kpi_attainment k "
        "on k.as_of_date = s.as_of_date and k.level = 'account' and k.entity_id = s.account_id "
        "where s.as_of_date = ? group by all",
        [AS_OF],
    ).fetchall()
    for account, stored, expected in summary:
        assert stored == pytest.approx(expected), account
