"""The `bounded` normalisation: fixed scale [lo, hi], clipped, and its validation in the model file."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from kam_pipeline.scoring.model import ModelError, default_model_path, load_model
from kam_pipeline.scoring.normalize import CONSTANT_SCORE, bounded, normalize

NAN = math.nan


def test_bounded_against_hand_computed_values():
    # CSAT on 0-100: 25 -> 0.25, 87.5 -> 0.875; beyond the scale clipped; NaN stays missing.
    got = bounded([0, 25, 87.5, 100, 120, -5, NAN], "higher", (0, 100))
    np.testing.assert_allclose(got, [0.0, 0.25, 0.875, 1.0, 1.0, 0.0, NAN], rtol=0, atol=1e-15)
    # NPS on -100..100: 20 -> (20 + 100) / 200 = 0.6, -100 -> 0, 0 -> 0.5
    np.testing.assert_allclose(bounded([20, -100, 0], "higher", [-100, 100]), [0.6, 0.0, 0.5], rtol=0, atol=1e-15)
    # SLA breach rate on 0-1, lower is better: 0.1 -> 0.9; 1.5 clipped to 1 -> 0
    np.testing.assert_allclose(bounded([0.1, 0.0, 1.5, NAN], "lower", (0, 1)), [0.9, 1.0, 0.0, NAN], rtol=0, atol=1e-15)
    # revenue retention on 0..2: keeping the revenue (1.0) is the midpoint
    assert bounded([1.0], "higher", (0, 2))[0] == 0.5
    # dispatch by name with the bounds option
    np.testing.assert_array_equal(normalize([30, 60], "bounded", "higher", bounds=(0, 120)), [0.25, 0.5])


def test_bounded_does_not_depend_on_the_peers():
    # One account alone is judged on the scale (min-max would give it the constant 0.5) ...
    assert bounded([92.0], "higher", (0, 100))[0] == pytest.approx(0.92)
    assert normalize([92.0], "minmax", "higher")[0] == CONSTANT_SCORE
    # ... and the best of a weak group is not made perfect: its score is the same with or without the others.
    weak = [40.0, 55.0, 61.0]
    assert bounded(weak, "higher", (0, 100))[2] == pytest.approx(0.61)
    assert bounded(weak, "higher", (0, 100))[2] == bounded([61.0], "higher", (0, 100))[0]


@pytest.mark.parametrize("bad", [(100, 0), (5, 5), (0, math.inf), (NAN, 1), (1,), "0-100"])
def test_bounded_refuses_a_broken_scale(bad):
    with pytest.raises(ValueError, match="bounds"):
        bounded([1.0], "higher", bad)


def _model_with(tmp_path: Path, edit) -> Path:
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    edit(document)
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _csat(document: dict, **spec) -> None:
    document["groups"]["customer"]["indicators"]["csat"].update(spec)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda d: _csat(d, bounds=[100, 0]),
            "groups.customer.indicators.csat.bounds: lo must be below hi, got [100, 0]",
        ),
        (lambda d: _csat(d, bounds=[50, 50]), "groups.customer.indicators.csat.bounds: lo must be below hi"),
        (lambda d: _csat(d, bounds=[0, 50, 100]), "groups.customer.indicators.csat.bounds: must be two numbers"),
        (
            lambda d: d["groups"]["customer"]["indicators"]["csat"].pop("bounds"),
            "groups.customer.indicators.csat.bounds: required for normalization 'bounded'",
        ),
        (
            lambda d: _csat(d, normalization="minmax"),
            "groups.customer.indicators.csat.bounds: only used by normalization 'bounded'",
        ),
        (
            lambda d: d["managers"]["groups"]["kpi"]["indicators"]["kpi_attainment"].update(bounds=[1, 0]),
            "managers.groups.kpi.indicators.kpi_attainment.bounds: lo must be below hi, got [1, 0]",
        ),
    ],
)
def test_a_broken_bounds_fails_with_its_path(tmp_path, edit, problem):
    path = _model_with(tmp_path, edit)
    with pytest.raises(ModelError) as caught:
        load_model(path)
    assert any(p.startswith(f"{path}: {problem}") for p in caught.value.problems), caught.value.problems


def test_an_infinite_bound_is_refused(tmp_path):
    path = tmp_path / "model.yaml"
    text = default_model_path().read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "csat:               {normalization: bounded, bounds: [0, 100]}",
            "csat: {normalization: bounded, bounds: [0, .inf]}",
            1,
        ),
        encoding="utf-8",
    )
    assert ".inf" in path.read_text(encoding="utf-8")
    with pytest.raises(
        ModelError, match=r"groups\.customer\.indicators\.csat\.bounds\.1: Input should be a finite number"
    ):
        load_model(path)


@pytest.mark.integration
def test_kam_run_refuses_a_broken_bounds_before_reading_any_data(tmp_path):
    path = _model_with(tmp_path, lambda d: _csat(d, bounds=[100, 0]))
    db = tmp_path / "kam.duckdb"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kam_pipeline.cli",
            "run",
            "--model",
            str(path),
            "--data",
            str(tmp_path / "no_such_folder"),
            "--db",
            str(db),
            "--as-of",
            "2026-07-01",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert f"{path}: groups.customer.indicators.csat.bounds: lo must be below hi" in done.stderr
    assert "Traceback" not in done.stderr and not db.exists()


def test_the_shipped_model_bounds_every_indicator_on_a_known_scale():
    model = load_model()
    bounds = {i.id: tuple(i.spec.bounds) for i in model.indicators if i.spec.normalization == "bounded"}
    assert bounds == {
        "revenue_retention": (0, 2),
        "payback": (0, 1),  # the acquisition cost paid back (1) is the best
        "csat": (0, 100),
        "nps": (-100, 100),
        "share_of_wallet": (0, 1),
        "active_month_ratio": (0, 1),
        "sla_breach_rate": (0, 1),
        "overdue_ratio": (0, 1),
        "strategic_importance": (0, 100),
        "cooperation_willingness": (0, 100),
        "innovation_cooperation": (0, 100),
        "industry_position": (0, 100),
    }
    # revenue_retention is capped in SQL at retention_cap: the scale ends there.
    assert bounds["revenue_retention"][1] == model.spec.evaluation.retention_cap
    managers = {
        i.id: tuple(i.spec.bounds) for i in model.manager_model().indicators if i.spec.normalization == "bounded"
    }
    assert managers == {
        "nrr": (0, 2),
        "account_score": (0, 100),
        "csat": (0, 100),
        "logo_retention": (0, 1),
        "share_of_wallet": (0, 1),
        "sla_breach_rate": (0, 1),
        "feedback_score": (0, 100),
        "kpi_attainment": (0, 1),
    }
    assert model.spec.evaluation.min_peers == 10
