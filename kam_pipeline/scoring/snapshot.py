"""Score one as-of snapshot: read indicators from DuckDB, run the engine per profile, write the marts.

Only the (accounts × indicators) matrix comes into Python; orders never do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from kam_pipeline.scoring.engine import ProfileScores, WeightResult, has_evidence, score_profile
from kam_pipeline.scoring.kpi import kpi_rows, kpi_summary
from kam_pipeline.scoring.methods import COMPARISON_SCHEMA, method_agreement_of, method_comparison_of
from kam_pipeline.scoring.model import Profile, ScoringModel, model_version
from kam_pipeline.scoring.stability import RANK_SCHEMA, WEIGHT_SCHEMA, profile_stability
from kam_pipeline.warehouse.database import ident, memory_capped, write_frame_snapshot, write_frames_snapshot
from kam_pipeline.warehouse.history import previous_snapshot


@dataclass
class SnapshotResult:
    """Row counts written and the frames of account scores (for asset metadata)."""

    account_scores: pl.DataFrame
    counts: dict[str, int]


def _indicator_frame(conn: duckdb.DuckDBPyConnection, model: ScoringModel, as_of: dt.date) -> pl.DataFrame:
    """The columns of marts.account_indicators the scoring reads, with the assessed dimensions as
    columns, for every account of `as_of` in account_id order (the bootstrap's draws follow it).

    One query: the indicator mart has twice as many columns as are scored (at 440,000 accounts all
    of them were 171 MB, and a polars join per assessed dimension copied them each time).
    """
    available = conn.sql("select * from marts.account_indicators limit 0").columns
    assessed = {i.spec.dimension or i.id: i.id for i in model.indicators if i.spec.source == "assessments"}
    wanted = {*_FRAME_COLUMNS, *(i.id for i in model.indicators), *account_kpi_names(model)}
    columns = [f"i.{ident(c)}" for c in available if c in wanted and c not in assessed.values()]
    dimensions = [f"any_value(score) filter (where dimension = ?) as {ident(i)}" for i in assessed.values()]
    if not assessed:
        query = f"select {', '.join(columns)} from marts.account_indicators i where i.as_of_date = ?"
        return conn.sql(f"{query} order by i.account_id", params=[as_of]).pl()
    query = (
        f"select {', '.join(columns)}, {', '.join(f'a.{ident(i)}' for i in assessed.values())} "
        "from marts.account_indicators i left join ("
        f"select account_id, {', '.join(dimensions)} from marts.account_assessments "
        "where as_of_date = ? and dimension in (select unnest(?::varchar[])) group by account_id"
        ") a using (account_id) where i.as_of_date = ? order by i.account_id"
    )
    return conn.sql(query, params=[*assessed, as_of, list(assessed), as_of]).pl()


def grade_expr(score: pl.Expr, completeness: pl.Expr, model: ScoringModel) -> pl.Expr:
    """`grade` as one polars expression: the first band (highest min first) the score reaches."""
    expr = pl.when(score.is_null() | score.is_nan() | (completeness < model.spec.evaluation.min_completeness)).then(
        pl.lit("insufficient_data")
    )
    for band in model.spec.grades:
        expr = expr.when(score >= band.min).then(pl.lit(band.grade))
    return expr.otherwise(None).cast(pl.String)


def _key_accounts(frame: pl.DataFrame, model: ScoringModel) -> pl.DataFrame:
    """Add is_key_account and key_account_rule: Pareto share of revenue first, then configured rules."""
    spec = model.spec.key_accounts
    positive = frame.filter(pl.col("revenue") > 0).sort(["revenue", "account_id"], descending=[True, False])
    total = float(positive.get_column("revenue").sum()) if positive.height else 0.0
    # An account is in the Pareto set while the revenue ranked above it is still short of the share.
    pareto = positive.with_columns(
        ((pl.col("revenue").cum_sum() - pl.col("revenue")) < spec.pareto_share * total).alias("_pareto")
    ).filter(pl.col("_pareto"))
    pareto_ids = pareto.get_column("account_id").to_list() if total > 0 else []
    label = f"pareto_{round(spec.pareto_share * 100):d}"
    # The Pareto set first, then the configured rules in order: the first that fires names the reason.
    fired = pl.when(pl.col("account_id").is_in(pareto_ids)).then(pl.lit(label))
    revenue = pl.col("revenue").cast(pl.Float64).fill_null(0.0)
    for rule in spec.rules:
        condition = pl.lit(True)
        if rule.segments is not None:
            condition = condition & pl.col("segment").is_in(list(rule.segments)).fill_null(False)
        if rule.min_revenue is not None:
            condition = condition & (revenue >= float(rule.min_revenue))
        fired = fired.when(condition).then(pl.lit(f"rule:{rule.name}"))
    return frame.with_columns(fired.otherwise(None).cast(pl.String).alias("key_account_rule")).with_columns(
        pl.col("key_account_rule").is_not_null().alias("is_key_account")
    )


def _values(frame: pl.DataFrame, model: ScoringModel) -> tuple[np.ndarray, np.ndarray]:
    """The (accounts × model.indicators) matrix of raw values (NaN = missing) and the churn flags of `frame`."""
    if not frame.height:
        return np.zeros((0, len(model.indicators))), np.zeros(0, dtype=bool)
    values = np.column_stack(
        [frame.get_column(i.id).cast(pl.Float64).fill_null(np.nan).to_numpy() for i in model.indicators]
    )
    churned = frame.get_column("is_churned").fill_null(0).to_numpy() == 1
    return values, churned


def peer_scores(
    model: ScoringModel,
    profile: Profile,
    values: np.ndarray,
    churned: np.ndarray,
    portfolio: tuple[np.ndarray, np.ndarray],
    in_profile: np.ndarray,
) -> tuple[ProfileScores, str, int]:
    """Score one profile against its peer group; return the scores, the group's name and its size.

    The group is the profile's own scored accounts when there are at least min_peers of them;
    otherwise the whole portfolio (every scored account of the date): relative normalisation and
    objective weights then come from the portfolio, the profile's own judgements (AHP, experts,
    targets) still apply. A portfolio smaller than min_peers is still the biggest group there is
    and says so through its count. `in_profile` marks the profile's rows within `portfolio`.
    """
    peers, peers_churned, rows = peer_population(model, values, churned, portfolio, in_profile)
    result = score_profile(model, profile, peers, peers_churned)
    name = profile.name if rows is None else "portfolio"
    return (result if rows is None else result.take(rows)), name, int(has_evidence(peers, peers_churned).sum())


def peer_population(
    model: ScoringModel,
    values: np.ndarray,
    churned: np.ndarray,
    portfolio: tuple[np.ndarray, np.ndarray],
    in_profile: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The values and churn flags of a profile's peer group (see peer_scores), and where the profile's
    own accounts are among them (None: the peer group is the profile itself)."""
    if int(has_evidence(values, churned).sum()) >= model.spec.evaluation.min_peers:
        return values, churned, None
    return *portfolio, in_profile


def _profile_of(frame: pl.DataFrame, model: ScoringModel) -> pl.Series:
    """The profile of every row of `frame`, by its segment and lifecycle stage (NULL without a segment)."""
    # One look-up per distinct (segment, stage) pair, joined back through a text key.
    key = pl.concat_str(pl.col("segment"), pl.col("lifecycle_stage").fill_null(""), separator="\x1f")
    pairs = frame.select("segment", "lifecycle_stage").unique().drop_nulls("segment")
    profiles = {
        f"{segment}\x1f{stage or ''}": model.profile_for(segment, stage) for segment, stage in pairs.iter_rows()
    }
    return frame.select(key.replace_strict(profiles, default=None, return_dtype=pl.String)).to_series()


# The columns of account_scores taken from the indicator frame (and the profile it is scored with).
SCORE_COLUMNS = ("account_id", "account_name", "segment", "profile", "manager_id", "team_id", "revenue")
# The columns of the indicator frame besides the indicators and KPIs: the profile comes from the
# segment and the lifecycle stage, churn is evidence.
_FRAME_COLUMNS = (*(c for c in SCORE_COLUMNS if c != "profile"), "lifecycle_stage", "is_churned")


# DuckDB's memory cap while the scores are computed and written: the contributions' row groups stay
# in its buffer pool until the commit, up to its cap (400 MB more at 11M rows within 1 GB), and the
# other marts' rows stay cached after theirs, while the profiles are scored; under a lower cap it
# writes them out instead (no slower at 440,000 accounts).
WRITE_MEMORY_GIB = 0.125


def score_snapshot(conn: duckdb.DuckDBPyConnection, model: ScoringModel, as_of: dt.date) -> SnapshotResult:
    """Compute and write account_scores, score_contributions, indicator_weights and weight_consistency."""
    frame = _indicator_frame(conn, model, as_of)
    # Accounts without a profile are neither scored nor given KPI rows (account_kpis joins on it).
    scored = frame.with_columns(_profile_of(frame, model).alias("profile")).filter(pl.col("profile").is_not_null())
    del frame
    # Before the profiles are scored: the KPIs' long rows (one per account and KPI) are then the
    # largest thing held, not an addition to the profiles' arrays.
    kpis = (
        account_kpis(scored, model)
        .pipe(kpi_summary, model.spec.kpi_cap)
        .drop("level")
        .rename({"entity_id": "account_id"})
    )
    portfolio = _values(scored, model)
    # The indicators are in `portfolio` now: of the frame, the profiles need the score columns only.
    scored = scored.select(SCORE_COLUMNS)
    score_rows, weight_rows, consistency_rows = [], [], []
    method_parts: list[pl.DataFrame] = []
    # Of each profile with accounts, what its bootstrap reads: its rows, ids and scores (without matrices).
    bootstrap: list[tuple[Profile, np.ndarray, list[str], ProfileScores]] = []

    def scored_profiles(
        scored: pl.DataFrame, portfolio: tuple[np.ndarray, np.ndarray]
    ) -> Iterator[tuple[ProfileScores, list[str], np.ndarray]]:
        """Score each profile of `scored`, collect its score, weight and method rows, and yield its
        (scores, ids, values) for its contributions, which are written as they come."""
        for profile in model.profiles:
            # A profile's rows are taken from the portfolio's matrix and a few columns, not from a copy
            # of the frame (its largest profile is 90 % of the accounts).
            mask = scored.get_column("profile") == profile.name
            in_profile = mask.to_numpy()
            values, churned = portfolio[0][in_profile], portfolio[1][in_profile]
            result, peer_group, peer_count = peer_scores(model, profile, values, churned, portfolio, in_profile)
            weight_rows.extend(weight_rows_of(result, model, "account"))
            consistency_rows.extend(consistency_rows_of(result, "account"))
            if not in_profile.any():
                continue
            ids = scored.get_column("account_id").filter(mask).to_list()
            group_cols = {f"{g}_score": result.group_scores[g] for g in model.groups}
            score_rows.append(
                scored.filter(mask).with_columns(
                    pl.Series("score", result.score),
                    pl.Series("completeness", result.completeness),
                    pl.lit(peer_group, pl.String).alias("peer_group"),
                    pl.lit(peer_count, pl.Int32).alias("peer_count"),
                    pl.Series(
                        "indicators_missing",
                        [int(n) for n in np.isnan(values).sum(axis=1)],
                        dtype=pl.Int32,
                    ),
                    *[pl.Series(k, v) for k, v in group_cols.items()],
                )
            )
            method_parts.append(method_comparison_of(result, ids, model.spec.methods.gra_rho))
            bootstrap.append((profile, in_profile, ids, result.without_matrices()))
            yield result, ids, values
            # The profile's (accounts × indicators) matrices are freed before the next one is scored.
            del result, values, churned

    with memory_capped(conn, WRITE_MEMORY_GIB):
        # The 11M contributions (at 440,000 accounts) first, each profile's as it is scored: its matrices
        # are then not held through the bootstrap, nor scored again for the contributions after it.
        contributions = write_frames_snapshot(
            conn,
            "score_contributions",
            contribution_batches(scored_profiles(scored, portfolio), "account_id", as_of),
            as_of,
        )
        stability_parts: list[pl.DataFrame] = []
        rank_parts: list[pl.DataFrame] = []
        for profile, in_profile, ids, result in bootstrap if model.spec.stability.draws else []:
            values, churned = portfolio[0][in_profile], portfolio[1][in_profile]
            peers, peers_churned, rows = peer_population(model, values, churned, portfolio, in_profile)
            weights, ranks = profile_stability(model, profile, result, peers, peers_churned, rows, ids)
            stability_parts.append(weights)
            rank_parts.append(ranks)
            del values, churned, peers, peers_churned, ids, result
        # What is left to write holds its own copies. The frame, the portfolio's matrix and the profiles'
        # ids and scores are freed before the frame of scores is built: at 440,000 accounts, with what the
        # bootstrap had just freed, that was the step's peak.
        del scored, portfolio
        bootstrap.clear()
        scores = pl.concat(score_rows, how="vertical_relaxed") if score_rows else _empty_scores(model)
        scores = scores.with_columns(
            pl.col("score").fill_nan(None), *[pl.col(f"{g}_score").fill_nan(None) for g in model.groups]
        )
        scores = _key_accounts(scores, model)
        scores = scores.join(kpis, on="account_id", how="left")
        previous_as_of = previous_snapshot(conn, as_of)
        previous = (
            conn.sql(
                "select account_id, score as previous_score from marts.account_scores where as_of_date = ?",
                params=[previous_as_of],
            ).pl()
            if previous_as_of is not None
            else pl.DataFrame(schema={"account_id": pl.String, "previous_score": pl.Float64})
        )
        scores = (
            scores.join(previous, on="account_id", how="left")
            .with_columns(
                pl.lit(as_of).alias("as_of_date"),
                (pl.col("score") - pl.col("previous_score")).alias("score_change"),
                pl.col("score").rank("min", descending=True).cast(pl.Int32).alias("rank"),
                pl.col("score").rank("min", descending=True).over("segment").cast(pl.Int32).alias("segment_rank"),
                grade_expr(pl.col("score"), pl.col("completeness"), model).alias("grade"),
                pl.lit(model_version(model), pl.String).alias("model_version"),
            )
            .sort(["rank", "account_id"], nulls_last=True)
        )
        counts = {"account_scores": write_frame_snapshot(conn, "account_scores", scores, as_of)}
        counts.update(write_weights(conn, weight_rows, consistency_rows, as_of, "account", model_version(model)))
        counts.update(write_methods(conn, method_parts, as_of))
        counts.update(write_stability(conn, stability_parts, rank_parts, as_of))
        counts["score_contributions"] = contributions
        return SnapshotResult(scores, counts)


def write_methods(conn: duckdb.DuckDBPyConnection, parts: list[pl.DataFrame], as_of: dt.date) -> dict[str, int]:
    """Write method_comparison (every profile's accounts under each method) and method_agreement."""
    comparison = pl.concat(parts) if parts else pl.DataFrame(schema=COMPARISON_SCHEMA)
    agreement = method_agreement_of(comparison)
    return {
        "method_comparison": write_frame_snapshot(
            conn, "method_comparison", comparison.with_columns(pl.lit(as_of).alias("as_of_date")), as_of
        ),
        "method_agreement": write_frame_snapshot(
            conn, "method_agreement", agreement.with_columns(pl.lit(as_of).alias("as_of_date")), as_of
        ),
    }


def write_stability(
    conn: duckdb.DuckDBPyConnection, weights: list[pl.DataFrame], ranks: list[pl.DataFrame], as_of: dt.date
) -> dict[str, int]:
    """Write weight_stability and rank_stability (no rows when the model's stability draws are 0)."""
    frames = {
        "weight_stability": pl.concat(weights) if weights else pl.DataFrame(schema=WEIGHT_SCHEMA),
        "rank_stability": pl.concat(ranks) if ranks else pl.DataFrame(schema=RANK_SCHEMA),
    }
    return {
        table: write_frame_snapshot(conn, table, frame.with_columns(pl.lit(as_of).alias("as_of_date")), as_of)
        for table, frame in frames.items()
    }


def account_kpi_names(model: ScoringModel) -> set[str]:
    """The KPIs with a target in some account profile (the columns account_kpis reads)."""
    return {kpi for p in model.profiles for kpi in model.kpi_targets(p.name)}


def account_kpis(frame: pl.DataFrame, model: ScoringModel) -> pl.DataFrame:
    """Long KPI rows of every account, with its profile's targets (level 'account')."""
    targets = {p.name: model.kpi_targets(p.name) for p in model.profiles}
    kpis = sorted(account_kpi_names(model) & set(frame.columns))
    entities = frame.select(pl.col("account_id").alias("entity_id"), pl.col("profile").alias("targets_key"), *kpis)
    return kpi_rows(entities, "account", targets, model.spec.kpi_cap)


def write_weights(
    conn: duckdb.DuckDBPyConnection,
    weights: list[dict],
    consistency: list[dict],
    as_of: dt.date,
    subject: str,
    version: str | None = None,
) -> dict[str, int]:
    """Write the `subject` part ('account' or 'manager') of indicator_weights and weight_consistency
    (indicator_weights with the model_version `version`)."""
    scope = {"subject": subject}
    weight_frame = pl.DataFrame(weights).with_columns(
        pl.col("^(group_)?alpha_(subjective|objective)$").cast(pl.Float64),
        pl.lit(as_of).alias("as_of_date"),
        pl.lit(version, pl.String).alias("model_version"),
    )
    consistency_frame = (pl.DataFrame(consistency) if consistency else _empty_consistency()).with_columns(
        pl.lit(as_of).alias("as_of_date")
    )
    return {
        "indicator_weights": write_frame_snapshot(conn, "indicator_weights", weight_frame, as_of, scope),
        "weight_consistency": write_frame_snapshot(conn, "weight_consistency", consistency_frame, as_of, scope),
    }


def consistency_rows_of(result: ProfileScores, subject: str) -> list[dict]:
    """AHP consistency records of every weight level of a profile, tagged with the subject scored."""
    levels = [result.group_weights, *result.indicator_weights.values()]
    return [{"subject": subject, **record} for level in levels for record in level.consistency]


def weight_rows_of(result: ProfileScores, model: ScoringModel, subject: str) -> list[dict]:
    """indicator_weights rows of one scored profile."""
    rows = []
    groups = model.groups
    for ind in result.indicators:
        within = result.indicator_weights[ind.group]
        members = [i.id for i in result.indicators if i.group == ind.group]
        k = members.index(ind.id)
        g = groups.index(ind.group)
        rows.append(
            {
                "subject": subject,
                "profile": result.profile,
                "group": ind.group,
                "indicator": ind.id,
                "method": within.method,
                "group_method": result.group_weights.method,
                "group_weight": float(result.group_weights.final[g]),
                "weight_in_group": float(within.final[k]),
                "subjective_weight": None if within.subjective is None else float(within.subjective[k]),
                "objective_weight": None if within.objective is None else float(within.objective[k]),
                "weight": result.base_weight(ind),
                # α* of a combination (game theory) or α and 1 - α (linear), in the group and between groups.
                **_coefficients(within, ""),
                **_coefficients(result.group_weights, "group_"),
            }
        )
    return rows


def _coefficients(weights: WeightResult, prefix: str) -> dict[str, float | None]:
    shares = weights.coefficients or (None, None)
    return {f"{prefix}alpha_subjective": shares[0], f"{prefix}alpha_objective": shares[1]}


def contributions_of(result: ProfileScores, id_column: str, ids: list[str], values: np.ndarray) -> pl.DataFrame:
    """score_contributions rows: one per scored entity and indicator."""
    m, n = values.shape
    contribution = result.contribution
    # Entity-major rows: entity k's indicators are rows k*n .. k*n + n - 1 (polars gathers, no Python lists).
    entity, indicator = np.repeat(np.arange(m), n), np.tile(np.arange(n), m)
    return pl.DataFrame(
        {
            id_column: pl.Series(ids, dtype=pl.String).gather(entity),
            "profile": pl.repeat(result.profile, m * n, dtype=pl.String, eager=True),
            "indicator": pl.Series([i.id for i in result.indicators], dtype=pl.String).gather(indicator),
            "group": pl.Series([i.group for i in result.indicators], dtype=pl.String).gather(indicator),
            "value": values.reshape(-1),
            "normalized": result.normalized.reshape(-1),
            "imputed": (np.isnan(values) & ~np.isnan(result.normalized)).reshape(-1),
            "base_weight": np.tile([result.base_weight(i) for i in result.indicators], m),
            "weight": result.effective_weight.reshape(-1),
            "contribution": contribution.reshape(-1),
        },
        strict=False,
    ).with_columns(pl.col("value").fill_nan(None), pl.col("normalized").fill_nan(None))


# Entities per batch of score_contributions rows: a batch of 20,000 accounts is about 40 MB of rows,
# where a profile of 400,000 accounts held 800 MB at once.
CONTRIBUTION_BATCH = 20_000


def contribution_batches(
    parts: Iterable[tuple[ProfileScores, list[str], np.ndarray]], id_column: str, as_of: dt.date
) -> Iterator[pl.DataFrame]:
    """score_contributions rows of every (scores, ids, values) part, in order, CONTRIBUTION_BATCH entities
    at a time, with their as_of_date; one empty frame when there are none (it gives the columns)."""
    empty = True
    for result, ids, values in parts:
        empty = False
        for first in range(0, len(ids), CONTRIBUTION_BATCH):
            rows = slice(first, first + CONTRIBUTION_BATCH)
            batch = contributions_of(result.take(rows), id_column, ids[rows], values[rows])
            yield batch.with_columns(pl.lit(as_of).alias("as_of_date"))
        # Let go of the part before the next one is made (`parts` may score it then).
        del result, values
    if empty:
        yield empty_contributions(id_column).with_columns(pl.lit(as_of).alias("as_of_date"))


def empty_contributions(id_column: str) -> pl.DataFrame:
    """An empty contributions frame with the columns of contributions_of."""
    return pl.DataFrame(
        schema={
            id_column: pl.String,
            "profile": pl.String,
            "indicator": pl.String,
            "group": pl.String,
            "value": pl.Float64,
            "normalized": pl.Float64,
            "imputed": pl.Boolean,
            "base_weight": pl.Float64,
            "weight": pl.Float64,
            "contribution": pl.Float64,
        }
    )


def _empty_consistency() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "subject": pl.String,
            "profile": pl.String,
            "matrix_name": pl.String,
            "n": pl.Int64,
            "items": pl.String,
            "matrix": pl.String,
            "weights": pl.String,
            "method": pl.String,
            "lambda_max": pl.Float64,
            "ci": pl.Float64,
            "random_index": pl.Float64,
            "cr": pl.Float64,
            "accepted": pl.Boolean,
        }
    )


def _empty_scores(model: ScoringModel) -> pl.DataFrame:
    schema = {
        "account_id": pl.String,
        "account_name": pl.String,
        "segment": pl.String,
        "profile": pl.String,
        "manager_id": pl.String,
        "team_id": pl.String,
        "revenue": pl.Float64,
        "score": pl.Float64,
        "completeness": pl.Float64,
        "peer_group": pl.String,
        "peer_count": pl.Int32,
        "indicators_missing": pl.Int32,
        **{f"{g}_score": pl.Float64 for g in model.groups},
    }
    return pl.DataFrame(schema=schema)
