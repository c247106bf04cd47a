"""KPI evaluation: each KPI's value against its target, per account, manager and team.

Attainment is value / target for a higher-is-better KPI and target / value for a
lower-is-better one (a value <= 0 then meets any target: attainment = the cap).
The per-entity summary `kpi_attainment` is the mean over the KPIs with a value of
attainment clipped to [0, cap] and divided by cap, so it lies in 0-1 and one
over-achieved KPI cannot hide a missed one.
"""

from __future__ import annotations

import math

import polars as pl

from kam_pipeline.scoring.model import ACCOUNT_INDICATORS, BOOK_INDICATORS


def direction_of(kpi: str) -> str:
    """Return 'higher' or 'lower' for a KPI named after an indicator."""
    return ACCOUNT_INDICATORS.get(kpi) or BOOK_INDICATORS.get(kpi, "higher")


def attainment(value: float | None, target: float, direction: str, cap: float) -> float | None:
    """Return value/target (higher) or target/value (lower); None without a value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if direction == "lower":
        return cap if value <= 0 else target / value
    return value / target


def kpi_rows(entities: pl.DataFrame, level: str, targets_of: dict[str, dict[str, float]], cap: float) -> pl.DataFrame:
    """Long KPI rows for `entities` (columns entity_id, targets_key, and one column per KPI value).

    `targets_of` maps a targets_key (an account's profile, or '' for books) to {kpi: target}.
    """
    rows = []
    for record in entities.iter_rows(named=True):
        for kpi, target in targets_of.get(record["targets_key"], {}).items():
            if kpi not in record:
                continue
            value = record[kpi]
            value = None if value is None else float(value)
            direction = direction_of(kpi)
            att = attainment(value, target, direction, cap)
            met = None if value is None else (value >= target if direction == "higher" else value <= target)
            rows.append(
                {
                    "level": level,
                    "entity_id": record["entity_id"],
                    "kpi": kpi,
                    "direction": direction,
                    "value": value,
                    "target": float(target),
                    "attainment": att,
                    "met": met,
                }
            )
    schema = {
        "level": pl.String, "entity_id": pl.String, "kpi": pl.String, "direction": pl.String,
        "value": pl.Float64, "target": pl.Float64, "attainment": pl.Float64, "met": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema)


def kpi_summary(rows: pl.DataFrame, cap: float) -> pl.DataFrame:
    """Per (level, entity_id): kpi_attainment (0-1), kpis_met and kpis_evaluated."""
    return rows.group_by("level", "entity_id").agg(
        (pl.col("attainment").clip(0, cap) / cap).mean().alias("kpi_attainment"),
        pl.col("met").sum().cast(pl.Int32).alias("kpis_met"),
        pl.col("value").is_not_null().sum().cast(pl.Int32).alias("kpis_evaluated"),
    )
