"""Score a stored as-of date with another model and compare it with the stored scores, writing nothing.

The published file is attached read-only to an in-memory database whose `marts` schema shows the
file's indicator tables; scoring writes its outputs there, in memory, so the file cannot change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from kam_pipeline.scoring.model import ScoringModel, model_version
from kam_pipeline.scoring.snapshot import score_snapshot

# What score_snapshot reads from the file.
_INPUTS = ("account_indicators", "account_assessments")
TOP_MOVERS = 5


class CompareError(Exception):
    """The comparison cannot be made (no such file, no snapshot on the date)."""


@dataclass
class ProfileComparison:
    """One profile's stored scores against the other model's: accounts compared, Spearman's rho, changes."""

    profile: str
    accounts: int
    spearman: float | None
    grade_changes: pl.DataFrame  # account_id, account_name, grade, other_grade, score, other_score
    movers: pl.DataFrame  # the TOP_MOVERS largest rank moves: account_id, rank, other_rank, score, other_score


@dataclass
class Comparison:
    """Every profile's comparison of the stored scores of `as_of` with the scores of the other model."""

    as_of: dt.date
    stored_versions: list[str]
    other_version: str
    profiles: list[ProfileComparison]


def other_scores(
    db_path: Path, model: ScoringModel, as_of: dt.date | None
) -> tuple[dt.date, pl.DataFrame, pl.DataFrame]:
    """Return (as_of, stored account_scores, account_scores by `model`) of a stored date (default: the latest)."""
    if not db_path.is_file():
        raise CompareError(f"database not found: {db_path}")
    with duckdb.connect(":memory:") as conn:
        conn.execute("attach ? as stored (read_only)", [str(db_path)])
        tables = {
            r[0]
            for r in conn.execute(
                # Tables of a working database or views of a published one.
                "select table_name from information_schema.tables where table_catalog = 'stored' "
                "and table_schema = 'marts'"
            ).fetchall()
        }
        if "account_scores" not in tables:
            raise CompareError(f"{db_path} has no marts.account_scores: run `kam run` first")
        stored_dates = [
            r[0]
            for r in conn.execute("select distinct as_of_date from stored.marts.account_scores order by 1").fetchall()
        ]
        if not stored_dates:
            raise CompareError(f"{db_path} holds no scored snapshot yet")
        as_of = as_of or stored_dates[-1]
        if as_of not in stored_dates:
            raise CompareError(f"no snapshot for {as_of} in {db_path} (stored: {', '.join(map(str, stored_dates))})")
        conn.execute("create schema marts")
        for table in _INPUTS:
            if table in tables:
                # Only the date compared. A view takes no bound parameter: the date is a parsed
                # datetime.date, written in ISO form, never text from the user.
                conn.execute(
                    f"create view marts.{table} as select * from stored.marts.{table} "
                    f"where as_of_date = date '{as_of.isoformat()}'"
                )
        stored = conn.sql("select * from stored.marts.account_scores where as_of_date = ?", params=[as_of]).pl()
        other = score_snapshot(conn, model, as_of).account_scores
    return as_of, stored, other


def compare(db_path: Path, model: ScoringModel, as_of: dt.date | None = None) -> Comparison:
    """Compare the stored scores of `as_of` (default: the latest) with the scores `model` gives the same data."""
    as_of, stored, other = other_scores(Path(db_path), model, as_of)
    joined = stored.select("account_id", "account_name", "profile", "score", "grade").join(
        other.select("account_id", pl.col("score").alias("other_score"), pl.col("grade").alias("other_grade")),
        on="account_id",
        how="inner",
    )
    versions = (
        sorted(stored.get_column("model_version").drop_nulls().unique().to_list())
        if "model_version" in stored.columns
        else []
    )
    profiles = []
    for profile in sorted(joined.get_column("profile").drop_nulls().unique().to_list()):
        part = joined.filter(pl.col("profile") == profile)
        both = part.filter(pl.col("score").is_not_null() & pl.col("other_score").is_not_null())
        ranked = both.with_columns(
            pl.col("score").rank("min", descending=True).cast(pl.Int32).alias("rank"),
            pl.col("other_score").rank("min", descending=True).cast(pl.Int32).alias("other_rank"),
        ).with_columns((pl.col("other_rank") - pl.col("rank")).alias("rank_move"))
        rho = both.select(pl.corr("score", "other_score", method="spearman")).item() if both.height >= 2 else None
        profiles.append(
            ProfileComparison(
                profile=profile,
                accounts=part.height,
                spearman=None if rho is None or rho != rho else float(rho),
                grade_changes=part.filter(pl.col("grade") != pl.col("other_grade")).sort("account_id"),
                movers=ranked.sort([pl.col("rank_move").abs(), pl.col("account_id")], descending=[True, False])
                .filter(pl.col("rank_move") != 0)
                .head(TOP_MOVERS),
            )
        )
    return Comparison(as_of, versions, model_version(model), profiles)


def comparison_text(result: Comparison, other_path: str) -> str:
    """The comparison as plain text, one block per profile."""
    stored = ", ".join(result.stored_versions) or "unknown"
    lines = [f"kam: {result.as_of}: stored scores (model {stored}) against {other_path} (model {result.other_version})"]
    for p in result.profiles:
        rho = "n/a (fewer than two scores)" if p.spearman is None else f"{p.spearman:.3f}"
        lines.append(f"\nprofile {p.profile}: {p.accounts} accounts, Spearman rank correlation {rho}")
        lines.append(f"  grade changes: {p.grade_changes.height}")
        for r in p.grade_changes.iter_rows(named=True):
            lines.append(
                f"    {r['account_id']} {r['account_name']}: {r['grade']} -> {r['other_grade']}"
                f" ({_num(r['score'])} -> {_num(r['other_score'])})"
            )
        lines.append("  biggest movers:" if p.movers.height else "  biggest movers: none (same ranks)")
        for r in p.movers.iter_rows(named=True):
            lines.append(
                f"    {r['account_id']} {r['account_name']}: rank {r['rank']} -> {r['other_rank']}"
                f" ({_num(r['score'])} -> {_num(r['other_score'])})"
            )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
