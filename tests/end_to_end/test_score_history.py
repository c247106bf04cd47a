"""Daily runs 190, 95 and 0 days before AS_OF on generated data: marts.score_backtest recomputed here
from the stored account_scores and account_indicators, `kam backtest` and the report's backtest lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import AS_OF, run_pipeline
from kam_pipeline.demo.generate import generate_dataset

DATES = [AS_OF - dt.timedelta(days=190), AS_OF - dt.timedelta(days=95), AS_OF]


@pytest.fixture(scope="module")
def history_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("history_data")
    # More accounts than the shared set, so that some churn between the snapshots.
    generate_dataset(data, accounts=60, days=900, seed=5, end=AS_OF - dt.timedelta(days=1))
    db = tmp_path_factory.mktemp("history_db") / "kam.duckdb"
    for as_of in DATES:
        assert run_pipeline(data, db, as_of).success
    return db


def _auc(retained: list[float], churned: list[float]) -> float | None:
    if not retained or not churned:
        return None
    wins = sum(1.0 if r > c else 0.5 if r == c else 0.0 for r in retained for c in churned)
    return wins / (len(retained) * len(churned))


@pytest.mark.integration
def test_backtest_of_every_snapshot_that_has_a_later_one(history_db: Path):
    with duckdb.connect(str(history_db), read_only=True) as conn:
        scores = conn.execute("select as_of_date, account_id, score from marts.account_scores").fetchall()
        flags = conn.execute("select as_of_date, account_id, is_churned from marts.account_indicators").fetchall()
        rows = conn.execute("select * from marts.score_backtest order by as_of_date, horizon_days").fetchall()
        columns = [d[0] for d in conn.execute("select * from marts.score_backtest limit 0").description]
    churned_at = {(d, a): c for d, a, c in flags}
    got = {(r[0], r[1]): dict(zip(columns, r, strict=True)) for r in rows}
    expected = {}
    for d in DATES:
        for h in (90, 180):
            later = [f for f in DATES if f >= d + dt.timedelta(days=h)]
            if not later:
                continue
            f = later[0]
            cohort = [
                (a, s)
                for day, a, s in scores
                if day == d and s is not None and churned_at.get((d, a)) == 0 and (f, a) in churned_at
            ]
            gone = [s for a, s in cohort if churned_at[(f, a)] == 1]
            kept = [s for a, s in cohort if churned_at[(f, a)] != 1]
            ordered = sorted(cohort, key=lambda x: (x[1], x[0]))
            n = len(ordered)
            # ntile(5): the first n % 5 tiles hold one account more.
            size, extra = divmod(n, 5)
            bottom = ordered[: size + (1 if extra > 0 else 0)]
            top = ordered[n - size :] if size else []
            expected[(d, h)] = {
                "followed_as_of_date": f,
                "accounts": n,
                "churned_accounts": len(gone),
                "auc": _auc(kept, gone),
                "bottom": sum(churned_at[(f, a)] == 1 for a, _ in bottom) / len(bottom),
                "top": sum(churned_at[(f, a)] == 1 for a, _ in top) / len(top) if top else None,
            }
    assert set(got) == set(expected) == {(DATES[0], 90), (DATES[0], 180), (DATES[1], 90)}
    for key, e in expected.items():
        row = got[key]
        assert row["followed_as_of_date"] == e["followed_as_of_date"]
        assert (row["accounts"], row["churned_accounts"]) == (e["accounts"], e["churned_accounts"])
        assert row["auc"] == pytest.approx(e["auc"], abs=1e-12) if e["auc"] is not None else row["auc"] is None
        assert row["bottom_quintile_churn_rate"] == pytest.approx(e["bottom"])
        assert row["top_quintile_churn_rate"] == pytest.approx(e["top"])
    assert any(e["churned_accounts"] > 0 for e in expected.values())

    cli = subprocess.run(
        [sys.executable, "-m", "kam_pipeline.cli", "backtest", "--db", str(history_db)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    lines = [line for line in cli.stdout.splitlines() if line[:4].isdigit()]
    assert len(lines) == 3 and lines[0].startswith(f"{DATES[0]}       90  {DATES[1]}")


@pytest.mark.integration
def test_the_report_shows_the_latest_backtest_and_says_when_it_failed(history_db: Path):
    from kam_pipeline.report import default_report_path
    from kam_pipeline.report.data import load
    from kam_pipeline.report.narrative import Labels, backtest_sentences
    from kam_pipeline.scoring.model import load_model

    data = load(history_db)
    # Per horizon the latest snapshot whose follow-up is stored: D2 for 90 days, D1 for 180.
    assert data.backtest.select("horizon_days", "as_of_date").rows() == [(90, DATES[1]), (180, DATES[0])]
    labels = Labels("en", load_model())
    sentences = backtest_sentences(data, labels)
    assert len(sentences) == 2
    for sentence, row in zip(sentences, data.backtest.iter_rows(named=True), strict=True):
        if row["auc"] is None:
            assert "nothing to test the score against" in sentence
        elif row["auc"] <= 0.5:
            assert sentence.startswith("The score did not predict churn")
        else:
            assert f"AUC {row['auc']:.2f}" in sentence and "did not predict" not in sentence
    html = default_report_path(history_db, data.as_of, "en").read_text(encoding="utf-8")
    assert "Did the score predict churn?" in html and sentences[0].split(":")[0] in html
    # A score that ranked churned accounts above retained ones is said to have failed, in both languages.
    failed = dataclasses.replace(data, backtest=data.backtest.head(1).with_columns(pl.lit(0.4).alias("auc")))
    assert backtest_sentences(failed, labels)[0].startswith("The score did not predict churn: ")
    assert backtest_sentences(failed, Labels("zh", load_model()))[0].startswith("得分未能预测流失")


@pytest.mark.integration
def test_kam_backtest_says_when_the_score_did_not_predict_churn(history_db: Path, tmp_path: Path):
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(history_db.read_bytes())
    with duckdb.connect(str(copy)) as conn:
        # The published marts are views over read-only Parquet files: the copy gets its own table.
        conn.execute("create table marts.backtest_copy as select * from marts.score_backtest")
        conn.execute("drop view marts.score_backtest")
        conn.execute("alter table marts.backtest_copy rename to score_backtest")
        conn.execute("update marts.score_backtest set auc = 0.4 where horizon_days = 90")
    run = [sys.executable, "-m", "kam_pipeline.cli", "backtest", "--db"]
    out = subprocess.run([*run, str(copy)], capture_output=True, text=True, check=True).stdout
    assert f"did not predict churn: scores of {DATES[1]} against 90 days later, AUC 0.400" in out
    missing = subprocess.run([*run, str(tmp_path / "none.duckdb")], capture_output=True, text=True, check=False)
    assert missing.returncode == 1 and "database not found" in missing.stderr
