"""How fresh BI can expect the marts to be: a daily run, so at most a day old plus slack."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg

# The daily run refreshes the marts every 24 h. An hour past that the run is late
# (warn); six hours past it BI is showing yesterday's scores into the working day (fail).
MARTS_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=25))

_FRESH_GROUPS = ("marts", "publish")


def with_marts_freshness(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """Return `assets` with MARTS_FRESHNESS on every asset of the marts and publish groups."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        return dg.apply_freshness_policy(spec, MARTS_FRESHNESS) if spec.group_name in _FRESH_GROUPS else spec

    return list(dg.map_asset_specs(apply, assets))
