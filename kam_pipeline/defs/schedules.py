"""The daily job and its schedule: every morning, score the accounts as of today."""

from __future__ import annotations

import dagster as dg

from kam_pipeline.settings import env

daily_job = dg.define_asset_job(
    "kam_daily",
    selection=dg.AssetSelection.all(),
    description="Ingest new files, compute indicators and scores for the as-of date, publish the snapshot.",
)

# The latest partition is today (end_offset=1), so the 06:00 run scores as of today,
# i.e. everything delivered up to and including yesterday. KAM_SCHEDULE_HOUR moves it.
daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=int(env("KAM_SCHEDULE_HOUR")),
    minute_of_hour=0,
    name="kam_daily_schedule",
)
