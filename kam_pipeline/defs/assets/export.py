"""Optional Parquet copy of each published snapshot, for tools that cannot open DuckDB files."""

import datetime as dt
from pathlib import Path

import dagster as dg

from kam_pipeline.defs.partitions import as_of_partitions
from kam_pipeline.defs.resources import KamResource
from kam_pipeline.settings import env
from kam_pipeline.warehouse.parquet_export import export_marts

PARQUET_DIR_ENV = "KAM_PARQUET_DIR"


@dg.asset(
    key=dg.AssetKey(["parquet_export"]),
    deps=[dg.AssetKey(["published_snapshot"])],
    group_name="publish",
    kinds={"parquet"},
    partitions_def=as_of_partitions,
    description="The published marts of the as-of date as Parquet: $KAM_PARQUET_DIR/<table>/as_of_date=<D>/data.parquet.",
)
def parquet_export(context: dg.AssetExecutionContext, kam: KamResource) -> dg.MaterializeResult:
    """Write the partition's snapshot of every mart as Parquet, read from the published file."""
    out = Path(env(PARQUET_DIR_ENV))
    written = export_marts(kam.published_path, out, dt.date.fromisoformat(context.partition_key))
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(out.resolve())), "files": sum(written.values())}
    )


# Only deployments that ask for it get the asset (and its step in kam_daily).
export_assets = [parquet_export] if env(PARQUET_DIR_ENV) else []
