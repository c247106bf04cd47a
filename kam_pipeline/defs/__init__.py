"""Dagster wiring: resources, partitions, assets by layer, checks, schedules, sensors, freshness, run-failure alerts."""
