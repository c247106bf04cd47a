"""Each as-of date is a daily partition: a run for a date writes (or replaces) that snapshot."""

from __future__ import annotations

import os

import dagster as dg

# Early enough for historical data sets; KAM_PARTITION_START narrows the UI's partition list.
as_of_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("KAM_PARTITION_START", "2000-01-01"),
    # end_offset=1 makes today's partition available today: D = today scores the window up to yesterday.
    end_offset=1,
)
