"""The report's conclusions from marts.score_changes and marts.account_obstacles, checked against the
contributions and the stored history of a two-date pipeline run (recomputed here in plain Python)."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb

from kam_pipeline.report.data import load
from kam_pipeline.report.findings import analyse
from kam_pipeline.report.narrative import Labels, drop_sentence, risk_sentence
from kam_pipeline.scoring.model import default_model_path, load_model


def _contributions(conn, as_of) -> dict[tuple[str, str], tuple[float, float, float]]:
    rows = conn.execute(
        "select account_id, indicator, weight, normalized, contribution from marts.score_contributions "
        "where as_of_date = ?",
        [as_of],
    ).fetchall()

    def zero(x):
        return 0.0 if x is None or math.isnan(x) else x

    return {(a, i): (zero(w), zero(n), zero(c)) for a, i, w, n, c in rows}


def test_drops_are_split_into_value_effects_and_reweighting(pipeline_db: Path):
    model = load_model(default_model_path())
    data = load(pipeline_db)
    findings = analyse(data, model)
    assert data.previous_as_of is not None and findings.drops
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        now, before = _contributions(conn, data.as_of), _contributions(conn, data.previous_as_of)
    for drop in findings.drops:
        keys = {i for a, i in now | before if a == drop.account_id}
        value_effects, reweighting = {}, 0.0
        for indicator in keys:
            w, n, _ = now.get((drop.account_id, indicator), (0.0, 0.0, 0.0))
            w0, n0, _ = before.get((drop.account_id, indicator), (0.0, 0.0, 0.0))
            value_effects[indicator] = 100 * w0 * (n - n0)
            reweighting += 100 * (w - w0) * n
        # The three largest value effects by size, then the re-weighting, add up with the rest to the change.
        top = sorted((i for i in value_effects if value_effects[i] != 0), key=lambda i: (-abs(value_effects[i]), i))[:3]
        assert [i for i, _ in drop.breakdown] == top
        assert all(math.isclose(p, value_effects[i], abs_tol=1e-9) for i, p in drop.breakdown)
        assert math.isclose(drop.reweighting, reweighting, abs_tol=1e-9)
        assert math.isclose(sum(value_effects.values()) + reweighting, drop.change, abs_tol=1e-6)
        sentence = drop_sentence(drop, Labels("en", model))
        assert f"Score {drop.change:+.1f}: " in sentence and f"reweighting {reweighting:+.1f}." in sentence
        assert "权重变化" in drop_sentence(drop, Labels("zh", model))


def test_risks_name_their_three_largest_obstacles(pipeline_db: Path):
    model = load_model(default_model_path())
    data = load(pipeline_db)
    findings = analyse(data, model)
    assert findings.risks
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        rows = conn.execute(
            "select account_id, indicator, weight, normalized from marts.score_contributions "
            "where as_of_date = ? and normalized is not null and not isnan(normalized)",
            [data.as_of],
        ).fetchall()
    for risk in findings.risks:
        gaps = {i: w * (1 - n) for a, i, w, n in rows if a == risk.account_id}
        total = sum(gaps.values())
        top = sorted(gaps, key=lambda i: (-gaps[i], i))[:3]
        assert [i for i, _ in risk.obstacles] == top
        assert all(math.isclose(d, gaps[i] / total) for i, d in risk.obstacles)
        labels = Labels("en", model)
        assert f"Largest obstacles: {labels.indicator(top[0])} ({100 * gaps[top[0]] / total:.1f} %)" in risk_sentence(
            risk, labels
        )
