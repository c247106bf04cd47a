"""One asset per input source: delivered files -> raw, staging and quarantine."""

import shutil

import dagster as dg
from dagster_duckdb import DuckDBResource

from kam_pipeline.defs.checks import (
    ensure_verdicts,
    preload_contract_check,
    staging_check_results,
    staging_check_specs,
)
from kam_pipeline.defs.resources import KamResource
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import (
    FileOutcome,
    SourceReport,
    ensure_source,
    ingest_dataset,
    ingest_source,
    record_ignored,
)
from kam_pipeline.ingest.mapping import MappingError, check_engine
from kam_pipeline.ingest.reader import FILE_TYPES, discover, ignored_files
from kam_pipeline.ingest.schedule import by_references, workers_for
from kam_pipeline.warehouse.database import open_connection


def _metadata(report: SourceReport, ignored: list[FileOutcome]) -> dict[str, object]:
    loaded = [f for f in report.files if f.status == "loaded"]
    table = (
        "| file | status | rows | valid | quarantined | reason |\n|---|---|---|---|---|---|\n"
        + "".join(
            f"| {f.file} | {f.status} | {f.rows_read} | {f.rows_valid} | {f.rows_quarantined} | {f.reason or ''} |\n"
            for f in report.files
        )
        + "".join(f"| {f.file} | ignored | | | | {f.reason} |\n" for f in ignored)
    )
    return {
        "dagster/row_count": report.staged_rows,
        "quarantined_rows": report.quarantined_rows,
        "duplicates_collapsed": report.duplicates_collapsed,
        "files_loaded": len(loaded),
        "files_unchanged": sum(f.status == "unchanged" for f in report.files),
        "files_unreadable": len(report.unreadable),
        "unreadable_files": ", ".join(f"{f.file} ({f.reason})" for f in report.unreadable) or "none",
        "ignored_files": ", ".join(f"{f.file} ({f.reason})" for f in ignored) or "none",
        "files": dg.MetadataValue.md(table if report.files or ignored else "no files delivered"),
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
        check_engine(mappings, kam.engine)
    except MappingError as exc:
        raise dg.Failure(f"invalid sources mapping: {exc}") from None
    selected = [s for s in SOURCES if _key(s) in context.selected_asset_keys]
    # A source read from a Parquet dataset or catalog table (sources.yaml) needs no file in the folder.
    named = {s for s, m in mappings.items() if m.dataset}
    for source in selected:
        if SOURCES[source].required and source not in named and not discover(kam.data_path, source):
            raise dg.Failure(_no_file(kam.data_path, source, kam.mapping_file()))
    with open_connection(duckdb) as conn:
        # Every run lists the folder's unread files, whichever sources it brings up to date.
        ignored = record_ignored(conn, kam.data_path, mapping_file=kam.mapping_file())
        for owner, outcome in ignored:
            context.log.warning(f"ignored file {outcome.file} ({owner}): {outcome.reason}")
        stager = None
        if kam.engine == "spark":
            # The large sources' CSV files are typed and checked on Spark (docs/spark.md).
            from kam_pipeline.engines.spark_ingest import SparkStager

            stager = SparkStager(kam.spark_master, kam.work_path)
        # The tables every source's load writes exist before the loads run side by side.
        for source in selected:
            ensure_source(conn, source)
        ensure_verdicts(conn)

        def ingest(cursor, source: str) -> SourceReport:
            report = _staged_on_spark(context, cursor, kam, source, mappings) if source in named else None
            if report is not None:
                return report
            folder = kam.data_path
            if source in named:
                from kam_pipeline.engines.inputs import prepare_input

                folder = prepare_input(mappings[source], kam.engine, kam.spark_master, kam.work_path)
                context.log.info(f"{source}: read from {mappings[source].dataset} (copied)")
            return ingest_source(
                cursor, folder, source, mapping=mappings.get(source), stager=stager, before_load=preload_contract_check
            )

        # Two sources load side by side on the DuckDB engine (one at a time on Spark, whose stager and
        # datasets share one session). Each source's checks run here, in the step's own thread, while
        # the next sources load: pandera's validation sets the process's warning filters for its time.
        workers = workers_for(conn) if kam.engine == "duckdb" and not named else 1
        for source, report in by_references(conn, selected, ingest, workers):
            checks = staging_check_results(conn, source, _key(source))
            for bad in report.unreadable:
                context.log.warning(f"unreadable file {bad.file}: {bad.reason}")
            if report.quarantined_rows:
                context.log.warning(f"{report.quarantined_rows} {source} row(s) quarantined: see quarantine.{source}")
            own = [outcome for owner, outcome in ignored if owner == source]
            yield dg.MaterializeResult(asset_key=_key(source), metadata=_metadata(report, own), check_results=checks)


def _staged_on_spark(context, conn, kam: KamResource, source: str, mappings) -> SourceReport | None:
    """Ingest a large source's dataset named in sources.yaml on Spark (the Spark engine); None when the
    dataset is to be copied and loaded as a delivered Parquet file instead (the DuckDB engine, a small
    source, a column type Spark's staging does not mirror)."""
    if kam.engine != "spark":
        return None
    from kam_pipeline.engines.inputs import inputs_dir
    from kam_pipeline.engines.spark_ingest import SPARK_SOURCES
    from kam_pipeline.engines.spark_inputs import NotStagedOnSpark, SparkDataset

    if source not in SPARK_SOURCES:
        return None
    mapping = mappings[source]
    try:
        report = ingest_dataset(conn, source, mapping, SparkDataset(mapping, kam.spark_master, kam.work_path))
    except NotStagedOnSpark as exc:
        context.log.info(f"{source}: {mapping.dataset} is copied, not staged on Spark: {exc}")
        return None
    # A copy an earlier run made is no longer read.
    shutil.rmtree(inputs_dir(kam.work_path, source), ignore_errors=True)
    done = ", ".join(f"{f.file} {f.status}" for f in report.files)
    context.log.info(f"{source}: read from {mapping.dataset}, staged on Spark ({done})")
    return report


def _no_file(data_path, source: str, mapping_file=None) -> str:
    """Why a required source cannot be read: the files named like it that are not read, or the names it takes."""
    unread = [f for f in ignored_files(data_path, mapping_file) if f.source == source]
    if unread:
        listed = ", ".join(f"{f.name} ({f.reason.split(' (')[0]})" for f in unread)
        return f"required source '{source}' has no readable file in {data_path}: {listed}"
    types = "|".join(FILE_TYPES)
    return f"required source '{source}' has no file in {data_path} ({source}.{types} or {source}_<anything>.{types})"


ingest_assets = [ingest_sources]
