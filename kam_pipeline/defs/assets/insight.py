"""Insight for people: score alerts (in the published snapshot) and the daily evaluation report (after it)."""

import datetime as dt

import dagster as dg
from dagster_duckdb import DuckDBResource

from kam_pipeline.defs.assets.marts import as_of_dates, date_batches, sql_deps
from kam_pipeline.defs.partitions import as_of_partitions
from kam_pipeline.defs.resources import KamResource
from kam_pipeline.quality.suites import validate_backtest
from kam_pipeline.report import LANGS, build_report
from kam_pipeline.report.data import load
from kam_pipeline.report.metadata import (
    accounts_markdown,
    alerts_markdown,
    grade_distribution_markdown,
    quarantine_markdown,
    score_change_markdown,
)
from kam_pipeline.scoring.model import ScoringModel
from kam_pipeline.warehouse.backtest import write_backtest
from kam_pipeline.warehouse.database import open_connection, scalar, write_sql_snapshot
from kam_pipeline.warehouse.history import previous_params

SCORE_ALERTS = dg.AssetKey(["marts", "score_alerts"])
EVALUATION_REPORT = dg.AssetKey(["evaluation_report"])
# Like the other marts: a backfill range runs in one step, dates oldest first.
_PARTITIONED = {"partitions_def": as_of_partitions, "backfill_policy": dg.BackfillPolicy.single_run()}


def alert_params(model: ScoringModel, as_of_dates: list[dt.date]) -> dict[str, object]:
    """The parameters of sql/marts/score_alerts.sql for the snapshots of `as_of_dates`: alert rules,
    grade bands best first, lower-is-better indicators."""
    spec = model.spec.alerts
    return {
        "as_of_dates": list(as_of_dates),
        "grade_names": [b.grade for b in sorted(model.spec.grades, key=lambda b: -b.min)],
        "alert_score_drop_points": float(spec.score_drop_points),
        "alert_grade_drop": spec.grade_drop,
        "alert_became_churned": spec.became_churned,
        "alert_key_accounts_only": spec.key_accounts_only,
        "lower_indicators": sorted(i.id for i in model.indicators if i.direction == "lower"),
    }


@dg.asset(
    key=SCORE_ALERTS,
    deps=sql_deps("score_alerts"),
    description="Score drops, grade drops and newly churned key accounts against the previous snapshot.",
    group_name="marts",
    kinds={"duckdb"},
    pool="kam_duckdb_writer",
    **_PARTITIONED,
    check_specs=[
        dg.AssetCheckSpec(
            "no_score_alerts",
            asset=SCORE_ALERTS,
            description="Warns when the model's alert rules fire for any account on the as-of date.",
        )
    ],
)
def score_alerts(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Write each as-of date's alerts to marts.score_alerts; a WARN check lists the latest date's in the UI."""
    model = kam.model()
    dates = as_of_dates(context)
    with open_connection(duckdb) as conn:
        # One query per batch of dates, like the other marts.
        for batch in date_batches(conn, dates):
            write_sql_snapshot(conn, "score_alerts", alert_params(model, batch) | previous_params(conn, batch))
        counts = dict.fromkeys(dates, 0) | dict(
            conn.execute(
                "select as_of_date, count(*) from marts.score_alerts where list_contains(?::date[], as_of_date) "
                "group by as_of_date",
                [dates],
            ).fetchall()
        )
        latest = dates[-1]
        alerts = conn.sql(
            "select account_id, account_name, rule, previous_score, score, reason from marts.score_alerts "
            "where as_of_date = ? order by account_id, rule",
            params=[latest],
        ).pl()
    by_rule = {rule: n for rule, n in alerts.group_by("rule").len().sort("rule").iter_rows()}
    table = dg.MetadataValue.md(alerts_markdown(alerts))
    total = sum(counts.values())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts[latest],
            "as_of_date": latest.isoformat(),
            "alerts": table,
            **{f"alerts_{rule}": n for rule, n in by_rule.items()},
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_score_alerts",
                passed=total == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "alerts": counts[latest],
                    "accounts": alerts.get_column("account_id").n_unique(),
                    "as_of_date": latest.isoformat(),
                    "alerts_in_run": total,
                    "list": table,
                },
            )
        ],
    )


SCORE_BACKTEST = dg.AssetKey(["marts", "score_backtest"])


@dg.asset(
    key=SCORE_BACKTEST,
    deps=sql_deps("score_backtest"),
    description="Did the score predict churn: AUC and quintile churn rates of every stored snapshot at each horizon.",
    group_name="marts",
    kinds={"duckdb"},
    pool="kam_duckdb_writer",
    **_PARTITIONED,
    check_specs=[
        dg.AssetCheckSpec(
            "gx_backtest_valid",
            asset=SCORE_BACKTEST,
            blocking=True,
            description="auc and churn rates lie in [0, 1]; churned accounts never exceed accounts.",
        )
    ],
)
def score_backtest(context: dg.AssetExecutionContext, kam: KamResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Recompute the backtest of the stored snapshots whose rows the run's dates can change (a new
    snapshot completes the horizon of an old one); the others are kept as they are."""
    model = kam.model()
    dates = as_of_dates(context)
    latest = dates[-1]
    with open_connection(duckdb) as conn:
        recomputed = write_backtest(conn, dates, list(model.spec.backtest.horizons_days))
        rows = scalar(conn, "select count(*) from marts.score_backtest")
        outcome = validate_backtest(conn)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "as_of_date": latest.isoformat(),
            "snapshots_recomputed": len(recomputed),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="gx_backtest_valid",
                passed=outcome.success,
                metadata={"rows": outcome.rows, "failures": dg.MetadataValue.md(outcome.markdown() or "none")},
            )
        ],
    )


@dg.asset(
    key=EVALUATION_REPORT,
    deps=[dg.AssetKey(["published_snapshot"])],
    description="The evaluation report (HTML, English and Chinese) of the published snapshot, next to the --db file.",
    group_name="reports",
    kinds={"html"},
    **_PARTITIONED,
)
def evaluation_report(context: dg.AssetExecutionContext, kam: KamResource) -> dg.MaterializeResult:
    """Render the report of the run's (latest) as-of date from the published file (read-only) in every language.

    A backfill range reports on its last date only; `kam report --as-of D` writes any other.
    """
    as_of = as_of_dates(context)[-1]
    model = kam.model()
    data = load(kam.published_path, as_of, model)
    reports = {lang: build_report(kam.published_path, None, as_of, lang, model, data=data) for lang in LANGS}
    scores = data.scores
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(reports["en"].path.resolve())),
            **{
                f"path_{lang}": dg.MetadataValue.path(str(r.path.resolve()))
                for lang, r in reports.items()
                if lang != "en"
            },
            "top_accounts": dg.MetadataValue.md(accounts_markdown(scores, 10, top=True)),
            "bottom_accounts": dg.MetadataValue.md(accounts_markdown(scores, 10, top=False)),
            "grade_distribution": dg.MetadataValue.md(grade_distribution_markdown(scores)),
            "score_changes": dg.MetadataValue.md(score_change_markdown(scores, data.previous_as_of)),
            "quarantine": dg.MetadataValue.md(quarantine_markdown(data.quarantine_by_source)),
            "alerts": 0 if data.alerts is None else data.alerts.height,
            "bytes": sum(r.bytes for r in reports.values()),
        }
    )


insight_assets = [score_alerts, score_backtest, evaluation_report]
