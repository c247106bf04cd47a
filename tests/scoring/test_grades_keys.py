"""Grades and key-account flags, computed as polars expressions, against the rules written out
one account at a time (DOMAIN.md: grade bands, Pareto share of revenue, then rules in order)."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import polars as pl
import yaml

from kam_pipeline.scoring.model import default_model_path, load_model
from kam_pipeline.scoring.snapshot import _key_accounts, grade_expr


def model_with_rules(tmp_path, rules):
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    document["key_accounts"] = {"pareto_share": 0.5, "rules": rules}
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_model(path)


def expected_grade(score, completeness, model):
    if score is None or math.isnan(score) or completeness < model.spec.evaluation.min_completeness:
        return "insufficient_data"
    return next(b.grade for b in model.spec.grades if score >= b.min)


def test_grade_bands_boundaries_and_insufficient_data():
    model = load_model(None)
    minimum = model.spec.evaluation.min_completeness
    cases = [
        (80.0, 1.0),
        (79.999, 1.0),
        (65.0, minimum),
        (64.9, 0.9),
        (50.0, 1.0),
        (0.0, 1.0),
        (100.0, minimum - 0.01),
        (None, 1.0),
        (float("nan"), 1.0),
    ]
    frame = pl.DataFrame(
        {"score": [c[0] for c in cases], "completeness": [c[1] for c in cases]},
        schema={"score": pl.Float64, "completeness": pl.Float64},
    )
    got = frame.select(grade_expr(pl.col("score"), pl.col("completeness"), model)).to_series().to_list()
    assert got == [expected_grade(s, c, model) for s, c in cases]
    assert got[:3] == ["A", "B", "B"] and got[-3:] == ["insufficient_data"] * 3


def test_key_accounts_pareto_first_then_rules_in_order(tmp_path):
    model = model_with_rules(
        tmp_path,
        [
            {"name": "strategic", "segments": ["multinational"]},
            {"name": "big_smb", "segments": ["smb"], "min_revenue": 1000},
            {"name": "any_big", "min_revenue": 5000},
        ],
    )
    rng = random.Random(5)
    segments = ["multinational", "smb", "mid_market", None]
    rows = [
        {
            "account_id": f"A{i:03d}",
            "segment": rng.choice(segments),
            "revenue": rng.choice(
                [
                    None,
                    Decimal("0"),
                    Decimal("999.9999"),
                    Decimal("1000"),
                    Decimal("5000"),
                    Decimal(str(round(rng.uniform(-100, 20000), 4))),
                ]
            ),
        }
        for i in range(300)
    ]
    frame = pl.DataFrame(rows, schema={"account_id": pl.String, "segment": pl.String, "revenue": pl.Decimal(38, 4)})
    got = {r["account_id"]: r["key_account_rule"] for r in _key_accounts(frame, model).iter_rows(named=True)}

    # The rules written out: the accounts holding the top half of positive revenue, then the rules.
    positive = sorted(
        (r for r in rows if r["revenue"] is not None and r["revenue"] > 0),
        key=lambda r: (-r["revenue"], r["account_id"]),
    )
    total, above, pareto = sum(r["revenue"] for r in positive), Decimal(0), set()
    for r in positive:
        if above < Decimal("0.5") * total:
            pareto.add(r["account_id"])
        above += r["revenue"]
    for r in rows:
        revenue = r["revenue"] or 0
        if r["account_id"] in pareto:
            want = "pareto_50"
        elif r["segment"] == "multinational":
            want = "rule:strategic"
        elif r["segment"] == "smb" and revenue >= 1000:
            want = "rule:big_smb"
        elif revenue >= 5000:
            want = "rule:any_big"
        else:
            want = None
        assert got[r["account_id"]] == want, r
    flags = _key_accounts(frame, model)
    assert flags.get_column("is_key_account").to_list() == [
        v is not None for v in flags.get_column("key_account_rule").to_list()
    ]
    assert {v for v in got.values()} >= {"pareto_50", "rule:strategic", "rule:big_smb", "rule:any_big", None}
