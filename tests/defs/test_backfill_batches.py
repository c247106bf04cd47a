"""A backfill computes the SQL marts for a batch of dates per query; batches follow the memory cap.

The batched range run is compared with one run per date on the same data (real Dagster,
real DuckDB): every column of every snapshot of every mart must be identical, whatever the
batch size.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import AS_OF
from kam_pipeline.definitions import all_assets
from kam_pipeline.defs.assets import marts
from kam_pipeline.defs.assets.marts import date_batches
from kam_pipeline.defs.resources import build_resources
from kam_pipeline.settings import Settings

DATES = [AS_OF - dt.timedelta(days=k) for k in range(4, -1, -1)]


def _accounts(count: int, memory: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(config={"memory_limit": memory})
    conn.execute("create schema staging")
    conn.execute("create table staging.accounts as select 'A' || range as account_id from range(?)", [count])
    return conn


@pytest.mark.parametrize(("budget", "expected"), [(250, [2, 2, 1]), (60, [1, 1, 1, 1, 1]), (10_000, [5])])
def test_date_batches_keep_every_date_in_order_within_the_row_budget(monkeypatch, budget, expected):
    monkeypatch.setattr(marts, "RANGE_ROWS_PER_GIB", budget)
    conn = _accounts(100, "1GB")  # DuckDB reports 953.6 MiB: 0.93 GiB
    batches = date_batches(conn, DATES)
    assert [len(b) for b in batches] == expected
    assert [d for b in batches for d in b] == DATES
    assert all(len(b) * 100 <= max(budget * 0.94, 100) for b in batches)


def test_more_memory_means_fewer_batches(monkeypatch):
    monkeypatch.setattr(marts, "RANGE_ROWS_PER_GIB", 250)
    assert len(date_batches(_accounts(100, "4GB"), DATES)) == 1


def _run(data: Path, db: Path, dates: list[dt.date]) -> None:
    first, last = dates[0].isoformat(), dates[-1].isoformat()
    partition = (
        {"partition_key": first}
        if first == last
        else {"tags": {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}}
    )
    # Everything up to the published snapshot: the report renders one date and is not compared.
    selection = [
        a
        for a in all_assets
        if isinstance(a, dg.AssetsDefinition) and all(k.path[-1] != "evaluation_report" for k in a.keys)
    ]
    result = dg.materialize(
        selection, resources=build_resources(Settings(data_dir=data, db_path=db, model_path=None)), **partition
    )
    assert result.success


@pytest.mark.integration
def test_a_backfill_in_batches_equals_one_run_per_date(monkeypatch, generated_data, tmp_path):
    monkeypatch.setattr(marts, "RANGE_ROWS_PER_GIB", 60)  # 24 accounts, 1 GiB: two dates per batch
    assert [len(b) for b in date_batches(_accounts(24, "1GB"), DATES)] == [2, 2, 1]
    batched, daily = tmp_path / "batched.duckdb", tmp_path / "daily.duckdb"
    _run(generated_data, batched, DATES)
    for as_of in DATES:
        _run(generated_data, daily, [as_of])
    got, want = _marts(batched), _marts(daily)
    assert set(got) == set(want) and len(want) >= 14
    assert len(want["account_indicators"]) == 5 * 24 and {r[0] for r in want["account_indicators"]} == set(DATES)
    # Alerts and assessments are there to compare: the range queries of their marts ran on real rows.
    assert want["score_alerts"] and want["account_assessments"]
    for table, rows in want.items():
        assert {r[0] for r in rows} <= set(DATES), table
        assert got[table] == rows, table


def _marts(db: Path) -> dict[str, list[tuple]]:
    """Every row of every mart of a run's working database, as_of_date first, in a fixed order."""
    with duckdb.connect(str(db.with_name(f"{db.stem}.work.duckdb")), read_only=True) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'marts'"
            ).fetchall()
        ]
        return {
            t: conn.execute(f"select as_of_date, * exclude (as_of_date) from marts.{t} order by all").fetchall()
            for t in tables
        }
