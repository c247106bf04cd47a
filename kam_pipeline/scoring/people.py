"""Score account managers and teams: a balanced scorecard per manager, teams aggregating their managers.

Managers are scored by the same engine as accounts, with the model's `managers`
scorecard over their book of business (marts.book_indicators) and their KPI
attainment. A team's score and sub-scores are the book-revenue-weighted means of
its managers' (the plain mean when no manager has revenue).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from kam_pipeline.scoring.engine import has_evidence, score_profile
from kam_pipeline.scoring.kpi import kpi_rows, kpi_summary
from kam_pipeline.scoring.model import ScoringModel, model_version
from kam_pipeline.scoring.snapshot import (
    account_kpi_names,
    account_kpis,
    consistency_rows_of,
    contributions_of,
    empty_contributions,
    grade_expr,
    weight_rows_of,
    write_weights,
)
from kam_pipeline.warehouse.database import ident, write_frame_snapshot

_BOOK_COLUMNS = [
    "manager_count",
    "account_count",
    "accounts_scored",
    "key_accounts",
    "revenue",
    "revenue_prev",
    "revenue_growth",
    "nrr",
    "grr",
    "logo_retention",
    "churned_accounts",
    "account_score",
    "avg_completeness",
    "csat",
    "nps",
    "share_of_wallet",
    "active_month_ratio",
    "complaint_rate",
    "avg_resolution_hours",
    "sla_breach_rate",
    "feedback_score",
]


@dataclass
class PeopleResult:
    """Manager and team score frames and the row counts written."""

    managers: pl.DataFrame
    teams: pl.DataFrame
    counts: dict[str, int]


def _ranked(frame: pl.DataFrame, model: ScoringModel) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("score").rank("min", descending=True).cast(pl.Int32).alias("rank"),
        grade_expr(pl.col("score"), pl.col("completeness").fill_null(0.0), model).alias("grade"),
    ).sort(["rank", "entity_id"], nulls_last=True)


def _team_scores(managers: pl.DataFrame, teams: pl.DataFrame, groups: list[str]) -> pl.DataFrame:
    """Book-revenue-weighted means of the managers' scores, completeness and sub-scores per team."""
    scored = managers.filter(pl.col("score").is_not_null()).with_columns(
        pl.col("revenue").cast(pl.Float64).clip(lower_bound=0).alias("_w")
    )
    columns = ["score", "completeness", *[f"{g}_score" for g in groups]]

    def weighted(col: str) -> pl.Expr:
        # Revenue weights when the team has revenue, else the plain mean.
        valid = pl.col(col).is_not_null()
        wsum = pl.col("_w").filter(valid).sum()
        return (
            pl.when(wsum > 0)
            .then((pl.col(col) * pl.col("_w")).filter(valid).sum() / wsum)
            .otherwise(pl.col(col).mean())
            .alias(col)
        )

    rolled = scored.group_by("team_id").agg(*[weighted(c) for c in columns], pl.len().alias("managers_scored"))
    return teams.join(rolled, left_on="entity_id", right_on="team_id", how="left").with_columns(
        pl.col("managers_scored").fill_null(0).cast(pl.Int32)
    )


def score_people(conn: duckdb.DuckDBPyConnection, model: ScoringModel, as_of: dt.date) -> PeopleResult:
    """Compute and write manager_scores, team_scores, manager_score_contributions and kpi_attainment."""
    mgr_model = model.manager_model()
    profile = mgr_model.profile("default")
    book = conn.sql(
        "select * from marts.book_indicators where as_of_date = ? order by level, entity_id", params=[as_of]
    ).pl()
    # The accounts' KPI columns only (a few of the indicator mart's sixty).
    available = conn.sql("select * from marts.account_indicators limit 0").columns
    kpis = "".join(f", i.{ident(c)}" for c in available if c in account_kpi_names(model))
    accounts = conn.sql(
        f"select i.account_id, s.profile{kpis} from marts.account_indicators i "
        "join marts.account_scores s using (as_of_date, account_id) where i.as_of_date = ?",
        params=[as_of],
    ).pl()
    book_targets = {"": model.kpi_targets(None)}
    book_kpis = sorted(set(book_targets[""]) & set(book.columns))
    kpis = pl.concat(
        [
            account_kpis(accounts, model),
            *[
                kpi_rows(
                    book.filter(pl.col("level") == level).select(
                        "entity_id", pl.lit("").alias("targets_key"), *book_kpis
                    ),
                    level,
                    book_targets,
                    model.spec.kpi_cap,
                )
                for level in ("manager", "team")
            ],
        ]
    )
    summary = kpi_summary(kpis, model.spec.kpi_cap)
    book = book.join(summary, on=["level", "entity_id"], how="left")

    managers = book.filter(pl.col("level") == "manager")
    indicators = mgr_model.indicators
    values = (
        np.column_stack([managers.get_column(i.id).cast(pl.Float64).fill_null(np.nan).to_numpy() for i in indicators])
        if managers.height
        else np.zeros((0, len(indicators)))
    )
    result = score_profile(mgr_model, profile, values)
    # Managers form one peer group, the portfolio's: there is nothing bigger to compare a small one with,
    # so peer_count says how many it holds (teams aggregate these manager scores, so they share it).
    peer_count = int(has_evidence(values).sum())
    ids = managers.get_column("entity_id").to_list()  # the row order of `values`, before ranking sorts
    group_cols = [f"{g}_score" for g in mgr_model.groups]
    managers = _ranked(
        managers.with_columns(
            pl.Series("score", result.score).fill_nan(None),
            pl.Series("completeness", result.completeness),
            *[
                pl.Series(c, result.group_scores[g]).fill_nan(None)
                for c, g in zip(group_cols, mgr_model.groups, strict=True)
            ],
        ),
        model,
    )
    teams = _ranked(
        _team_scores(managers, book.filter(pl.col("level") == "team"), mgr_model.groups).with_columns(
            pl.col("completeness").fill_null(0.0)
        ),
        model,
    )
    peers = [pl.lit("portfolio", pl.String).alias("peer_group"), pl.lit(peer_count, pl.Int32).alias("peer_count")]
    shared = [
        *_BOOK_COLUMNS,
        "kpi_attainment",
        "kpis_met",
        "kpis_evaluated",
        "score",
        *group_cols,
        "completeness",
        *peers,
        "rank",
        "grade",
    ]
    manager_frame = (
        managers.select(
            "as_of_date", pl.col("entity_id").alias("manager_id"), "manager_name", "team_id", "team_name", *shared
        )
        .drop("manager_count")
        .with_columns(pl.lit(model_version(model), pl.String).alias("model_version"))
    )
    team_frame = teams.select(
        "as_of_date", pl.col("entity_id").alias("team_id"), "team_name", "managers_scored", *shared
    )
    contributions = (
        contributions_of(result, "manager_id", ids, values) if ids else empty_contributions("manager_id")
    ).with_columns(pl.lit(as_of).alias("as_of_date"))
    counts = {
        "manager_scores": write_frame_snapshot(conn, "manager_scores", manager_frame, as_of),
        "team_scores": write_frame_snapshot(conn, "team_scores", team_frame, as_of),
        "manager_score_contributions": write_frame_snapshot(conn, "manager_score_contributions", contributions, as_of),
        "kpi_attainment": write_frame_snapshot(
            conn, "kpi_attainment", kpis.with_columns(pl.lit(as_of).alias("as_of_date")), as_of
        ),
    }
    counts.update(
        write_weights(
            conn,
            weight_rows_of(result, mgr_model, "manager"),
            consistency_rows_of(result, "manager"),
            as_of,
            "manager",
            model_version(model),
        )
    )
    return PeopleResult(manager_frame, team_frame, counts)
