"""Each as-of date is a daily partition: a run for a date writes (or replaces) that snapshot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from kam_pipeline.settings import env


def daily_partitions(start: str | dt.date, end_offset: int = 1) -> dg.DailyPartitionsDefinition:
    """Return the daily as-of partitions from `start` (a date or YYYY-MM-DD).

    end_offset=1 makes today's (UTC) partition available today: D = today scores the window
    up to yesterday.
    """
    return dg.DailyPartitionsDefinition(start_date=str(start), end_offset=end_offset)


# Where the partition list of `dagster dev` starts; KAM_PARTITION_START moves it. `kam run`
# does not depend on it: it starts its own partitions at the earliest date it is asked for.
as_of_partitions = daily_partitions(env("KAM_PARTITION_START"))


def with_partitions(
    assets: Sequence[dg.AssetsDefinition], partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """Return `assets` with every partitioned asset (and its checks) on `partitions_def` instead;
    keys, dependencies and everything else stay as they are."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        return spec if spec.partitions_def is None else spec.replace_attributes(partitions_def=partitions_def)

    return list(dg.map_asset_specs(apply, assets))
