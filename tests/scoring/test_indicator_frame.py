"""The indicator frame score_snapshot reads: one query for the columns it scores, with the assessed
dimensions as columns, equal to every column of the mart with each dimension joined in polars."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from conftest import AS_OF
from kam_pipeline.scoring.model import default_model_path, load_model
from kam_pipeline.scoring.snapshot import SCORE_COLUMNS, _indicator_frame, account_kpi_names

pytestmark = pytest.mark.integration


def test_the_scored_columns_equal_those_of_the_whole_mart_joined_per_dimension(pipeline_db):
    model = load_model(default_model_path())
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        got = _indicator_frame(conn, model, AS_OF)
        expected = conn.sql(
            "select * from marts.account_indicators where as_of_date = ? order by account_id", params=[AS_OF]
        ).pl()
        long = conn.sql(
            "select account_id, dimension, score from marts.account_assessments where as_of_date = ?", params=[AS_OF]
        ).pl()
    assessed = [i for i in model.indicators if i.spec.source == "assessments"]
    assert assessed and long.height  # the data rate accounts on the model's dimensions
    for ind in assessed:
        column = long.filter(pl.col("dimension") == (ind.spec.dimension or ind.id)).select(
            "account_id", pl.col("score").alias(ind.id)
        )
        expected = expected.join(column, on="account_id", how="left")
    needed = {
        *(c for c in SCORE_COLUMNS if c != "profile"),
        "lifecycle_stage",
        "is_churned",
        *(i.id for i in model.indicators),
        *(account_kpi_names(model) & set(expected.columns)),
    }
    assert needed <= set(got.columns) < set(expected.columns)
    assert got.height == expected.height > 0
    assert got.equals(expected.select(got.columns))
    assert got.select(pl.any_horizontal(pl.col(i.id).is_not_null() for i in assessed).any()).item()
