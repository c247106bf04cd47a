"""Data-quality checks shown in the Dagster UI.

The blocking contract check re-validates each staged table with its pandera model:
staging must only ever hold rows that satisfy the contract, so a failure stops the
marts from being built on top of it.
"""


import dagster as dg
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource

from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.schemas import MODELS
from kam_pipeline.warehouse import open_connection, scalar

# Above this share of quarantined rows a source is flagged (a warning, not a stop).
QUARANTINE_WARN_SHARE = 0.05


def contract_check_result(source: str, frame) -> dg.AssetCheckResult:
    """Validate a staged frame with the source's pandera model; return the check result."""
    # DuckDB DECIMAL amounts arrive as polars Decimal; the contract models them as float.
    frame = frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
    try:
        MODELS[source].validate(frame, lazy=True)
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": frame.height})
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        sample = cases.head(10).select("column", "check", "failure_case").rows()
        return dg.AssetCheckResult(
            passed=False,
            metadata={
                "rows_checked": frame.height,
                "failures": cases.height,
                "sample": dg.MetadataValue.md(
                    "| column | check | value |\n|---|---|---|\n"
                    + "".join(f"| {c} | {k} | {v} |\n" for c, k, v in sample)
                ),
            },
        )


def quarantine_check_result(source: str, staged: int, quarantined: int) -> dg.AssetCheckResult:
    """Return a WARN result when more than QUARANTINE_WARN_SHARE of the delivered rows were quarantined."""
    total = staged + quarantined
    share = quarantined / total if total else 0.0
    return dg.AssetCheckResult(
        passed=share <= QUARANTINE_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined_rows": quarantined, "staged_rows": staged, "quarantined_share": round(share, 4)},
    )


def _checks_for(source: str) -> list[dg.AssetChecksDefinition]:
    key = dg.AssetKey(["staging", source])

    @dg.asset_check(asset=key, name="satisfies_contract", blocking=True,
                    description=f"Every staged {source} row passes the pandera contract model.")
    def _contract(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with open_connection(duckdb) as conn:
            frame = conn.sql(f"select * from staging.{source}").pl()
        return contract_check_result(source, frame)

    @dg.asset_check(asset=key, name="quarantine_share",
                    description=f"At most {QUARANTINE_WARN_SHARE:.0%} of delivered {source} rows are quarantined.")
    def _quarantine(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with open_connection(duckdb) as conn:
            staged = scalar(conn, f"select count(*) from staging.{source}")
            quarantined = scalar(conn, f"select count(*) from quarantine.{source}")
        return quarantine_check_result(source, staged, quarantined)

    return [_contract, _quarantine]


staging_checks = [check for source in SOURCES for check in _checks_for(source)]
