"""marts.score_changes and marts.account_obstacles after daily runs on generated data, recomputed here
from marts.score_contributions and the stored history (plain Python over the fetched rows)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF


def _rows(db: Path, sql: str, params: list | None = None) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as conn:
        result = conn.execute(sql, params or [])
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def _contributions(db: Path, as_of: dt.date) -> dict[tuple[str, str], dict]:
    rows = _rows(db, "select * from marts.score_contributions where as_of_date = ?", [as_of])
    return {(r["account_id"], r["indicator"]): r for r in rows}


def _zero(x: float | None) -> float:
    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def test_score_changes_split_every_delta_into_value_and_weight_effects(pipeline_db: Path):
    stored = sorted(r["d"] for r in _rows(pipeline_db, "select distinct as_of_date as d from marts.account_scores"))
    assert stored == [AS_OF - dt.timedelta(days=7), AS_OF]
    before, day = stored
    now, prev = _contributions(pipeline_db, day), _contributions(pipeline_db, before)
    scores = {
        r["account_id"]: r for r in _rows(pipeline_db, "select * from marts.account_scores where as_of_date = ?", [day])
    }
    earlier = {
        r["account_id"]
        for r in _rows(pipeline_db, "select account_id from marts.account_scores where as_of_date = ?", [before])
    }
    compared = set(scores) & earlier
    expected = {}
    for account, indicator in {k for k in now | prev if k[0] in compared}:
        cur, old = now.get((account, indicator)), prev.get((account, indicator))
        w, n = (_zero(cur["weight"]), _zero(cur["normalized"])) if cur else (0.0, 0.0)
        w0, n0 = (_zero(old["weight"]), _zero(old["normalized"])) if old else (0.0, 0.0)
        c, c0 = _zero(cur["contribution"]) if cur else 0.0, _zero(old["contribution"]) if old else 0.0
        expected[(account, indicator)] = (c - c0, 100 * w0 * (n - n0), 100 * (w - w0) * n)
    rows = _rows(pipeline_db, "select * from marts.score_changes where as_of_date = ?", [day])
    got = {(r["account_id"], r["indicator"]): r for r in rows}
    assert set(got) == set(expected) and len(rows) == len(got)
    for key, (delta, value_effect, weight_effect) in expected.items():
        row = got[key]
        assert row["previous_as_of_date"] == before
        assert row["delta"] == pytest.approx(delta, abs=1e-9)
        assert row["value_effect"] == pytest.approx(value_effect, abs=1e-9)
        assert row["weight_effect"] == pytest.approx(weight_effect, abs=1e-9)
        assert row["value_effect"] + row["weight_effect"] == pytest.approx(row["delta"], abs=1e-9)
    # An account's deltas add up to the score_change account_scores reports.
    for account in compared:
        total = sum(r["delta"] for k, r in got.items() if k[0] == account)
        if scores[account]["score_change"] is not None:
            assert total == pytest.approx(scores[account]["score_change"], abs=1e-6)
    # Objective (entropy/CRITIC) weights move with the data: some points come from re-weighting alone.
    assert any(abs(r["weight_effect"]) > 1e-6 for r in rows)
    assert any(abs(r["value_effect"]) > 1e-6 for r in rows)
    # The first stored snapshot has nothing to compare with.
    assert _rows(pipeline_db, "select * from marts.score_changes where as_of_date = ?", [before]) == []


def test_obstacle_degrees_are_shares_of_the_points_missed(pipeline_db: Path):
    contributions = _contributions(pipeline_db, AS_OF)
    shortfall: dict[str, dict[str, float]] = {}
    for (account, indicator), r in contributions.items():
        if r["normalized"] is not None and not math.isnan(r["normalized"]):
            shortfall.setdefault(account, {})[indicator] = r["weight"] * (1 - r["normalized"])
    rows = _rows(pipeline_db, "select * from marts.account_obstacles where as_of_date = ?", [AS_OF])
    got = {(r["account_id"], r["indicator"]): r for r in rows}
    assert set(got) == {(a, i) for a, per in shortfall.items() for i in per}
    for account, per in shortfall.items():
        total = sum(per.values())
        order = sorted(per, key=lambda i: (-per[i], i))
        for indicator, gap in per.items():
            row = got[(account, indicator)]
            assert row["points_lost"] == pytest.approx(100 * gap, abs=1e-9)
            if total > 0:
                assert row["obstacle_degree"] == pytest.approx(gap / total, abs=1e-12)
                assert row["obstacle_rank"] == order.index(indicator) + 1
            else:
                assert row["obstacle_degree"] is None and row["obstacle_rank"] is None
        assert math.isclose(sum(got[(account, i)]["obstacle_degree"] or 0 for i in per), 1.0 if total > 0 else 0.0)
