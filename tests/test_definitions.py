"""The Dagster definitions load as `dagster dev` loads them, with the expected jobs, schedule and checks."""

from __future__ import annotations

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
    for table in ("account_indicators", "account_scores", "score_contributions", "portfolio_kpis",
                  "manager_scores", "team_scores", "indicator_weights", "weight_consistency"):
        assert specs[f"marts/{table}"].group_name == "marts"
        assert specs[f"marts/{table}"].partitions_def is not None
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

    from kam_pipeline.checks import contract_check_result, quarantine_check_result

    bad = pl.DataFrame({"manager_id": ["M1", None], "manager_name": ["a", "b"], "team_id": ["T", "T"],
                        "team_name": ["t", "t"]})
    assert contract_check_result("managers", bad).passed is False
    assert contract_check_result("managers", bad.drop_nulls()).passed is True
    assert quarantine_check_result(staged=90, quarantined=10).passed is False
    assert quarantine_check_result(staged=99, quarantined=1).passed is True
