"""great-expectations suites for the marts, run with an ephemeral GX context.

Each suite validates one snapshot (one as-of date) of a mart, read from DuckDB as a
small pandas frame (marts are account-sized, never order-sized). Given several dates
(a backfill batch), a suite validates all their snapshots in one run, with per-date
expectations (keys unique within a date, every date present): a GX run costs tens of
milliseconds whatever its size. GX is imported lazily: it costs seconds to import and
only the checks need it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from dataclasses import dataclass, field
from typing import Any

import duckdb

from kam_pipeline.settings import env
from kam_pipeline.warehouse.catalog import BRIDGE_BUCKETS, LIFECYCLE_STAGES
from kam_pipeline.warehouse.history import previous_snapshot, previous_snapshots


def preload() -> threading.Thread:
    """Start importing great-expectations in a background thread (it takes seconds); return the thread.
    A run starts it once per process (defs/resources.start_background_imports).

    The import overlaps the ingestion, which spends its time in DuckDB and polars
    without holding the GIL; the checks later find the module ready.
    """
    # great-expectations imports sqlalchemy.orm, which registers an inspector before it
    # is fully initialised; a Dagster instance on SQLite storage (DAGSTER_HOME, the
    # webserver's runs) uses sqlalchemy in this thread meanwhile and then failed a step
    # with "partially initialized module 'sqlalchemy.orm.exc'". Import it here first.
    importlib.import_module("sqlalchemy.orm")
    thread = threading.Thread(
        target=importlib.import_module, args=("great_expectations",), name="kam-import-gx", daemon=True
    )
    thread.start()
    return thread


# A snapshot whose row count moves by more than this share from the previous one is flagged.
ROW_COUNT_BAND = float(env("KAM_ROW_COUNT_BAND"))


@dataclass
class SuiteOutcome:
    """The result of one suite: success, failed expectations with counts and samples."""

    success: bool
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def markdown(self) -> str:
        """Return the failed expectations as a Markdown table (empty string when all passed)."""
        if not self.failures:
            return ""
        lines = ["| expectation | column | unexpected | sample |", "|---|---|---|---|"]
        for f in self.failures:
            lines.append(f"| {f['expectation']} | {f['column']} | {f['unexpected']} | {f['sample']} |")
        return "\n".join(lines)


def _expectations(table: str, dates: list[str] | None = None) -> list:
    """The suite of a mart's snapshot; with `dates` (ISO text), the suite of those snapshots together."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    keys = {
        "account_indicators": ["account_id"],
        "account_scores": ["account_id"],
        "manager_scores": ["manager_id"],
        "team_scores": ["team_id"],
        "portfolio_kpis": ["segment"],
        "account_lifecycle": ["account_id"],
        "revenue_bridge": [],  # keyed by (level, entity_id), below
        "method_comparison": ["account_id"],
        "method_agreement": ["profile"],
        "weight_stability": [],  # keyed by (subject, profile, indicator), below
        "rank_stability": ["account_id"],
    }[table]
    suite = []
    for key in keys:
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=key))
        suite.append(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["as_of_date", key])
            if dates
            else gxe.ExpectColumnValuesToBeUnique(column=key)
        )
    if table in ("account_scores", "manager_scores", "team_scores"):
        suite.append(gxe.ExpectColumnValuesToBeBetween(column="score", min_value=0, max_value=100))
    if table == "account_scores":
        suite += [
            gxe.ExpectColumnValuesToBeBetween(column="completeness", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToNotBeNull(column="completeness"),
            gxe.ExpectColumnValuesToNotBeNull(column="grade"),
        ]
    if table == "portfolio_kpis":
        suite.append(
            # Every date has its 'all' row.
            gxe.ExpectColumnDistinctValuesToContainSet(
                column="as_of_date", value_set=dates, row_condition=Column("segment") == "all"
            )
            if dates
            else gxe.ExpectColumnDistinctValuesToContainSet(column="segment", value_set=["all"])
        )
        for col in ("logo_retention", "churn_rate"):
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=1))
    if table in ("account_lifecycle", "account_indicators"):
        # Every account has exactly one stage (one row per account and date, checked above, and a known stage).
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(column="lifecycle_stage"),
            gxe.ExpectColumnValuesToBeInSet(column="lifecycle_stage", value_set=list(LIFECYCLE_STAGES)),
        ]
    if table == "account_lifecycle":
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(column="bridge_bucket"),
            gxe.ExpectColumnValuesToBeInSet(column="bridge_bucket", value_set=list(BRIDGE_BUCKETS)),
        ]
    if table == "revenue_bridge":
        suite += [
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["as_of_date", "level", "entity_id"] if dates else ["level", "entity_id"]
            ),
            gxe.ExpectColumnValuesToBeInSet(column="level", value_set=["all", "segment", "manager", "team"]),
            # Every date has its portfolio row.
            gxe.ExpectColumnDistinctValuesToContainSet(
                column="as_of_date", value_set=dates, row_condition=Column("level") == "all"
            )
            if dates
            else gxe.ExpectColumnDistinctValuesToContainSet(column="level", value_set=["all"]),
        ]
    if table == "method_comparison":
        for col in ("topsis_closeness", "gra_grade"):
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=1))
        # Ranks run 1..accounts of the profile (`accounts` is derived for the suite, see _DERIVED).
        for col in ("rank", "topsis_rank", "gra_rank"):
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=1))
            suite.append(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="accounts", column_B=col, or_equal=True, ignore_row_if="either_value_is_missing"
                )
            )
    if table == "method_agreement":
        suite.append(gxe.ExpectColumnValuesToBeBetween(column="accounts", min_value=1))
        for col in ("topsis_spearman", "topsis_kendall", "gra_spearman", "gra_kendall"):
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=-1, max_value=1))
    if table == "weight_stability":
        key = ["subject", "profile", "indicator"]
        suite += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in key]
        suite.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=["as_of_date", *key] if dates else key))
        for col in ("weight", "weight_p05", "weight_p95"):
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=1))
        # The real weight may lie outside its band (a skewed bootstrap), the band itself may not be reversed.
        suite.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="weight_p95", column_B="weight_p05", or_equal=True)
        )
        suite.append(gxe.ExpectColumnValuesToBeBetween(column="draws", min_value=1))
    if table == "rank_stability":
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(column="grade"),
            gxe.ExpectColumnValuesToBeBetween(column="grade_stability", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToNotBeNull(column="grade_stability"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="rank_p95", column_B="rank_p05", or_equal=True),
            gxe.ExpectColumnValuesToBeBetween(column="draws", min_value=1),
        ]
        # Ranks and their bands run 1..accounts of the profile (`accounts` is derived, see _DERIVED).
        for col in ("rank", "rank_p05", "rank_p95"):
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=1))
            suite.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="accounts", column_B=col, or_equal=True))
    return suite


# Columns a suite reads that the mart does not store, as SQL over the snapshot's rows.
_DERIVED = {
    "method_comparison": {"accounts": "count(*) over (partition by as_of_date, profile)"},
    "rank_stability": {"accounts": "count(*) over (partition by as_of_date, profile)"},
}


def _row_count_expectation(previous_rows: int | None) -> list:
    import great_expectations.expectations as gxe

    if not previous_rows:
        return []
    low = int(previous_rows * (1 - ROW_COUNT_BAND))
    high = int(previous_rows * (1 + ROW_COUNT_BAND)) + 1
    return [gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=high)]


_batch_definitions: list[Any] = []
_batch_lock = threading.Lock()


def _batch_definition():
    """The whole-dataframe batch definition every suite's frame is given to, in one ephemeral GX context per process.

    Building a context, data source and asset cost about a tenth of a second per suite, run for
    every mart and every as-of date; they hold no data, so they are made once. One dataframe asset
    serves every mart (each batch gets its frame as a batch parameter): GX saves the data source's
    whole configuration again with each asset added, about 17 ms an asset, 0.26 s for 15 marts.
    """
    with _batch_lock:
        if not _batch_definitions:
            import great_expectations as gx

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = {"globally": False, "metric_calculations": False}
            asset = context.data_sources.add_pandas(name="marts").add_dataframe_asset(name="snapshot")
            _batch_definitions.append(asset.add_batch_definition_whole_dataframe("snapshot"))
        return _batch_definitions[0]


def _validate(frame, name: str, expectations: list) -> SuiteOutcome:
    if not expectations:
        # Nothing to expect (a row count with no earlier snapshot to compare): GX would pass it too.
        return SuiteOutcome(True, len(frame), [])
    import great_expectations as gx

    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=f"{name}_suite", expectations=expectations)
    # Pass or fail first: the summary's counts and samples of unexpected values were half of GX's
    # time per suite and are shown only for a suite that fails, which is then validated again with them.
    result = batch.validate(suite, result_format="BOOLEAN_ONLY")
    if not result.success:
        result = batch.validate(suite, result_format="SUMMARY")
    failures = [
        {
            "expectation": r.expectation_config.type,
            "column": r.expectation_config.kwargs.get("column", "(table)"),
            "unexpected": r.result.get("unexpected_count", r.result.get("observed_value")),
            "sample": ", ".join(str(v) for v in (r.result.get("partial_unexpected_list") or [])[:5]),
        }
        for r in result.results
        if not r.success
    ]
    return SuiteOutcome(bool(result.success), len(frame), failures)


def _several(as_of: dt.date | list[dt.date]) -> list[str] | None:
    """The dates of a multi-date validation as ISO text (the frames carry them so), or None for one date."""
    dates = as_of if isinstance(as_of, list) else [as_of]
    return [d.isoformat() for d in dates] if len(dates) > 1 else None


def _snapshot_frame(
    conn: duckdb.DuckDBPyConnection, table: str, columns: str, as_of: dt.date | list[dt.date], group: bool = False
):
    """`columns` of the snapshot of one date, or of a list of dates with as_of_date as ISO text (optionally
    grouped by every plain column). The range lets DuckDB skip other dates' row groups."""
    dates = as_of if isinstance(as_of, list) else [as_of]
    dated = "cast(as_of_date as varchar) as as_of_date, " if _several(as_of) else ""
    return conn.sql(
        f"select {dated}{columns} from marts.{table} "
        "where as_of_date between ? and ? and list_contains(?::date[], as_of_date)"
        + (" group by all" if group else ""),
        params=[min(dates), max(dates), dates],
    ).df()


def validate_snapshot(conn: duckdb.DuckDBPyConnection, table: str, as_of: dt.date | list[dt.date]) -> SuiteOutcome:
    """Validate the `as_of` snapshot of `marts.<table>` (keys, ranges) with its GX suite, or the snapshots
    of a list of dates in one run."""
    dates = _several(as_of)
    expectations = _expectations(table, dates)
    # Only the columns the suite names: a wide mart at 44k accounts cost half a second per date.
    named = {e.column for e in expectations if getattr(e, "column", None)}
    named |= {c for e in expectations for c in getattr(e, "column_list", None) or []}
    named |= {c for e in expectations for c in (getattr(e, "column_A", None), getattr(e, "column_B", None)) if c}
    named -= {"as_of_date"}
    derived = _DERIVED.get(table, {})
    columns = [f'"{c}"' for c in sorted(named - set(derived))] + [f'{sql} as "{c}"' for c, sql in derived.items()]
    frame = _snapshot_frame(conn, table, ", ".join(columns), as_of)
    return _validate(frame, table, expectations)


def validate_row_count(conn: duckdb.DuckDBPyConnection, table: str, as_of: dt.date | list[dt.date]) -> SuiteOutcome:
    """Check the snapshot's row count against the previous snapshot, within ROW_COUNT_BAND (or the row count
    of every date of a list against the snapshot before it, in one run)."""
    if _several(as_of) is not None:
        return _validate_row_counts(conn, table, as_of)
    # Only the rows are counted: one narrow column is enough for the expectation.
    frame = conn.sql(f"select as_of_date from marts.{table} where as_of_date = ?", params=[as_of]).df()
    previous = conn.execute(
        f"select count(*) from marts.{table} where as_of_date = ?", [previous_snapshot(conn, as_of, table)]
    ).fetchall()[0][0]
    return _validate(frame, f"{table}_row_count", _row_count_expectation(previous))


def _validate_row_counts(conn: duckdb.DuckDBPyConnection, table: str, dates: list[dt.date]) -> SuiteOutcome:
    import great_expectations.expectations as gxe

    # Every date's rows and the band around the rows of the stored snapshot before it (none: no band).
    frame = conn.sql(
        f"""
        with counts as (
            select as_of_date, count(*) as rows from marts.{table}
            where as_of_date <= list_max(?::date[]) group by as_of_date
        )
        select
            cast(dates.as_of_date as varchar) as as_of_date,
            coalesce(this.rows, 0) as rows,
            cast(floor(previous.rows * (1 - ?)) as bigint) as low,
            cast(floor(previous.rows * (1 + ?)) as bigint) + 1 as high
        from (select unnest(?::date[]) as as_of_date, unnest(?::date[]) as previous_as_of_date) as dates
        left join counts as this on this.as_of_date = dates.as_of_date
        left join counts as previous on previous.as_of_date = dates.previous_as_of_date
        """,
        params=[dates, ROW_COUNT_BAND, ROW_COUNT_BAND, dates, previous_snapshots(conn, dates, table)],
    ).df()
    pair = {"ignore_row_if": "either_value_is_missing", "or_equal": True}
    return _validate(
        frame,
        f"{table}_row_counts",
        [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="rows", column_B="low", **pair),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="rows", **pair),
        ],
    )


def validate_bridge(conn: duckdb.DuckDBPyConnection, as_of: dt.date | list[dt.date]) -> SuiteOutcome:
    """Check that every row of marts.revenue_bridge adds up exactly on `as_of` (or on every date of a list):
    revenue_prev + new + reactivated + expansion + contraction + churned + other - revenue = 0."""
    import great_expectations.expectations as gxe

    # The amounts are decimals, so the residual is exactly 0 when the bridge is right; as a double it stays 0.
    frame = _snapshot_frame(
        conn,
        "revenue_bridge",
        "level, entity_id, cast(revenue_prev + new + reactivated + expansion + contraction + churned + other "
        "- revenue as double) as residual",
        as_of,
    )
    return _validate(
        frame,
        "revenue_bridge_adds_up",
        [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            gxe.ExpectColumnValuesToNotBeNull(column="residual"),
            gxe.ExpectColumnValuesToBeBetween(column="residual", min_value=0, max_value=0),
        ],
    )


def validate_weights(conn: duckdb.DuckDBPyConnection, as_of: dt.date | list[dt.date]) -> SuiteOutcome:
    """Check that every profile's final weights are non-negative and sum to 1 on `as_of` (or on every date of a list)."""
    import great_expectations.expectations as gxe

    dates = _several(as_of)
    frame = _snapshot_frame(
        conn,
        "indicator_weights",
        "subject, profile, sum(weight) as weight_sum, min(weight) as min_weight",
        as_of,
        group=True,
    )
    return _validate(
        frame,
        "indicator_weights",
        [
            # Weights exist on the date (on every date of a list).
            gxe.ExpectColumnDistinctValuesToContainSet(column="as_of_date", value_set=dates)
            if dates
            else gxe.ExpectTableRowCountToBeBetween(min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="weight_sum", min_value=1 - 1e-9, max_value=1 + 1e-9),
            gxe.ExpectColumnValuesToBeBetween(column="min_weight", min_value=0),
        ],
    )


# Rounding slack of the additive identities below, in points of a 0-100 score.
POINTS_TOLERANCE = 1e-6


def validate_score_changes(conn: duckdb.DuckDBPyConnection, as_of: dt.date | list[dt.date]) -> SuiteOutcome:
    """Check marts.score_changes on `as_of` (or every date of a list): value_effect + weight_effect = delta on
    every row, and an account's deltas add up to its score_change in marts.account_scores."""
    import great_expectations.expectations as gxe

    dates = as_of if isinstance(as_of, list) else [as_of]
    # The identities are computed in DuckDB; GX sees one row per account with its two largest errors.
    frame = conn.sql(
        """
        select
            changes.account_id,
            max(abs(changes.value_effect + changes.weight_effect - changes.delta)) as effects_error,
            abs(sum(changes.delta) - any_value(scores.score_change)) as score_change_error,
        from marts.score_changes as changes
        left join marts.account_scores as scores
            on scores.as_of_date = changes.as_of_date and scores.account_id = changes.account_id
        where list_contains(?::date[], changes.as_of_date)
        group by changes.as_of_date, changes.account_id
        """,
        params=[dates],
    ).df()
    return _validate(
        frame,
        "score_changes",
        [
            gxe.ExpectColumnValuesToBeBetween(column="effects_error", min_value=0, max_value=POINTS_TOLERANCE),
            gxe.ExpectColumnValuesToBeBetween(column="score_change_error", min_value=0, max_value=POINTS_TOLERANCE),
        ],
    )


def validate_obstacles(conn: duckdb.DuckDBPyConnection, as_of: dt.date | list[dt.date]) -> SuiteOutcome:
    """Check marts.account_obstacles on `as_of` (or every date of a list): degrees in [0, 1], summing to 1 per
    account that misses any point, and ranks 1..k without gaps."""
    import great_expectations.expectations as gxe

    dates = as_of if isinstance(as_of, list) else [as_of]
    frame = conn.sql(
        """
        select
            account_id,
            sum(obstacle_degree) as degree_sum,
            min(obstacle_degree) as min_degree,
            max(obstacle_degree) as max_degree,
            max(obstacle_rank) = count(obstacle_rank) as ranks_dense,
        from marts.account_obstacles
        where list_contains(?::date[], as_of_date) and obstacle_degree is not null
        group by as_of_date, account_id
        """,
        params=[dates],
    ).df()
    return _validate(
        frame,
        "account_obstacles",
        [
            gxe.ExpectColumnValuesToBeBetween(column="degree_sum", min_value=1 - 1e-9, max_value=1 + 1e-9),
            gxe.ExpectColumnValuesToBeBetween(column="min_degree", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="max_degree", max_value=1 + 1e-12),
            gxe.ExpectColumnValuesToBeInSet(column="ranks_dense", value_set=[True]),
        ],
    )


def validate_backtest(conn: duckdb.DuckDBPyConnection) -> SuiteOutcome:
    """Check marts.score_backtest: auc and churn rates in [0, 1], churned_accounts <= accounts, one row per
    (as_of_date, horizon_days)."""
    import great_expectations.expectations as gxe

    frame = conn.sql(
        "select cast(as_of_date as varchar) as as_of_date, horizon_days, accounts, churned_accounts, auc, "
        "churn_rate, bottom_quintile_churn_rate, top_quintile_churn_rate from marts.score_backtest"
    ).df()
    rates = ("auc", "churn_rate", "bottom_quintile_churn_rate", "top_quintile_churn_rate")
    return _validate(
        frame,
        "score_backtest",
        [
            *[gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1) for c in rates],
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="accounts", column_B="churned_accounts", or_equal=True
            ),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["as_of_date", "horizon_days"]),
        ],
    )
