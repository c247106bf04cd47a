"""write_snapshot on a real DuckDB file: a new column (a group added to the model) keeps history and gets its comment."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from kam_pipeline.warehouse.catalog import column_comment
from kam_pipeline.warehouse.database import write_frame_snapshot

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def _comments(conn) -> dict:
    return dict(
        conn.execute(
            "select column_name, comment from duckdb_columns() where schema_name = 'marts' and table_name = 'account_scores'"
        ).fetchall()
    )


def test_a_new_column_is_added_with_its_comment_and_history_is_kept(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("create schema marts")
        first = pl.DataFrame({"as_of_date": [D1], "account_id": ["a"], "score": [50.0]})
        assert write_frame_snapshot(conn, "account_scores", first, D1) == 1
        assert _comments(conn)["score"] == column_comment("account_scores", "score") != ""
        second = first.with_columns(pl.lit(D2).alias("as_of_date"), pl.lit(70.0).alias("esg_score"))
        assert write_frame_snapshot(conn, "account_scores", second, D2) == 1
        assert conn.execute(
            "select as_of_date, account_id, score, esg_score from marts.account_scores order by all"
        ).fetchall() == [(D1, "a", 50.0, None), (D2, "a", 50.0, 70.0)]
        comments = _comments(conn)
        assert comments["esg_score"] == "Sub-score 0-100 of the indicator group 'esg'"
        assert comments["score"] == column_comment("account_scores", "score")
        # An outdated comment (an older version's catalog) is corrected on the next write.
        conn.execute("comment on column marts.account_scores.score is 'old text'")
        write_frame_snapshot(conn, "account_scores", second, D2)
        assert _comments(conn)["score"] == column_comment("account_scores", "score")
