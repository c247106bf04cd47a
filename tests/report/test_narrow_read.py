"""The report reads only the account_indicators columns and the kpi_attainment rows it uses: rendered from
the whole snapshot of both tables instead, it is the same report, byte for byte, in both languages."""

from __future__ import annotations

import dataclasses

import duckdb
import polars as pl
import pytest

from conftest import AS_OF
from kam_pipeline.report.data import load
from kam_pipeline.report.findings import analyse
from kam_pipeline.report.i18n import LANGS
from kam_pipeline.report.render import render_report
from kam_pipeline.scoring.model import load_model

pytestmark = pytest.mark.integration


def _whole(db_path, table: str) -> pl.DataFrame:
    with duckdb.connect(str(db_path), read_only=True) as conn:
        frame = conn.sql(f"select * from marts.{table} where as_of_date = ?", params=[AS_OF]).pl()
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))


@pytest.mark.parametrize("lang", LANGS)
def test_the_narrowed_read_renders_the_report_of_the_whole_snapshot(pipeline_db, lang):
    model = load_model()
    data = load(pipeline_db, AS_OF, model)
    indicators, kpis = _whole(pipeline_db, "account_indicators"), _whole(pipeline_db, "kpi_attainment")
    # The read is narrower: every account, fewer columns; no account-level KPI rows.
    assert data.indicators.height == indicators.height
    assert set(data.indicators.columns) < set(indicators.columns)
    assert "account" in kpis.get_column("level").to_list()
    assert data.kpis is not None and data.kpis.height == kpis.filter(pl.col("level") != "account").height
    # What the narrowed frames feed is in the fixture's report: key accounts below a target, churned and new
    # accounts (the lifecycle lists), managers' and teams' KPI attainment (the league tables).
    assert analyse(data, model).below_target
    assert {"new", "churned"} <= set(data.indicators.get_column("lifecycle_stage").to_list())
    assert {"manager", "team"} <= set(data.kpis.get_column("level").to_list())
    whole = dataclasses.replace(data, indicators=indicators, kpis=kpis, derived={})
    assert render_report(data, model, lang) == render_report(whole, model, lang)
