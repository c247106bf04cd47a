"""KPI rows (kpi_attainment) against a row-by-row computation of the module's stated rules.

Attainment is value/target for a higher-is-better KPI and target/value for a lower-is-better
one, where a value <= 0 meets any target (attainment = cap); no value, no attainment.
"""

from __future__ import annotations

import math
import random

import polars as pl
import pytest

from kam_pipeline.scoring.kpi import direction_of, kpi_rows

CAP = 1.5


def expected_rows(entities: list[dict], level: str, targets_of: dict[str, dict[str, float]]) -> list[tuple]:
    """The rules of kpi.py, one record at a time, in entity order then target order."""
    rows = []
    for record in entities:
        for kpi, target in targets_of.get(record["targets_key"], {}).items():
            if kpi not in record:
                continue
            value = record[kpi]
            direction = direction_of(kpi)
            if value is None or math.isnan(value):
                attainment = None
            elif direction == "lower":
                attainment = CAP if value <= 0 else target / value
            else:
                attainment = value / target
            if value is None:
                met = None
            elif math.isnan(value):
                met = False
            else:
                met = value >= target if direction == "higher" else value <= target
            rows.append((level, record["entity_id"], kpi, direction, value, float(target), attainment, met))
    return rows


def same(actual: list[tuple], expected: list[tuple]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got[:4] == want[:4]
        for a, b in zip(got[4:], want[4:], strict=True):
            if isinstance(b, float) and math.isnan(b):
                assert a is not None and math.isnan(a)
            else:
                assert a == pytest.approx(b) if isinstance(b, float) else a == b, (got, want)


def test_both_directions_missing_values_and_targets_by_profile():
    # avg_resolution_hours is lower-is-better, csat higher-is-better.
    assert direction_of("avg_resolution_hours") == "lower" and direction_of("csat") == "higher"
    entities = [
        {"entity_id": "A1", "targets_key": "default", "csat": 95.0, "avg_resolution_hours": 10.0},
        {"entity_id": "A2", "targets_key": "default", "csat": None, "avg_resolution_hours": 0.0},
        {"entity_id": "A3", "targets_key": "large", "csat": 60.0, "avg_resolution_hours": -2.0},
        {"entity_id": "A4", "targets_key": "unknown", "csat": 70.0, "avg_resolution_hours": 5.0},
        {"entity_id": "A5", "targets_key": "default", "csat": float("nan"), "avg_resolution_hours": 48.0},
    ]
    # 'large' lists its KPIs in the other order, and names a KPI the entities lack (skipped).
    targets = {
        "default": {"csat": 90.0, "avg_resolution_hours": 24.0},
        "large": {"avg_resolution_hours": 12.0, "nps": 30.0, "csat": 80.0},
    }
    actual = kpi_rows(pl.DataFrame(entities), "account", targets, CAP).rows()
    same(actual, expected_rows(entities, "account", targets))
    # Spelled out for the cases that matter most.
    by_key = {(r[1], r[2]): r for r in actual}
    assert by_key[("A1", "avg_resolution_hours")][6:] == (pytest.approx(2.4), True)
    assert by_key[("A2", "avg_resolution_hours")][6:] == (CAP, True)
    assert by_key[("A2", "csat")][6:] == (None, None)
    assert by_key[("A5", "csat")][6:] == (None, False)
    assert [r[2] for r in actual if r[1] == "A3"] == ["avg_resolution_hours", "csat"]
    assert not [r for r in actual if r[1] == "A4"]


def test_random_books_match_the_row_by_row_rules():
    rng = random.Random(11)
    kpis = ["csat", "revenue_growth", "avg_resolution_hours", "sla_breach_rate", "share_of_wallet"]
    targets = {
        key: {k: round(rng.uniform(0.1, 50), 3) for k in rng.sample(kpis, rng.randint(1, len(kpis)))}
        for key in ("default", "small", "large")
    }
    entities = [
        {
            "entity_id": f"E{i}",
            "targets_key": rng.choice(["default", "small", "large", "none"]),
            **{k: rng.choice([None, 0.0, -1.0, rng.uniform(-5, 60)]) for k in kpis},
        }
        for i in range(400)
    ]
    actual = kpi_rows(pl.DataFrame(entities), "manager", targets, CAP).rows()
    same(actual, expected_rows(entities, "manager", targets))


def test_no_entities_or_no_kpis_give_an_empty_frame_with_the_schema():
    empty = kpi_rows(
        pl.DataFrame(
            {"entity_id": [], "targets_key": [], "csat": []},
            schema={"entity_id": pl.String, "targets_key": pl.String, "csat": pl.Float64},
        ),
        "team",
        {"": {"csat": 80.0}},
        CAP,
    )
    assert empty.height == 0 and empty.columns[-2:] == ["attainment", "met"]
    none = kpi_rows(pl.DataFrame({"entity_id": ["T1"], "targets_key": [""]}), "team", {"": {"csat": 80.0}}, CAP)
    assert none.height == 0 and none.schema == empty.schema
