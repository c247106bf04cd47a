"""The published snapshot: what BI reads, published once every marts table of the run is written."""

from collections.abc import Sequence

import dagster as dg

from kam_pipeline.defs.assets.marts import _PARTITIONED, as_of_dates
from kam_pipeline.defs.resources import KamResource, WorkDatabase
from kam_pipeline.warehouse.database import open_connection
from kam_pipeline.warehouse.publish import parquet_dir_for, publish

PUBLISHED_SNAPSHOT = dg.AssetKey(["published_snapshot"])


def marts_keys(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """Every asset of the marts group among `assets`: what the published snapshot waits for."""
    return sorted({spec.key for asset in assets for spec in asset.specs if spec.group_name == "marts"})


def published_snapshot_asset(assets: Sequence[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    """The publish step, downstream of every marts asset among `assets` (derived, so a new mart is
    waited for, and published, without a change here)."""

    @dg.asset(
        key=PUBLISHED_SNAPSHOT,
        deps=marts_keys(assets),
        group_name="publish",
        kinds={"duckdb", "parquet"},
        **_PARTITIONED,
        description="The run's snapshots as new Parquet files and the --db catalog of views over them, "
        "swapped by atomic rename (what BI reads).",
    )
    def published_snapshot(
        context: dg.AssetExecutionContext, kam: KamResource, duckdb: WorkDatabase
    ) -> dg.MaterializeResult:
        """Publish the run's as-of dates from the working database as the read-only catalog BI tools open."""
        with open_connection(duckdb) as conn:
            result = publish(conn, kam.published_path, as_of_dates(context))
        # What is left (the report) reads the published file: the working database's log is
        # checkpointed meanwhile.
        duckdb.checkpoint_in_background()
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(kam.published_path.resolve())),
                "parquet_dir": dg.MetadataValue.path(str(parquet_dir_for(kam.published_path).resolve())),
                "bytes": result.bytes_written,
                "files_written": result.files_written,
                "relations": result.relations,
            }
        )

    return published_snapshot
