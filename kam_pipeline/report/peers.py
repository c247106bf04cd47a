"""Which peer group every score was compared with, one sentence per account profile and one for managers."""

from __future__ import annotations

import polars as pl

from kam_pipeline.report.data import ReportData
from kam_pipeline.report.i18n import t
from kam_pipeline.scoring.model import ScoringModel


def _groups(frame: pl.DataFrame, by: list[str]) -> list[dict]:
    """Distinct (by..., peer_group, peer_count) rows of a score frame, with `own` = the group's rows that have a
    score; [] for a snapshot written before peer groups were recorded (no such columns, or NULL in them)."""
    if frame is None or not frame.height or not {"peer_group", "peer_count"} <= set(frame.columns):
        return []
    recorded = frame.filter(pl.col("peer_group").is_not_null() & pl.col("peer_count").is_not_null())
    if not recorded.height:
        return []
    return (
        recorded.group_by([*by, "peer_group", "peer_count"])
        .agg(pl.col("score").is_not_null().sum().alias("own"))
        .sort(by)
        .to_dicts()
    )


def peer_group_sentences(data: ReportData, model: ScoringModel, lang: str) -> list[str]:
    """One sentence per account profile, then one for the managers: whom their scores are relative to, and how many.

    A profile compared with the portfolio says how many accounts it has itself; a group smaller
    than min_peers (a small portfolio has nothing bigger to compare with) gets a word of caution.
    """
    min_peers = model.spec.evaluation.min_peers
    sentences = []
    for row in _groups(data.scores, ["profile"]):
        if row["peer_group"] == "portfolio":
            text = t(
                lang,
                "peers_portfolio",
                profile=row["profile"],
                own=row["own"],
                count=row["peer_count"],
                min_peers=min_peers,
            )
        else:
            text = t(lang, "peers_profile", profile=row["profile"], count=row["peer_count"])
        if row["peer_count"] < min_peers:
            text += t(lang, "peers_few", min_peers=min_peers)
        sentences.append(text)
    for row in _groups(data.managers, [])[:1]:
        text = t(lang, "peers_managers", count=row["peer_count"])
        if row["peer_count"] < min_peers:
            text += t(lang, "peers_few", min_peers=min_peers)
        sentences.append(text)
    return sentences
