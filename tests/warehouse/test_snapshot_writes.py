"""write_snapshot on a real DuckDB file: a new column (a group added to the model) keeps history and gets its comment."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

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


def test_intermediate_snapshots_stay_in_the_working_database(tmp_path):
    # An intermediate model is written like a mart (a snapshot per as-of date, no column comments),
    # and the published copy holds the marts only: BI sees the same surface as before the split.
    from kam_pipeline.defs.assets.marts import sql_params
    from kam_pipeline.scoring.model import load_model
    from kam_pipeline.warehouse.database import write_sql_snapshot
    from kam_pipeline.warehouse.publish import publish

    work, published = tmp_path / "kam.work.duckdb", tmp_path / "kam.duckdb"
    with duckdb.connect(str(work)) as conn:
        conn.execute("create schema marts")
        params = sql_params(load_model(None), D2, [D1, D2])
        assert write_sql_snapshot(conn, "window_years", params, layer="intermediate") == 2  # 2025 and 2026
        assert write_sql_snapshot(conn, "window_years", {**params, "as_of_dates": [D2]}, layer="intermediate") == 2
        # D2 replaced, D1 kept
        assert conn.execute("select count(*) from intermediate.window_years").fetchall()[0][0] == 4
        comments = conn.execute(
            "select count(comment) from duckdb_columns() where schema_name = 'intermediate'"
        ).fetchall()[0][0]
        assert comments == 0
        write_frame_snapshot(conn, "account_scores", pl.DataFrame({"as_of_date": [D1], "score": [1.0]}), D1)
        publish(conn, published, [D1, D2])
    with duckdb.connect(str(published), read_only=True) as conn:
        # The published catalog's views: the marts, none of the intermediate models.
        views = {r[0] for r in conn.execute("select schema_name from duckdb_views() where not internal").fetchall()}
        assert views == {"marts"}
        assert conn.execute("select score from marts.account_scores").fetchall() == [(1.0,)]
    with duckdb.connect(str(work), read_only=True) as conn:
        assert conn.execute("select count(*) from intermediate.window_years").fetchall()[0][0] == 4
    assert not list(tmp_path.glob(".kam.duckdb.*"))  # no temporary catalog or WAL left behind


def test_a_snapshot_written_in_batches_replaces_the_date_at_once_or_not_at_all(tmp_path):
    # score_contributions is written a batch of accounts at a time from a generator; the batches are
    # one transaction: all of them replace the date's rows, and a batch that fails keeps the old ones.
    from kam_pipeline.warehouse.database import write_frames_snapshot

    def batches(n: int, fail_at: int | None = None):
        for k in range(n):
            if k == fail_at:
                raise RuntimeError("batch failed")
            yield pl.DataFrame({"account_id": [f"a{k}", f"b{k}"], "score": [float(k), -1.0], "as_of_date": [D1, D1]})

    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("create schema marts")
        assert write_frames_snapshot(conn, "score_contributions", batches(3), D1) == 6
        rows = "select account_id, score from marts.score_contributions order by all"
        written = conn.execute(rows).fetchall()
        assert written == sorted([(f"a{k}", float(k)) for k in range(3)] + [(f"b{k}", -1.0) for k in range(3)])
        with pytest.raises(RuntimeError, match="batch failed"):
            write_frames_snapshot(conn, "score_contributions", batches(4, fail_at=2), D1)
        assert conn.execute(rows).fetchall() == written
        assert write_frames_snapshot(conn, "score_contributions", batches(1), D1) == 2
        assert conn.execute(rows).fetchall() == [("a0", 0.0), ("b0", -1.0)]


def test_a_write_under_a_lower_memory_cap_gets_the_cap_back_also_when_it_fails(tmp_path):
    # The contributions are written under a lower DuckDB cap (scoring/snapshot.py): the batches see the
    # lower cap, and the connection has its own cap again afterwards, also after a failed write.
    from kam_pipeline.warehouse.database import memory_capped, memory_limit_gib, write_frames_snapshot

    seen = []

    def batches(fail: bool = False):
        seen.append(memory_limit_gib(conn))
        if fail:
            raise RuntimeError("batch failed")
        yield pl.DataFrame({"account_id": ["a"], "score": [1.0], "as_of_date": [D1]})

    with duckdb.connect(str(tmp_path / "w.duckdb"), config={"memory_limit": "1GB"}) as conn:
        conn.execute("create schema marts")
        own = memory_limit_gib(conn)
        assert own == pytest.approx(10**9 / 2**30, abs=1e-4)
        with memory_capped(conn, 0.25):
            assert write_frames_snapshot(conn, "score_contributions", batches(), D1) == 1
        with pytest.raises(RuntimeError, match="batch failed"), memory_capped(conn, 0.25):
            write_frames_snapshot(conn, "score_contributions", batches(fail=True), D1)
        # Back to the connection's own cap (DuckDB shows it to a tenth of a MiB: within a MiB), and
        # capping again leaves it there; a cap above the connection's own is not raised to.
        restored = memory_limit_gib(conn)
        assert own <= restored < own + 2**-10
        with memory_capped(conn, 4.0):
            seen.append(memory_limit_gib(conn))
        with memory_capped(conn, 0.25):
            pass
        assert seen == [0.25, 0.25, restored]
        assert memory_limit_gib(conn) == restored
        assert conn.execute("select account_id, score from marts.score_contributions").fetchall() == [("a", 1.0)]


def test_a_setting_holds_for_its_block_and_comes_back_also_when_the_block_fails():
    # Staged rows are inserted with preserve_insertion_order off (ingest/row_rules.py); the connection's
    # own value comes back afterwards, whatever it was, also after a failed insert.
    from kam_pipeline.warehouse.database import setting

    def current(conn, name):
        return conn.execute("select current_setting(?)", [name]).fetchone()[0]

    with duckdb.connect() as conn:
        for own in (True, False):
            conn.execute(f"set preserve_insertion_order = {str(own).lower()}")
            with setting(conn, "preserve_insertion_order", not own):
                assert current(conn, "preserve_insertion_order") is (not own)
            assert current(conn, "preserve_insertion_order") is own
            with pytest.raises(duckdb.Error), setting(conn, "preserve_insertion_order", not own):
                conn.execute("select * from no_such_table")
            assert current(conn, "preserve_insertion_order") is own
        # Texts and numbers too; `restore` is what is set back when given.
        threads = current(conn, "threads")
        with setting(conn, "threads", threads + 1):
            assert current(conn, "threads") == threads + 1
        assert current(conn, "threads") == threads
        with setting(conn, "default_null_order", "nulls_first", restore="nulls_last"):
            assert current(conn, "default_null_order").lower() == "nulls_first"
        assert current(conn, "default_null_order").lower() == "nulls_last"
