"""The Dagster definitions load as `dagster dev` loads them, with the expected jobs, schedule and checks."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import yaml

from kam_pipeline.definitions import defs
from kam_pipeline.ingest.contract import SOURCES


def test_workspace_points_at_the_definitions_module():
    workspace = yaml.safe_load(open("workspace.yaml", encoding="utf-8"))
    assert workspace["load_from"][0]["python_module"]["module_name"] == "kam_pipeline.definitions"


def test_assets_are_grouped_by_layer():
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for source in SOURCES:
        assert specs[f"staging/{source}"].group_name == "staging"
    for table in (
        "account_indicators",
        "account_scores",
        "score_contributions",
        "portfolio_kpis",
        "manager_scores",
        "team_scores",
        "indicator_weights",
        "weight_consistency",
    ):
        assert specs[f"marts/{table}"].group_name == "marts"
        assert specs[f"marts/{table}"].partitions_def is not None
    for table in ("account_order_figures", "account_invoice_figures", "market_growth", "window_years"):
        assert specs[f"intermediate/{table}"].group_name == "intermediate"
        assert specs[f"intermediate/{table}"].partitions_def is not None
    assert specs["published_snapshot"].group_name == "publish"


def test_daily_schedule_runs_the_partitioned_job_every_morning():
    schedule = defs.resolve_schedule_def("kam_daily_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    job = defs.resolve_job_def("kam_daily")
    assert isinstance(job.partitions_def, dg.DailyPartitionsDefinition)


def _check_specs():
    return {
        (spec.asset_key.to_user_string(), spec.name): spec
        for assets_def in defs.assets or []
        for spec in assets_def.check_specs
    }


def test_every_staging_table_has_a_blocking_contract_check():
    checks = _check_specs()
    for source in SOURCES:
        assert checks[(f"staging/{source}", "satisfies_contract")].blocking
        assert not checks[(f"staging/{source}", "quarantine_share")].blocking


def test_marts_have_blocking_great_expectations_suites():
    checks = _check_specs()
    for table in ("account_indicators", "account_scores", "manager_scores", "team_scores", "portfolio_kpis"):
        assert checks[(f"marts/{table}", "gx_snapshot_valid")].blocking
        assert not checks[(f"marts/{table}", "gx_row_count_stable")].blocking
    assert checks[("marts/indicator_weights", "gx_weights_sum_to_one")].blocking


def test_contract_check_fails_on_a_bad_frame():
    import polars as pl

    from kam_pipeline.defs.checks import contract_check_result, quarantine_check_result

    bad = pl.DataFrame(
        {"manager_id": ["M1", None], "manager_name": ["a", "b"], "team_id": ["T", "T"], "team_name": ["t", "t"]}
    )
    assert contract_check_result("managers", bad).passed is False
    assert contract_check_result("managers", bad.drop_nulls()).passed is True
    assert quarantine_check_result(staged=90, quarantined=10).passed is False
    assert quarantine_check_result(staged=99, quarantined=1).passed is True


# ---------------------------------------------------------------------------------------------
# Lineage: the graph shows what each asset really reads.

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def _tables_named_in(sql_file: Path) -> set[str]:
    """Every `staging.x` / `intermediate.x` / `marts.x` the file's SQL (comments stripped) names, other
    than its own table."""
    text = re.sub(r"/\*.*?\*/", "", re.sub(r"--[^\n]*", "", sql_file.read_text(encoding="utf-8")), flags=re.S)
    named = {f"{schema}/{table}" for schema, table in re.findall(r"\b(staging|intermediate|marts)\.([a-z_]+)\b", text)}
    if re.search(r"\bstate\.account_order_days\b", text):
        # The running order totals (warehouse/order_days.py) are kept up to date from the order lines.
        named.add("staging/orders")
    return named - {f"{sql_file.parent.name}/{sql_file.stem}"}


def _upstream(key: str) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {parent.to_user_string() for parent in graph.get(dg.AssetKey(key.split("/"))).parent_keys}


def test_every_sql_mart_depends_on_exactly_the_tables_its_file_reads():
    files = sorted(SQL_DIR.glob("marts/*.sql"))
    assert len(files) >= 6
    for sql_file in files:
        named = _tables_named_in(sql_file)
        assert named, sql_file.name
        assert _upstream(f"marts/{sql_file.stem}") == named, sql_file.name
    # The indicators read the figures of every source from the intermediate models.
    assert {f"intermediate/{f.stem}" for f in SQL_DIR.glob("intermediate/*.sql")} <= _upstream(
        "marts/account_indicators"
    )
    # account_indicators never reads expert assessments or manager feedback.
    assert not {"staging/assessments", "staging/feedback"} & _upstream("marts/account_indicators")


def test_marts_read_the_lifecycle_mart_before_them():
    # A mart may read another mart: the lifecycle runs before the indicators and the bridge that read it.
    assert "marts/account_lifecycle" in _upstream("marts/account_indicators")
    assert _upstream("marts/revenue_bridge") == {"marts/account_lifecycle", "staging/managers"}
    assert {"staging/orders", "staging/accounts", "staging/acquisition"} <= _upstream("marts/account_lifecycle")


def test_every_intermediate_model_depends_on_exactly_the_tables_its_file_reads():
    files = sorted(SQL_DIR.glob("intermediate/*.sql"))
    assert len(files) >= 6
    for sql_file in files:
        named = _tables_named_in(sql_file)
        assert _upstream(f"intermediate/{sql_file.stem}") == named, sql_file.name
    assert _upstream("intermediate/account_order_figures") == {"staging/accounts", "staging/orders"}
    assert _upstream("intermediate/market_growth") == {"staging/market", "intermediate/window_years"}


def test_weights_depend_on_the_indicators_they_are_computed_from():
    for table in ("indicator_weights", "weight_consistency", "account_scores", "score_contributions"):
        assert {"marts/account_indicators", "marts/account_assessments"} <= _upstream(f"marts/{table}"), table


def test_the_published_snapshot_waits_for_every_marts_table():
    marts = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs() if spec.group_name == "marts"}
    assert len(marts) == 23  # 14, then account_lifecycle, revenue_bridge, method_comparison, method_agreement,
    # score_changes, account_obstacles, score_backtest, weight_stability and rank_stability
    assert _upstream("published_snapshot") == marts


def test_repartitioning_for_an_early_date_keeps_the_graph():
    from kam_pipeline.definitions import all_assets
    from kam_pipeline.defs.partitions import daily_partitions, with_partitions

    early = with_partitions(all_assets, daily_partitions("1990-01-01"))
    before = {spec.key: ({d.asset_key for d in spec.deps}, spec.group_name) for a in all_assets for spec in a.specs}
    after = {spec.key: ({d.asset_key for d in spec.deps}, spec.group_name) for a in early for spec in a.specs}
    assert after == before
    starts = {a.partitions_def.get_first_partition_key() for a in early if a.partitions_def is not None}
    assert starts == {"1990-01-01"}
    assert [len(a.check_specs) for a in early] == [len(a.check_specs) for a in all_assets]
