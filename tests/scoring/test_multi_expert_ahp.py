"""Several experts' AHP matrices (AIJ) and game-theory combination coefficients, against independent maths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from kam_pipeline.scoring.engine import resolve_weights
from kam_pipeline.scoring.model import ModelError, load_model
from kam_pipeline.scoring.weights import (
    WeightError,
    aggregate_judgements,
    ahp_weights,
    combine_weights,
    game_theory_coefficients,
)

SAATY_RI = {3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24}

# Three judges of one 3-item level; the third is Saaty's (1980) example of a consistent-enough
# 3x3 matrix (1, 3, 5 / 1/3, 1, 3 / 1/5, 1/3, 1), the others disagree with it moderately.
JUDGES = {
    "sales_director": [[1, 2, 4], [1 / 2, 1, 2], [1 / 4, 1 / 2, 1]],
    "finance_director": [[1, 1 / 2, 2], [2, 1, 3], [1 / 2, 1 / 3, 1]],
    "kam_lead": [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]],
}

# Wang & Chin (2011): an inconsistent 6x6 matrix, CR = 0.229 with Saaty's RI.
WANG_CHIN = [
    [1, 4, 3, 1, 3, 4],
    [1 / 4, 1, 7, 3, 1 / 5, 1],
    [1 / 3, 1 / 7, 1, 1 / 5, 1 / 5, 1 / 6],
    [1, 1 / 3, 5, 1, 1, 1 / 3],
    [1 / 3, 5, 5, 1, 1, 3],
    [1 / 4, 1, 6, 3, 1 / 3, 1],
]


def _eigen(matrix):
    """Saaty's principal eigenvector, λmax, CI and CR, computed here with numpy alone."""
    a = np.asarray(matrix, dtype=float)
    values, vectors = np.linalg.eig(a)
    k = int(np.argmax(values.real))
    w = np.abs(vectors[:, k].real)
    lam = float(values[k].real)
    n = a.shape[0]
    ci = max(0.0, (lam - n) / (n - 1))
    return w / w.sum(), lam, ci, ci / SAATY_RI[n]


def test_aggregate_is_the_element_wise_geometric_mean_and_stays_reciprocal():
    stack = np.array(list(JUDGES.values()))
    expected = np.cbrt(stack[0] * stack[1] * stack[2])
    aggregate = aggregate_judgements(list(JUDGES.values()))
    assert aggregate == pytest.approx(expected)
    assert aggregate * aggregate.T == pytest.approx(np.ones((3, 3)))


def test_aij_equals_aip_under_the_geometric_mean_prioritisation():
    # Forman & Peniwati (1998): with row geometric means, the priorities of the aggregated
    # judgements (AIJ) are the normalised geometric mean of the experts' own priorities (AIP).
    own = []
    for matrix in JUDGES.values():
        g = np.exp(np.log(np.asarray(matrix)).mean(axis=1))
        own.append(g / g.sum())
    aip = np.exp(np.log(np.array(own)).mean(axis=0))
    aip /= aip.sum()
    aij = ahp_weights(aggregate_judgements(list(JUDGES.values())), method="geometric").weights
    assert aij == pytest.approx(aip, abs=1e-12)


def test_aggregating_refuses_mismatched_or_unusable_matrices():
    with pytest.raises(WeightError, match="different shapes"):
        aggregate_judgements([np.ones((2, 2)), np.ones((3, 3))])
    with pytest.raises(WeightError, match="matrix 2 is not usable"):
        aggregate_judgements([np.ones((2, 2)), [[1, 3], [3, 1]]])


def test_engine_records_every_expert_and_the_aggregate_under_the_level():
    spec = load_model_from(small_document(JUDGES)).profile("default").indicator_weights["customer"]
    result = resolve_weights(spec, ["csat", "nps", "complaint_rate"], None, "default", "indicators:customer")
    names = [r["matrix_name"] for r in result.consistency]
    assert names == [f"indicators:customer:{e}" for e in JUDGES] + ["indicators:customer"]
    for record, matrix in zip(result.consistency, [*JUDGES.values(), None], strict=True):
        stored = np.array(json.loads(record["matrix"]))
        if matrix is None:  # the aggregate: the geometric mean computed here
            matrix = np.cbrt(np.prod(np.array(list(JUDGES.values())), axis=0))
        assert stored == pytest.approx(np.asarray(matrix))
        w, lam, ci, cr = _eigen(matrix)
        assert json.loads(record["weights"]) == pytest.approx(list(w), abs=1e-9)
        assert (record["lambda_max"], record["ci"], record["cr"]) == pytest.approx((lam, ci, cr), abs=1e-9)
        assert record["random_index"] == SAATY_RI[3]
    assert result.final == pytest.approx(_eigen(np.cbrt(np.prod(np.array(list(JUDGES.values())), axis=0)))[0])


def small_document(matrices: dict, **extra) -> dict:
    return {
        "name": "experts",
        "groups": {
            "financial": {"indicators": {"revenue": {}, "gross_margin": {}}},
            "customer": {"indicators": {"csat": {}, "nps": {}, "complaint_rate": {}}},
        },
        "profiles": {
            "default": {
                "group_weights": {"method": "fixed", "weights": {"financial": 0.6, "customer": 0.4}},
                "indicator_weights": {
                    "financial": {"method": "fixed", "weights": {"revenue": 0.7, "gross_margin": 0.3}},
                    "customer": {"method": "ahp", "matrices": matrices, **extra},
                },
            },
        },
    }


def load_model_from(document: dict, tmp: Path | None = None):
    import tempfile

    folder = Path(tmp or tempfile.mkdtemp())
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_model(path)


def _errors(document: dict, tmp_path: Path) -> str:
    with pytest.raises(ModelError) as caught:
        load_model_from(document, tmp_path)
    return str(caught.value)


def test_an_inconsistent_expert_stops_the_model_naming_the_expert_and_the_cr(tmp_path):
    document = small_document({"kam_lead": JUDGES["kam_lead"], "analyst": WANG_CHIN})
    document["groups"]["customer"]["indicators"] = {
        i: {} for i in ["csat", "nps", "complaint_rate", "product_quality", "service_quality", "responsiveness"]
    }
    document["profiles"]["default"]["indicator_weights"]["customer"]["matrices"]["kam_lead"] = np.ones((6, 6)).tolist()
    message = _errors(document, tmp_path)
    cr = _eigen(WANG_CHIN)[3]
    assert round(cr, 3) == 0.229
    assert "profiles.default.indicator_weights.customer.matrices.analyst" in message
    assert f"expert 'analyst': CR = {cr:.3f} > 0.10" in message
    assert "kam_lead" not in message  # the consistent expert is not blamed


def test_allow_inconsistent_lets_an_inconsistent_expert_through(tmp_path):
    document = small_document({"analyst": WANG_CHIN}, allow_inconsistent=True)
    document["groups"]["customer"]["indicators"] = {
        i: {} for i in ["csat", "nps", "complaint_rate", "product_quality", "service_quality", "responsiveness"]
    }
    load_model_from(document, tmp_path)


@pytest.mark.parametrize(
    ("matrices", "extra", "expected"),
    [
        ({"sales director": JUDGES["kam_lead"]}, {}, "matrices.sales director: expert names must match"),
        ({"kam_lead": [[1, 2], [0.5, 1]]}, {}, "matrices.kam_lead: must be 3×3"),
        ({"kam_lead": [[1, 3, 5], [3, 1, 3], [0.2, 1 / 3, 1]]}, {}, "matrices.kam_lead: (row 1 'csat', col 2 'nps')"),
        ({}, {}, "matrices: at least one expert's matrix is required"),
        (JUDGES, {"matrix": JUDGES["kam_lead"]}, "give either matrix (one judgement) or matrices"),
    ],
)
def test_bad_expert_matrices_are_reported_with_their_path(tmp_path, matrices, extra, expected):
    assert expected in _errors(small_document(matrices, **extra), tmp_path)


def test_game_theory_coefficients_solve_the_linear_system():
    # An independent solution: the 2x2 system (u_i · u_j) α = (u_i · u_i) written out by hand.
    u1 = np.array([0.5, 0.3, 0.15, 0.05])
    u2 = np.array([0.1, 0.2, 0.3, 0.4])
    a, b, c = u1 @ u1, u1 @ u2, u2 @ u2
    det = a * c - b * b
    alpha = np.array([(a * c - b * c) / det, (a * c - a * b) / det])  # Cramer's rule on [[a, b], [b, c]]
    star = np.abs(alpha) / np.abs(alpha).sum()
    assert game_theory_coefficients(u1, u2) == pytest.approx(star)
    assert combine_weights(u1, u2, method="game_theory") == pytest.approx(star[0] * u1 + star[1] * u2)
