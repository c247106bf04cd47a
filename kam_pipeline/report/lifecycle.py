"""The customer lifecycle in the report: the revenue bridge as waterfalls, the new key accounts, the churned
accounts, and the sentence saying where the revenue change came from (marts.revenue_bridge, account stages)."""

from __future__ import annotations

from typing import Any

import polars as pl

from kam_pipeline.report import charts
from kam_pipeline.report.data import ReportData
from kam_pipeline.report.i18n import money, signed, t
from kam_pipeline.report.narrative import Labels, account
from kam_pipeline.warehouse.catalog import BRIDGE_BUCKETS

# The churned accounts listed, biggest previous revenue first.
CHURNED_SHOWN = 10
# The new key accounts listed, biggest revenue first (a young book may have tens of thousands).
NEW_KEY_SHOWN = 20


def _steps(row: dict, lang: str) -> list[tuple[str, float]]:
    return [(t(lang, f"bridge_{bucket}"), float(row[bucket] or 0.0)) for bucket in BRIDGE_BUCKETS]


def _bridge_rows(data: ReportData) -> list[dict]:
    """The bridge rows of the portfolio, then of each segment by name; none without the mart."""
    bridge = data.bridge
    if bridge.is_empty():
        return []
    rows = bridge.filter(pl.col("level").is_in(["all", "segment"]))
    return rows.with_columns((pl.col("level") != "all").alias("_segment")).sort(["_segment", "entity_id"]).to_dicts()


def bridge_charts(data: ReportData, labels: Labels) -> list[str]:
    """A waterfall per bridge row: the portfolio first, then each segment."""
    lang = labels.lang
    out = []
    for row in _bridge_rows(data):
        portfolio = row["level"] == "all"
        title = t(lang, "chart_bridge") if portfolio else t(lang, "chart_bridge_segment", segment=row["entity_id"])
        out.append(
            charts.waterfall_chart(
                (t(lang, "bridge_revenue_prev"), float(row["revenue_prev"] or 0.0)),
                _steps(row, lang),
                (t(lang, "bridge_revenue"), float(row["revenue"] or 0.0)),
                title,
                "bridge" if portfolio else f"bridge-{row['entity_id']}",
            )
        )
    return out


def _stage_accounts(data: ReportData, stage: str) -> pl.DataFrame:
    """Accounts of the snapshot in lifecycle `stage`, with their key-account flag."""
    frame = data.indicators.filter(pl.col("lifecycle_stage") == stage)
    if "is_key_account" in data.scores.columns:
        frame = frame.join(data.scores.select("account_id", "is_key_account"), on="account_id", how="left")
    else:
        frame = frame.with_columns(pl.lit(False).alias("is_key_account"))
    return frame.with_columns(pl.col("is_key_account").fill_null(False))


def lifecycle_section(data: ReportData, labels: Labels) -> dict[str, Any]:
    """The bridge charts and the two lists, ready for the template (lists are None without stage data)."""
    lang = labels.lang
    section: dict[str, Any] = {"charts": bridge_charts(data, labels), "note": t(lang, "bridge_note")}
    if "lifecycle_stage" not in data.indicators.columns:
        return {**section, "new_key": None, "churned": None}
    won = _stage_accounts(data, "new").filter(pl.col("is_key_account"))
    won = won.sort(["revenue", "account_id"], descending=[True, False])
    won_shown = won.head(NEW_KEY_SHOWN)
    lost = _stage_accounts(data, "churned").sort(["revenue_prev", "account_id"], descending=[True, False])
    shown = lost.head(CHURNED_SHOWN)
    section["new_key"] = {
        "title": t(lang, "new_key_heading"),
        "empty": t(lang, "new_key_none"),
        "note": t(lang, "new_key_more", shown=won_shown.height, total=won.height)
        if won.height > won_shown.height
        else None,
        "numeric": {3},
        "row_classes": [],
        "headers": [t(lang, k) for k in ("col_account", "col_segment", "col_first_order", "col_revenue")],
        "rows": [
            [
                account(r["account_id"], r["account_name"]),
                r["segment"],
                str(r["first_order_date"]),
                money(r["revenue"], lang),
            ]
            for r in won_shown.iter_rows(named=True)
        ],
    }
    section["churned"] = {
        "title": t(lang, "churned_heading"),
        "empty": t(lang, "churned_none"),
        "note": t(lang, "churned_more", shown=shown.height, total=lost.height) if lost.height > shown.height else None,
        "numeric": {3},
        "row_classes": [],
        "headers": [t(lang, k) for k in ("col_account", "col_segment", "col_last_order", "col_revenue_prev")],
        # A churned key account (by a rule: churn leaves it no revenue for the Pareto share) is starred.
        "rows": [
            [
                account(r["account_id"], r["account_name"]) + (" ★" if r["is_key_account"] else ""),
                r["segment"],
                str(r["last_order_date"]),
                money(r["revenue_prev"], lang),
            ]
            for r in shown.iter_rows(named=True)
        ],
    }
    return section


def bridge_sentence(data: ReportData, labels: Labels) -> str | None:
    """Where the portfolio's revenue change came from, bucket by bucket, naming the largest; None without a bridge."""
    rows = [r for r in _bridge_rows(data) if r["level"] == "all"]
    if not rows:
        return None
    lang = labels.lang
    row = rows[0]
    amounts = {b: float(row[b] or 0.0) for b in BRIDGE_BUCKETS}
    largest = max(BRIDGE_BUCKETS, key=lambda b: (abs(amounts[b]), -BRIDGE_BUCKETS.index(b)))
    prev, revenue = float(row["revenue_prev"] or 0.0), float(row["revenue"] or 0.0)
    return t(
        lang,
        "bridge_sentence",
        prev=money(prev, lang),
        revenue=money(revenue, lang),
        change=signed(revenue - prev, 0, lang),
        largest=t(lang, f"bridge_{largest}"),
        largest_amount=signed(amounts[largest], 0, lang),
        **{b: signed(v, 0, lang) for b, v in amounts.items()},
    )
