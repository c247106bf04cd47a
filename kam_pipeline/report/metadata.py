"""Markdown tables an operator reads at a glance in the Dagster UI (asset metadata)."""

from __future__ import annotations

import datetime as dt

import polars as pl


def _cell(text: object) -> str:
    # A pipe in an account name would split the Markdown cell.
    return str(text).replace("|", "\\|")


def accounts_markdown(scores: pl.DataFrame, n: int, top: bool = True) -> str:
    """The `n` best (top) or worst scored accounts as a Markdown table."""
    scored = scores.filter(pl.col("score").is_not_null()).sort(["rank", "account_id"])
    rows = scored.head(n) if top else scored.tail(n).reverse()
    lines = ["| rank | account | segment | score | change | grade | key |", "|---|---|---|---|---|---|---|"]
    for r in rows.iter_rows(named=True):
        change = "" if r.get("score_change") is None else f"{r['score_change']:+.1f}"
        lines.append(
            f"| {r['rank']} | {_cell(r['account_id'])} {_cell(r['account_name'] or '')} | {_cell(r['segment'])} | "
            f"{r['score']:.1f} | {change} | {r['grade']} | {'yes' if r['is_key_account'] else ''} |"
        )
    return "\n".join(lines)


def grade_distribution_markdown(scores: pl.DataFrame) -> str:
    """Accounts per grade (all and key accounts) as a Markdown table."""
    counts = (
        scores.group_by("grade")
        .agg(pl.len().alias("accounts"), pl.col("is_key_account").sum().alias("key"))
        .sort("grade")
    )
    return "| grade | accounts | key accounts |\n|---|---|---|\n" + "".join(
        f"| {g} | {n} | {k} |\n" for g, n, k in counts.iter_rows()
    )


def score_change_markdown(scores: pl.DataFrame, previous: dt.date | None) -> str:
    """How scores moved since the previous snapshot: up, down, unchanged, mean change, largest moves."""
    if previous is None:
        return "First snapshot: no earlier score to compare with."
    changed = scores.filter(pl.col("score_change").is_not_null())
    if changed.is_empty():
        return f"No account has a score both now and on {previous}."
    up = changed.filter(pl.col("score_change") >= 0.05).height
    down = changed.filter(pl.col("score_change") <= -0.05).height
    rise = changed.sort(["score_change", "account_id"], descending=[True, False]).row(0, named=True)
    fall = changed.sort(["score_change", "account_id"]).row(0, named=True)
    return "\n".join(
        [
            f"Since {previous}:",
            "",
            "| | accounts |",
            "|---|---|",
            f"| up | {up} |",
            f"| down | {down} |",
            f"| unchanged (±0.05) | {changed.height - up - down} |",
            f"| mean change | {changed.get_column('score_change').mean():+.2f} |",
            f"| largest rise | {_cell(rise['account_id'])} {rise['score_change']:+.1f} |",
            f"| largest fall | {_cell(fall['account_id'])} {fall['score_change']:+.1f} |",
        ]
    )


def quarantine_markdown(by_source: pl.DataFrame) -> str:
    """Quarantined rows per source as a Markdown table."""
    return "| source | quarantined rows |\n|---|---|\n" + "".join(f"| {s} | {n} |\n" for s, n in by_source.iter_rows())


def alerts_markdown(alerts: pl.DataFrame) -> str:
    """The alerts of one date (account_id, account_name, rule, reason) as a Markdown table."""
    if alerts.is_empty():
        return "No alert."
    lines = ["| account | rule | reason |", "|---|---|---|"]
    for r in alerts.iter_rows(named=True):
        lines.append(
            f"| {_cell(r['account_id'])} {_cell(r['account_name'] or '')} | {r['rule']} | {_cell(r['reason'])} |"
        )
    return "\n".join(lines)
