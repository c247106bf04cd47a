"""Data-quality checks shown in the Dagster UI, evaluated inside the assets they check.

Evaluating a check in its asset's own step (`check_specs=`) costs no extra Dagster
step and reads the table while the connection is open. Blocking checks stop every
downstream asset, including `published_snapshot`, so BI never gets a snapshot that
failed one.

- staging: `satisfies_contract` (blocking) validates the staged rows of every new file
  with the source's pandera model, run by pandera's Ibis backend inside DuckDB;
  `quarantine_share` warns when many delivered rows were rejected.
- marts: `gx_snapshot_valid` (blocking) runs a great-expectations suite on the
  snapshot; `gx_row_count_stable` warns on a jump against the previous snapshot;
  `gx_weights_sum_to_one` (blocking) on the indicator weights; `gx_bridge_adds_up` (blocking) on
  the revenue bridge.
"""

import datetime as dt
import functools
import threading
import warnings
from typing import Any

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

from kam_pipeline.ingest.schemas import MODELS
from kam_pipeline.quality.suites import (
    ROW_COUNT_BAND,
    SuiteOutcome,
    validate_bridge,
    validate_obstacles,
    validate_row_count,
    validate_score_changes,
    validate_snapshot,
    validate_weights,
)
from kam_pipeline.settings import env
from kam_pipeline.warehouse.database import scalar

# Above this share of quarantined rows a source is flagged (a warning, not a stop).
QUARANTINE_WARN_SHARE = 0.05

# Marts with a great-expectations snapshot suite.
GX_MARTS = (
    "account_indicators",
    "account_scores",
    "manager_scores",
    "team_scores",
    "portfolio_kpis",
    "account_lifecycle",
    "revenue_bridge",
    "method_comparison",
    "method_agreement",
    "weight_stability",
    "rank_stability",
)


def staging_check_specs(key: dg.AssetKey, source: str) -> list[dg.AssetCheckSpec]:
    """Return the check specs of a staging asset."""
    return [
        dg.AssetCheckSpec(
            "satisfies_contract",
            asset=key,
            blocking=True,
            description=f"Every staged {source} row passes the pandera contract model.",
        ),
        dg.AssetCheckSpec(
            "quarantine_share",
            asset=key,
            description=f"At most {QUARANTINE_WARN_SHARE:.0%} of delivered {source} rows are quarantined.",
        ),
    ]


def mart_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """Return the check specs of a mart asset (none for marts without a suite)."""
    table = key.path[-1]
    specs = []
    if table in GX_MARTS:
        specs += [
            dg.AssetCheckSpec(
                "gx_snapshot_valid",
                asset=key,
                blocking=True,
                description=f"great-expectations suite on the snapshot of marts.{table}: keys, ranges.",
            ),
            dg.AssetCheckSpec(
                "gx_row_count_stable",
                asset=key,
                description=f"Row count within {ROW_COUNT_BAND:.0%} of the previous snapshot.",
            ),
        ]
    if table == "revenue_bridge":
        specs.append(
            dg.AssetCheckSpec(
                "gx_bridge_adds_up",
                asset=key,
                blocking=True,
                description="revenue_prev + new + reactivated + expansion + contraction + churned + other = revenue, "
                "exactly, on every row.",
            )
        )
    if table == "indicator_weights":
        specs.append(
            dg.AssetCheckSpec(
                "gx_weights_sum_to_one",
                asset=key,
                blocking=True,
                description="Every profile's final weights are non-negative and sum to 1.",
            )
        )
    if table == "score_changes":
        specs.append(
            dg.AssetCheckSpec(
                "gx_score_changes_add_up",
                asset=key,
                blocking=True,
                description="value_effect + weight_effect = delta on every row; an account's deltas add up to "
                "its score_change.",
            )
        )
    if table == "account_obstacles":
        specs.append(
            dg.AssetCheckSpec(
                "gx_obstacle_degrees_sum_to_one",
                asset=key,
                blocking=True,
                description="Obstacle degrees lie in [0, 1] and sum to 1 per account that misses any point.",
            )
        )
    return specs


_NO_FAILURES = pl.DataFrame(schema={"column": pl.String, "check": pl.String, "failure_case": pl.String})


def contract_failures(source: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Validate a staged frame with the source's pandera model; return its failure cases (empty if none)."""
    # DuckDB DECIMAL amounts arrive as polars Decimal; the contract models them as float.
    frame = frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
    try:
        MODELS[source].validate(frame, lazy=True)
        return _NO_FAILURES
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases.select("column", "check", pl.col("failure_case").cast(pl.String))


def contract_check_result(
    source: str,
    frame: pl.DataFrame,
    key: dg.AssetKey | None = None,
    rows: int | None = None,
    failures: pl.DataFrame | None = None,
    validated: int | None = None,
) -> dg.AssetCheckResult:
    """The satisfies_contract result of a staged frame (or of precomputed failures over `rows` rows)."""
    if failures is None:
        failures = contract_failures(source, frame)
    rows = frame.height if rows is None else rows
    metadata: dict[str, object] = {"rows_checked": rows}
    if validated is not None:
        metadata["rows_validated_this_run"] = validated
    if failures.height:
        sample = failures.head(10).rows()
        metadata["failures"] = failures.height
        metadata["sample"] = dg.MetadataValue.md(
            "| column | check | value |\n|---|---|---|\n" + "".join(f"| {c} | {k} | {v} |\n" for c, k, v in sample)
        )
    return dg.AssetCheckResult(
        check_name="satisfies_contract", asset_key=key, passed=failures.height == 0, metadata=metadata
    )


def quarantine_check_result(staged: int, quarantined: int, key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """Return a WARN result when more than QUARANTINE_WARN_SHARE of the delivered rows were quarantined."""
    total = staged + quarantined
    share = quarantined / total if total else 0.0
    return dg.AssetCheckResult(
        check_name="quarantine_share",
        asset_key=key,
        passed=share <= QUARANTINE_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined_rows": quarantined, "staged_rows": staged, "quarantined_share": round(share, 4)},
    )


# The thread importing what validates staged rows, once started (preload_contract_check).
_contract_imports: list[threading.Thread] = []
_contract_imports_lock = threading.Lock()


# Up to this many staged rows to judge, `satisfies_contract` reads them into a polars frame and
# validates it with the source's model (pandera's polars backend, imported with the stack); more are
# validated inside DuckDB, through pandera's Ibis backend, so memory does not grow with the files.
CONTRACT_MEMORY_ROWS = int(env("KAM_CONTRACT_MEMORY_ROWS"))
# A delivered file of more bytes than this may hold more rows than that (lines of 20 bytes or more).
_CONTRACT_MEMORY_BYTES = 20 * CONTRACT_MEMORY_ROWS


def preload_contract_check(size_bytes: int) -> None:
    """Start importing what `satisfies_contract` runs on inside DuckDB (Ibis, its DuckDB backend,
    pandera's Ibis backend: about 0.6 s) in a background thread, once per process, when a file of
    `size_bytes` may be too large to validate in memory.

    Called before a file is loaded (ingest_source's `before_load`): a run without a new large file
    never imports them, and one with such a file imports them while the file loads in DuckDB,
    which does not hold the GIL. The check waits for the thread before it uses them.
    """
    if size_bytes <= _CONTRACT_MEMORY_BYTES:
        return
    with _contract_imports_lock:
        if not _contract_imports:
            thread = threading.Thread(target=_import_contract_check, name="kam-import-ibis", daemon=True)
            thread.start()
            _contract_imports.append(thread)


def _import_contract_check() -> None:
    try:
        import ibis
        import pandera.ibis  # noqa: F401

        ibis.duckdb  # noqa: B018  (loading the backend registers it as an attribute)
    except Exception:  # the check's own import then raises it, in the run's thread
        return


@functools.cache
def _database_schema(source: str) -> Any:
    """The source's pandera model as a schema of pandera's Ibis backend: the same checks, run as SQL in DuckDB.

    The columns' types are the staging table's, created from the contract; the checks
    (ranges, vocabularies, not-null, the checks across columns) are the model's own objects.
    Imported here: only a run with a new file to judge pays for Ibis.
    """
    import pandera.ibis as pa_ibis

    schema = MODELS[source].to_schema()
    columns = {name: pa_ibis.Column(checks=c.checks, nullable=c.nullable) for name, c in schema.columns.items()}
    return pa_ibis.DataFrameSchema(columns, checks=schema.checks, strict=False, name=schema.name)


def database_contract_failures(conn: duckdb.DuckDBPyConnection, source: str, files: list[str]) -> pl.DataFrame:
    """Validate the staged rows of `files` with the source's pandera model inside DuckDB; return the failure cases.

    Nothing but the failure cases leaves the database, so memory does not grow with the files.
    """
    for thread in _contract_imports:  # one import at a time: Ibis registers a backend as it loads
        thread.join()
    import ibis
    import pandera.errors

    with warnings.catch_warnings():
        # Ibis 12 fetches results with the DuckDB call that DuckDB 2 renamed, and sets a pandas option
        # pandas 3 deprecates: warnings about Ibis's own calls (same results), which pandera would
        # otherwise report as failures of the check in which they are raised where warnings are errors.
        warnings.filterwarnings("ignore", r"fetch_arrow_table\(\) is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", r"The 'future.infer_string' option is deprecated", DeprecationWarning)
        table = ibis.duckdb.from_connection(conn).table(source, database="staging")
        try:
            _database_schema(source).validate(table.filter(table._source_file.isin(files)), lazy=True)
            return _NO_FAILURES
        except pandera.errors.SchemaErrors as exc:
            cases = exc.failure_cases
    rows = [
        _failure_row(source, *case)
        for case in cases[["schema_context", "column", "failure_case"]].itertuples(index=False)
    ]
    return pl.DataFrame(
        [(column, check, value) for (column, value), check in zip(rows, cases["check"], strict=True)],
        schema=_NO_FAILURES.schema,
        orient="row",
    )


def staged_contract_failures(conn: duckdb.DuckDBPyConnection, source: str, files: list[str], rows: int) -> pl.DataFrame:
    """The failure cases of the source's pandera model over the staged rows of `files` (`rows` of them):
    in memory up to CONTRACT_MEMORY_ROWS rows (`contract_failures`), else inside DuckDB
    (`database_contract_failures`). Both judge the same rows with the same checks; in memory a failing
    value is shown as polars writes it (a null as null, a row across columns as JSON)."""
    if rows > CONTRACT_MEMORY_ROWS:
        return database_contract_failures(conn, source, files)
    frame = conn.sql(f"select * from staging.{source} where list_contains(?, _source_file)", params=[files]).pl()
    return contract_failures(source, frame)


def _failure_row(source: str, context: str, column: object, case: object) -> tuple[str, str]:
    """(column, value) of one failure case of pandera's Ibis backend, as its polars backend names them.

    Pandera 0.35's Ibis backend reports a column check's case as `{column: value}` under the
    column name `failure_case`; a check across columns is named by its model, with the row.
    """
    if context == "DataFrameSchema":
        return MODELS[source].__name__, str(case)
    if isinstance(case, dict) and len(case) == 1:
        ((column, case),) = case.items()
    return str(column), str(case)


def ensure_verdicts(conn: duckdb.DuckDBPyConnection) -> None:
    """Create raw.contract_verdicts (each validated file's verdict) if it does not exist."""
    conn.execute(
        "create table if not exists raw.contract_verdicts (source varchar, file_name varchar, sha256 varchar, "
        "ingested_at timestamp, rows_checked bigint, failures bigint, primary key (source, file_name))"
    )


def staging_check_results(conn: duckdb.DuckDBPyConnection, source: str, key: dg.AssetKey) -> list[dg.AssetCheckResult]:
    """Evaluate the staging checks of `source` on the working database.

    The contract validation runs the pandera model over the staged rows of every file
    not yet validated, inside DuckDB (`database_contract_failures`). A file's verdict is
    kept with the load it judged (checksum and ingest time): its staged rows can only lose
    rows to cross-row rules later, so rows that passed still pass, and a daily run
    validates just the new file instead of the whole history.
    """
    ensure_verdicts(conn)
    pending = conn.execute(
        f"""
        select l.file_name, (select count(*) from staging.{source} where _source_file = l.file_name)
        from raw.ingest_log as l
        left join raw.contract_verdicts as c using (source, file_name)
        where l.source = ? and l.status = 'loaded'
          and (c.sha256 is distinct from l.sha256 or c.ingested_at is distinct from l.ingested_at
               or c.failures > 0)
        order by l.file_name
        """,
        [source],
    ).fetchall()
    # One validation of all the pending files (each check is a query, whatever the number of
    # files); only when it fails is each file validated on its own, for its verdict.
    judged = [file_name for file_name, rows in pending if rows]
    total = sum(rows for _, rows in pending)
    together = staged_contract_failures(conn, source, judged, total) if judged else _NO_FAILURES
    parts, checked = [], 0
    for file_name, rows in pending:
        failures = _NO_FAILURES
        if together.height and rows:
            failures = together if len(judged) == 1 else staged_contract_failures(conn, source, [file_name], rows)
        conn.execute(
            "insert or replace into raw.contract_verdicts "
            "select source, file_name, sha256, ingested_at, ?, ? from raw.ingest_log "
            "where source = ? and file_name = ?",
            [rows, failures.height, source, file_name],
        )
        parts.append(failures)
        checked += rows
    failures = pl.concat(parts) if parts else _NO_FAILURES
    staged = scalar(conn, f"select count(*) from staging.{source}")
    contract = contract_check_result(source, pl.DataFrame(), key, rows=staged, failures=failures, validated=checked)
    quarantined = scalar(conn, f"select count(*) from quarantine.{source}")
    return [contract, quarantine_check_result(staged, quarantined, key)]


def _outcome_result(name: str, key: dg.AssetKey, outcome: SuiteOutcome, blocking: bool) -> dg.AssetCheckResult:
    metadata: dict[str, object] = {"rows": outcome.rows, "failed_expectations": len(outcome.failures)}
    if outcome.failures:
        metadata["failures"] = dg.MetadataValue.md(outcome.markdown())
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=key,
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def mart_check_results(
    conn: duckdb.DuckDBPyConnection, key: dg.AssetKey, dates: list[dt.date]
) -> dict[dt.date, list[dg.AssetCheckResult]]:
    """Evaluate the checks declared by `mart_check_specs(key)` on the snapshots of `dates`, per date.

    Each suite first validates all the dates in one great-expectations run (a run costs tens of
    milliseconds, and a 30-date backfill has 11 suites per date). Only a suite that fails is run
    again date by date, so the failing dates are named with their own details.
    """
    table = key.path[-1]
    suites = []
    if table in GX_MARTS:
        suites.append(("gx_snapshot_valid", True, lambda as_of: validate_snapshot(conn, table, as_of)))
        suites.append(("gx_row_count_stable", False, lambda as_of: validate_row_count(conn, table, as_of)))
    if table == "revenue_bridge":
        suites.append(("gx_bridge_adds_up", True, lambda as_of: validate_bridge(conn, as_of)))
    if table == "indicator_weights":
        suites.append(("gx_weights_sum_to_one", True, lambda as_of: validate_weights(conn, as_of)))
    if table == "score_changes":
        suites.append(("gx_score_changes_add_up", True, lambda as_of: validate_score_changes(conn, as_of)))
    if table == "account_obstacles":
        suites.append(("gx_obstacle_degrees_sum_to_one", True, lambda as_of: validate_obstacles(conn, as_of)))
    results: dict[dt.date, list[dg.AssetCheckResult]] = {as_of: [] for as_of in dates}
    for name, blocking, validate in suites:
        together = validate(list(dates)) if len(dates) > 1 else None
        for as_of in dates:
            outcome = together if together is not None and together.success else validate(as_of)
            results[as_of].append(_outcome_result(name, key, outcome, blocking))
    return results


def merge_check_results(per_date: dict[dt.date, list[dg.AssetCheckResult]]) -> list[dg.AssetCheckResult]:
    """One result per check for a run over several as-of dates: passed only if every date passed.

    A single date keeps its own result; over a range, the metadata names the failing dates
    and carries the details of the first failure (or of the last date when all passed).
    """
    if len(per_date) == 1:
        return next(iter(per_date.values()))
    by_check: dict[tuple, list[tuple[dt.date, dg.AssetCheckResult]]] = {}
    for as_of, results in sorted(per_date.items()):
        for result in results:
            by_check.setdefault((result.asset_key, result.check_name), []).append((as_of, result))
    merged = []
    for (key, name), dated in by_check.items():
        failed = [(d, r) for d, r in dated if not r.passed]
        shown = failed[0][1] if failed else dated[-1][1]
        merged.append(
            dg.AssetCheckResult(
                check_name=name,
                asset_key=key,
                passed=not failed,
                severity=shown.severity,
                metadata={
                    **shown.metadata,
                    "as_of_dates": len(dated),
                    "failed_dates": ", ".join(d.isoformat() for d, _ in failed) or "none",
                },
            )
        )
    return merged
