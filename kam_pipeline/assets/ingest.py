"""One asset per input source: delivered files -> raw, staging and quarantine."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from kam_pipeline.checks import staging_check_results, staging_check_specs
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import SourceReport, ingest_source
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


def _ingest_asset(source: str) -> dg.AssetsDefinition:
    spec = SOURCES[source]
    key = dg.AssetKey(["staging", source])
    deps = sorted({ref for ref, _ in spec.references.values()})

    @dg.asset(
        key=key,
        group_name="staging",
        kinds={"duckdb", "polars"},
        deps=[dg.AssetKey(["staging", d]) for d in deps],
        description=f"Validated `{source}` rows: files -> raw.{source}, staging.{source}, quarantine.{source}.",
        pool="kam_duckdb_writer",
        check_specs=staging_check_specs(key, source),
    )
    def _asset(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
        if not kam.data_path.is_dir():
            raise dg.Failure(f"data folder not found: {kam.data_path}")
        if spec.required and not discover(kam.data_path, source):
            raise dg.Failure(f"required source '{source}' has no file in {kam.data_path} ({source}.csv|parquet)")
        with open_connection(duckdb) as conn:
            report = ingest_source(conn, kam.data_path, source)
            checks = staging_check_results(conn, source, key)
        for bad in report.unreadable:
            context.log.warning(f"unreadable file {bad.file}: {bad.reason}")
        if report.quarantined_rows:
            context.log.warning(f"{report.quarantined_rows} {source} row(s) quarantined: see quarantine.{source}")
        return dg.MaterializeResult(metadata=_metadata(report), check_results=checks)

    return _asset


ingest_assets = [_ingest_asset(name) for name in SOURCES]
