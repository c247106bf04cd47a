"""Short human summaries of a snapshot, for the CLI and asset metadata."""

from __future__ import annotations

import polars as pl


def top_accounts_markdown(scores: pl.DataFrame, n: int) -> str:
    """Return the top `n` accounts by score as a Markdown table."""
    top = scores.filter(pl.col("score").is_not_null()).sort("rank").head(n)
    lines = ["| rank | account | segment | score | grade | key |", "|---|---|---|---|---|---|"]
    for r in top.iter_rows(named=True):
        lines.append(
            f"| {r['rank']} | {r['account_id']} {r['account_name']} | {r['segment']} | "
            f"{r['score']:.1f} | {r['grade']} | {'yes' if r['is_key_account'] else ''} |"
        )
    return "\n".join(lines)
