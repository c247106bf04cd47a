"""One asset per input source: delivered files -> raw, staging and quarantine."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from kam_pipeline.checks import staging_check_results, staging_check_specs
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import SourceReport, ingest_source
from kam_pipeline.ingest.mapping import MappingError
from kam_pipeline.ingest.reader import discover
from kam_pipeline.resources import KamResource
from kam_pipeline.warehouse import open_connection


def _metadata(report: SourceReport) -> dict[str, object]:
    loaded = [f for f in report.files if f.status == "loaded"]
    table = "| file | status | rows | valid | quarantined | reason |\n|---|---|---|---|---|---|\n" + "".join(
        f"| {f.file} | {f.status} | {f.rows_read} | {f.rows_valid} | {f.rows_quarantined} | {f.reason or ''} |\n"
        for f in report.files
    )
    return {
        "dagster/row_count": report.staged_rows,
        "quarantined_rows": report.quarantined_rows,
        "duplicates_collapsed": report.duplicates_collapsed,
        "files_loaded": len(loaded),
        "files_unchanged": sum(f.status == "unchanged" for f in report.files),
        "files_unreadable": len(report.unreadable),
        "unreadable_files": ", ".join(f"{f.file} ({f.reason})" for f in report.unreadable) or "none",
        "files": dg.MetadataValue.md(table if report.files else "no files delivered"),
    }


def _key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["staging", source])


def _spec(source: str) -> dg.AssetSpec:
    refs = sorted({ref for ref, _ in SOURCES[source].references.values()})
    return dg.AssetSpec(
        _key(source),
        deps=[_key(r) for r in refs],
        group_name="staging",
        kinds={"duckdb", "polars"},
        description=f"Validated `{source}` rows: files -> raw.{source}, staging.{source}, quarantine.{source}.",
        skippable=True,
    )


# One step ingests every source (in contract order: referenced sources first), so a
# daily run pays Dagster's per-step cost once; each source is still its own asset
# with its own checks and metadata, and a subset can be materialized from the UI.
@dg.multi_asset(
    specs=[_spec(source) for source in SOURCES],
    check_specs=[spec for source in SOURCES for spec in staging_check_specs(_key(source), source)],
    can_subset=True,
    pool="kam_duckdb_writer",
)
def ingest_sources(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource):
    """Bring every selected source up to date with the data folder."""
    if not kam.data_path.is_dir():
        raise dg.Failure(f"data folder not found: {kam.data_path}")
    try:
        # A broken sources.yaml stops the ingest before any file is read.
        mappings = kam.mappings()
    except MappingError as exc:
        raise dg.Failure(f"invalid sources mapping: {exc}") from None
    selected = [s for s in SOURCES if _key(s) in context.selected_asset_keys]
    for source in selected:
        if SOURCES[source].required and not discover(kam.data_path, source):
            raise dg.Failure(f"required source '{source}' has no file in {kam.data_path} ({source}.csv|parquet)")
    with open_connection(duckdb) as conn:
        for source in selected:
            report = ingest_source(conn, kam.data_path, source, mapping=mappings.get(source))
            checks = staging_check_results(conn, source, _key(source))
            for bad in report.unreadable:
                context.log.warning(f"unreadable file {bad.file}: {bad.reason}")
            if report.quarantined_rows:
                context.log.warning(f"{report.quarantined_rows} {source} row(s) quarantined: see quarantine.{source}")
            yield dg.MaterializeResult(asset_key=_key(source), metadata=_metadata(report), check_results=checks)


ingest_assets = [ingest_sources]
