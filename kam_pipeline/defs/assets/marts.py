"""Per-as-of-date marts: indicators, scores and roll-ups (published by defs/assets/publish.py)."""

import datetime as dt
from graphlib import TopologicalSorter

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from kam_pipeline.defs.checks import mart_check_results, mart_check_specs, merge_check_results
from kam_pipeline.defs.partitions import as_of_partitions
from kam_pipeline.defs.resources import KamResource
from kam_pipeline.ingest.contract import REVIEWER_ROLES
from kam_pipeline.report.metadata import accounts_markdown, grade_distribution_markdown
from kam_pipeline.scoring.model import ScoringModel
from kam_pipeline.scoring.people import score_people
from kam_pipeline.scoring.snapshot import score_snapshot
from kam_pipeline.warehouse.database import memory_limit_gib, open_connection, scalar, write_sql_snapshot
from kam_pipeline.warehouse.history import previous_params
from kam_pipeline.warehouse.order_days import READS as ORDER_DAYS_READS
from kam_pipeline.warehouse.order_days import TABLE as ORDER_DAYS
from kam_pipeline.warehouse.order_days import refresh_order_days
from kam_pipeline.warehouse.sql_files import (
    intermediate_files,
    parameters_of,
    read_sql,
    tables_read,
    takes_date_range,
)

_PARTITIONED = {
    "partitions_def": as_of_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "pool": "kam_duckdb_writer",
}
_MARTS = {"group_name": "marts", "kinds": {"duckdb"}, **_PARTITIONED}


def sql_params(model: ScoringModel, as_of: dt.date, as_of_dates: list[dt.date] | None = None) -> dict[str, object]:
    """Return every named parameter the SQL files may use for one as-of date.

    A file that takes `$as_of_dates` computes the snapshots of all those dates in one query
    (default: just `as_of`); the others read `$as_of` and run once per date.
    """
    ev = model.spec.evaluation
    # Equal role weights (INDICATORS.md) unless the model's managers section says otherwise.
    roles = model.spec.managers.feedback_role_weights if model.spec.managers else dict.fromkeys(REVIEWER_ROLES, 1.0)
    return {
        "as_of": as_of,
        "as_of_dates": list(as_of_dates or [as_of]),
        "window_days": ev.window_days,
        "churn_days": ev.churn_days,
        "retention_cap": ev.retention_cap,
        **{f"sla_{sev}_hours": float(hours) for sev, hours in ev.sla_hours.items()},
        "grade_names": [b.grade for b in model.spec.grades],
        "role_names": list(roles),
        "role_weights": [float(w) for w in roles.values()],
    }


def as_of_dates(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The as-of dates of this run, oldest first: one for a daily run, many for a backfill range.

    Ranges run in one step per asset (BackfillPolicy.single_run), so ingestion and start-up
    are shared, and each date still sees the snapshot before it (score_change).
    """
    return sorted(dt.date.fromisoformat(k) for k in context.partition_keys)


# Snapshot rows (accounts x dates) one range query may produce per GiB of DuckDB memory
# (KAM_DUCKDB_MEMORY): 30 dates of 44,000 accounts did not fit in 1 GiB inside the write's
# transaction; 10 dates took 1.2 GB of RSS and 10 s.
RANGE_ROWS_PER_GIB = 450_000


def date_batches(conn: duckdb.DuckDBPyConnection, dates: list[dt.date]) -> list[list[dt.date]]:
    """Split the dates of a range into consecutive batches that one query computes within the memory cap."""
    accounts = scalar(conn, "select count(*) from staging.accounts") or 1
    most = max(1, int(RANGE_ROWS_PER_GIB * memory_limit_gib(conn) // accounts))
    size = -(-len(dates) // -(-len(dates) // most))  # as even as the fewest batches allow
    return [dates[i : i + size] for i in range(0, len(dates), size)]


def sql_deps(table: str, layer: str = "marts") -> list[dg.AssetKey]:
    """The assets `sql/<layer>/<table>.sql` reads: every staging, intermediate or marts table it names, as parsed,
    and what the state tables it names are kept up to date from (warehouse/order_days.py)."""
    read = tables_read(f"{layer}/{table}")
    if ("state", ORDER_DAYS) in read:
        read = read | ORDER_DAYS_READS
    return [
        dg.AssetKey([schema, name]) for schema, name in sorted(read) if schema in ("staging", "intermediate", "marts")
    ]


def _intermediate(name: str) -> dg.AssetKey:
    return dg.AssetKey(["intermediate", name])


def _summary(layer: str, name: str) -> str:
    """The first line of the file's header, without its `-- <layer>.<name>: ` prefix."""
    first = read_sql(f"{layer}/{name}").splitlines()[0]
    return first.removeprefix(f"-- {layer}.{name}:").strip()


def intermediate_order() -> list[str]:
    """The intermediate models, each after the intermediate models it reads (from the SQL, as parsed)."""
    graph = {
        name: {key.path[-1] for key in sql_deps(name, "intermediate") if key.path[0] == "intermediate"}
        for name in intermediate_files()
    }
    return list(TopologicalSorter(graph).static_order())


# The figures of each source per account and as-of date (sql/intermediate/), joined by the marts.
# One step computes the selected ones, so a run pays Dagster's per-step cost once; they are
# snapshots per as-of date like the marts (a mart re-run alone reads the figures of its dates),
# kept in the working database and left out of the published one.
@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            _intermediate(name),
            deps=sql_deps(name, "intermediate"),
            description=_summary("intermediate", name),
            kinds={"duckdb"},
            skippable=True,
        )
        for name in intermediate_files()
    ],
    group_name="intermediate",
    can_subset=True,
    **_PARTITIONED,
)
def intermediate_models(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource):
    """Compute the selected intermediate models for the run's dates, each after those it reads."""
    model = kam.model()
    dates = as_of_dates(context)
    selected = [name for name in intermediate_order() if _intermediate(name) in context.selected_asset_keys]
    with open_connection(duckdb) as conn:
        batches = date_batches(conn, dates)
        if kam.engine == "spark":
            # Spark computes each batch of dates in one query per model (engines/spark.py).
            from kam_pipeline.engines.spark import intermediate_on_spark

            params = [sql_params(model, batch[-1], batch) for batch in batches]
            counts = intermediate_on_spark(conn, kam.spark_master, kam.work_path, selected, params)
            for name in selected:
                yield dg.MaterializeResult(asset_key=_intermediate(name), metadata={"dagster/row_count": counts[name]})
            return
        for name in selected:
            rows = 0
            for batch in batches if takes_date_range(name, "intermediate") else [[d] for d in dates]:
                rows = write_sql_snapshot(conn, name, sql_params(model, batch[-1], batch), layer="intermediate")
            yield dg.MaterializeResult(asset_key=_intermediate(name), metadata={"dagster/row_count": rows})


def _sql_asset(table: str, description: str) -> dg.AssetsDefinition:
    key = _mart(table)

    # Lineage comes from the SQL file itself, so the graph shows what each query really reads.
    @dg.asset(key=key, deps=sql_deps(table), description=description, check_specs=mart_check_specs(key), **_MARTS)
    def _asset(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
        model = kam.model()
        dates = as_of_dates(context)
        # A file that takes $as_of_dates runs once per batch of dates (they share its pass over
        # orders and invoices); the others once per date.
        batched = takes_date_range(table)
        rows, checks = 0, {}
        with open_connection(duckdb) as conn:
            batches = date_batches(conn, dates)
            for batch in batches if batched else [[d] for d in dates]:
                params = sql_params(model, batch[-1], batch)
                if "previous_as_of_dates" in parameters_of(read_sql(f"marts/{table}")):
                    params |= previous_params(conn, batch)
                rows = _write_mart(conn, kam, table, params)
            for batch in batches:
                checks.update(mart_check_results(conn, key, batch))
        return dg.MaterializeResult(
            metadata={"dagster/row_count": rows, "as_of_dates": len(checks)},
            check_results=merge_check_results(checks),
        )

    return _asset


def _write_mart(conn: duckdb.DuckDBPyConnection, kam: KamResource, table: str, params: dict[str, object]) -> int:
    """Write the snapshot of `marts.<table>`: on Spark for a mart that reads the order lines when the
    engine is Spark (engines/spark.py), else in DuckDB; return the row count."""
    if kam.engine == "spark":
        from kam_pipeline.engines.spark import SPARK_MARTS, mart_on_spark

        if table in SPARK_MARTS:
            if ("state", ORDER_DAYS) in tables_read(f"marts/{table}"):
                refresh_order_days(conn)  # Spark reads the running totals as DuckDB keeps them
            return mart_on_spark(conn, kam.spark_master, kam.work_path, table, params)
    return write_sql_snapshot(conn, table, params)


def _mart(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


account_lifecycle = _sql_asset(
    "account_lifecycle",
    "Lifecycle stage per account (new, reactivated, retained, churned, dormant, prospect) and its revenue bridge bucket.",
)
account_indicators = _sql_asset(
    "account_indicators", "Every indicator per account for the as-of date (definitions: docs/data_dictionary.md)."
)
account_assessments = _sql_asset(
    "account_assessments", "Latest expert assessment per account and dimension in the window."
)
portfolio_kpis = _sql_asset(
    "portfolio_kpis", "Retention, churn, NRR, GRR, revenue and market share per segment and in total."
)
manager_indicators = _sql_asset(
    "manager_indicators", "Book-of-business indicators and 360 feedback per account manager."
)
# What score_snapshot reads: the indicators, with the assessed dimensions joined in. Every
# output of the scoring step, the weights included, is computed from that one matrix.
_SCORING_INPUTS = [_mart("account_indicators"), _mart("account_assessments")]


def _scoring_spec(table: str, description: str) -> dg.AssetSpec:
    """The spec of a mart written by the scoring step: it reads the day's indicators (entropy and
    CRITIC weights come from them) and lives in DuckDB."""
    return dg.AssetSpec(_mart(table), deps=_SCORING_INPUTS, description=description, kinds={"duckdb"})


@dg.multi_asset(
    specs=[
        _scoring_spec(
            "account_scores",
            "Account scores with group sub-scores, rank, grade, change and key-account flag.",
        ),
        _scoring_spec(
            "score_contributions",
            "Value, normalised value, effective weight and points of every indicator of every score.",
        ),
        _scoring_spec(
            "indicator_weights",
            "Final, subjective and objective weights per profile (account rows; the manager "
            "rows are written by the people_scores step from book_indicators).",
        ),
        _scoring_spec(
            "weight_consistency",
            "AHP matrices with lambda_max, CI, CR and verdict (account rows; the manager rows "
            "are written by the people_scores step).",
        ),
        _scoring_spec(
            "method_comparison",
            "Every scored account's rank by the weighted sum, TOPSIS and grey relational analysis.",
        ),
        _scoring_spec(
            "method_agreement",
            "Per profile: Spearman and Kendall rank correlations of TOPSIS and GRA with the score.",
        ),
        _scoring_spec(
            "weight_stability",
            "Per profile and indicator: the weight's 5-95 % band over bootstrap resamples of the profile's accounts.",
        ),
        _scoring_spec(
            "rank_stability",
            "Every scored account's 5-95 % rank band within its profile and the share of bootstrap "
            "draws that keep its grade.",
        ),
    ],
    group_name="marts",
    check_specs=[
        *mart_check_specs(_mart("account_scores")),
        *mart_check_specs(_mart("indicator_weights")),
        *mart_check_specs(_mart("method_comparison")),
        *mart_check_specs(_mart("method_agreement")),
        *mart_check_specs(_mart("weight_stability")),
        *mart_check_specs(_mart("rank_stability")),
    ],
    **_PARTITIONED,
)
def account_scores(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource):
    """Score every account with the model's profile for its segment."""
    model = kam.model()
    per_date = {
        "account_scores": {},
        "indicator_weights": {},
        "method_comparison": {},
        "method_agreement": {},
        "weight_stability": {},
        "rank_stability": {},
    }
    with open_connection(duckdb) as conn:
        for batch in date_batches(conn, as_of_dates(context)):
            for as_of in batch:
                result = score_snapshot(conn, model, as_of)
                # The last date's metadata is taken at once: its frame of scores (hundreds of MB at
                # 440,000 accounts) is then not held through the checks and the steps after this one.
                counts, scores = result.counts, result.account_scores
                metadata = {
                    "dagster/row_count": counts["account_scores"],
                    "top_accounts": dg.MetadataValue.md(accounts_markdown(scores, 10)),
                    "grade_distribution": dg.MetadataValue.md(grade_distribution_markdown(scores)),
                    "key_accounts": int(scores.get_column("is_key_account").sum()),
                }
                del result, scores
            for table, results in per_date.items():
                results.update(mart_check_results(conn, _mart(table), batch))
    checks = {table: merge_check_results(results) for table, results in per_date.items()}
    yield dg.MaterializeResult(
        asset_key=_mart("account_scores"), metadata=metadata, check_results=checks["account_scores"]
    )
    for table in (
        "score_contributions",
        "indicator_weights",
        "weight_consistency",
        "method_comparison",
        "method_agreement",
        "weight_stability",
        "rank_stability",
    ):
        yield dg.MaterializeResult(
            asset_key=_mart(table),
            metadata={"dagster/row_count": counts[table]},
            check_results=checks.get(table, []),
        )


revenue_bridge = _sql_asset(
    "revenue_bridge",
    "Revenue bridge from P to C (new, reactivated, expansion, contraction, churned, other) for the portfolio, "
    "each segment, manager and team.",
)
book_indicators = _sql_asset(
    "book_indicators", "Book of business of every manager and team: the inputs of their scorecard and KPIs."
)
account_obstacles = _sql_asset(
    "account_obstacles",
    "Obstacle degree of every indicator of every account: its share of the points the account's score misses.",
)
score_changes = _sql_asset(
    "score_changes",
    "Why each score moved since the previous stored snapshot: per indicator, the change of its points "
    "split into the effect of its value and the effect of re-weighting.",
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            _mart("manager_scores"),
            deps=[_mart("book_indicators")],
            kinds={"duckdb"},
            description="Manager balanced scorecard: score, perspective sub-scores, KPI attainment, rank, grade.",
        ),
        dg.AssetSpec(
            _mart("team_scores"),
            deps=[_mart("book_indicators")],
            kinds={"duckdb"},
            description="Team scores: book-revenue-weighted means of their managers' scores.",
        ),
        dg.AssetSpec(
            _mart("manager_score_contributions"),
            deps=[_mart("book_indicators")],
            kinds={"duckdb"},
            description="Value, normalised value, weight and points of every indicator of every manager score.",
        ),
        dg.AssetSpec(
            _mart("kpi_attainment"),
            deps=[_mart("book_indicators"), _mart("account_scores")],
            kinds={"duckdb"},
            description="Every KPI against its target per account, manager and team.",
        ),
    ],
    group_name="marts",
    check_specs=[*mart_check_specs(_mart("manager_scores")), *mart_check_specs(_mart("team_scores"))],
    **_PARTITIONED,
)
def people_scores(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource):
    """Score managers with the model's manager scorecard; teams aggregate their managers."""
    model = kam.model()
    per_date = {"manager_scores": {}, "team_scores": {}}
    with open_connection(duckdb) as conn:
        for batch in date_batches(conn, as_of_dates(context)):
            for as_of in batch:
                result = score_people(conn, model, as_of)
            for table, results in per_date.items():
                results.update(mart_check_results(conn, _mart(table), batch))
    checks = {table: merge_check_results(results) for table, results in per_date.items()}
    for table in ("manager_scores", "team_scores", "manager_score_contributions", "kpi_attainment"):
        yield dg.MaterializeResult(
            asset_key=_mart(table),
            metadata={"dagster/row_count": result.counts[table]},
            check_results=checks.get(table, []),
        )


mart_assets = [
    intermediate_models,
    account_lifecycle,
    account_indicators,
    account_assessments,
    portfolio_kpis,
    revenue_bridge,
    manager_indicators,
    account_scores,
    book_indicators,
    people_scores,
    score_changes,
    account_obstacles,
]
