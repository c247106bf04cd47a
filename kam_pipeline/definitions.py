"""Dagster definitions: loaded by `dagster dev` through workspace.yaml and by `kam run`."""

from __future__ import annotations

import dagster as dg

from kam_pipeline.assets.ingest import ingest_assets
from kam_pipeline.assets.marts import mart_assets
from kam_pipeline.resources import build_resources
from kam_pipeline.schedules import daily_job, daily_schedule
from kam_pipeline.settings import Settings

all_assets = [*ingest_assets, *mart_assets]

defs = dg.Definitions(
    assets=all_assets,
    jobs=[daily_job],
    schedules=[daily_schedule],
    resources=build_resources(Settings.from_env()),
)
