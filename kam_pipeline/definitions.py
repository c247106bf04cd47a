"""Dagster definitions: loaded by `dagster dev` through workspace.yaml and by `kam run`."""

from __future__ import annotations

import dagster as dg

from kam_pipeline.defs.assets.export import export_assets
from kam_pipeline.defs.assets.ingest import ingest_assets
from kam_pipeline.defs.assets.insight import insight_assets
from kam_pipeline.defs.assets.marts import mart_assets
from kam_pipeline.defs.assets.publish import published_snapshot_asset
from kam_pipeline.defs.freshness import with_marts_freshness
from kam_pipeline.defs.resources import build_resources
from kam_pipeline.defs.schedules import daily_job, daily_schedule
from kam_pipeline.defs.sensors import sensors
from kam_pipeline.settings import Settings

_built = [*ingest_assets, *mart_assets, *insight_assets]
# The publish step waits for every marts asset defined above, whichever module defines it.
all_assets = with_marts_freshness([*_built, published_snapshot_asset(_built), *export_assets])

defs = dg.Definitions(
    assets=all_assets,
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=sensors,
    resources=build_resources(Settings.from_env()),
    # Every step writes the same DuckDB file, one at a time (pool kam_duckdb_writer):
    # one process per run instead of one per step saves the package import per step.
    executor=dg.in_process_executor,
)
