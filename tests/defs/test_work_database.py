"""WorkDatabase: the working database held open through a run while it is small, checkpointed where the
run chooses; the steps reach it through open_connection, as the pipeline's do."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kam_pipeline.defs import resources
from kam_pipeline.defs.resources import WorkDatabase, build_resources
from kam_pipeline.settings import Settings
from kam_pipeline.warehouse.database import open_connection


def _wal(db: WorkDatabase) -> int:
    wal = Path(db.database + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def _work(tmp_path: Path, **config: str) -> WorkDatabase:
    work = build_resources(Settings(data_dir=tmp_path, db_path=tmp_path / "kam.duckdb", model_path=None))["duckdb"]
    assert isinstance(work, WorkDatabase)
    if config:
        work = WorkDatabase(database=work.database, connection_config={**work.connection_config, **config})
    return work


def _attached(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in conn.execute("select database_name from duckdb_databases()").fetchall()}


@dg.asset
def writes(duckdb: WorkDatabase) -> int:
    with open_connection(duckdb) as conn:
        # An attached in-memory database lives as long as the database instance does.
        conn.execute("attach ':memory:' as scratch")
        conn.execute("create table scratch.seen as select 42 as x")
        conn.execute("create table main.rows as select range as n from range(100000)")  # under one row group: logged
        return _wal(duckdb)


@dg.asset(deps=[writes])
def reads(duckdb: WorkDatabase) -> tuple[bool, int]:
    logged = _wal(duckdb)  # as the previous step left it
    with open_connection(duckdb) as conn:
        return "scratch" in _attached(conn), logged


@dg.asset(deps=[reads])
def checkpoints(duckdb: WorkDatabase) -> int:
    before = _wal(duckdb)
    duckdb.checkpoint_in_background()
    duckdb._checkpoint.join()  # what the run's end waits for
    assert before > 100_000
    return _wal(duckdb)


def test_a_run_holds_one_database_and_checkpoints_it_at_the_end(tmp_path):
    work = _work(tmp_path)
    result = dg.materialize([writes, reads], resources={"duckdb": work})
    assert result.success
    # The second step met the first step's attached database: one database instance for the run,
    # and the rows it logged were not checkpointed when the first step's connection closed.
    held, logged = result.output_for_node("reads")
    assert held and logged == result.output_for_node("writes") > 100_000
    # The run's end closed the database: the log is checkpointed into the file, and the file opens
    # again with other settings (DuckDB refuses that while the run's database is open).
    assert _wal(work) == 0
    with duckdb.connect(work.database, config={"threads": 1}) as conn:
        assert conn.execute("select count(*) from rows").fetchone()[0] == 100000
        assert "scratch" not in _attached(conn)


def test_a_step_that_logged_more_than_the_limit_is_checkpointed_as_it_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "STEP_CHECKPOINT_BYTES", 1000)
    result = dg.materialize([writes, reads], resources={"duckdb": _work(tmp_path)})
    assert result.success
    held, logged = result.output_for_node("reads")
    # Still the same database, its log checkpointed (a checkpointed log keeps its header only).
    assert held and logged < 1000 < result.output_for_node("writes")


def test_a_database_larger_than_the_memory_cap_is_closed_after_each_step(tmp_path):
    @dg.asset
    def grows(duckdb: WorkDatabase) -> None:
        with open_connection(duckdb) as conn:
            conn.execute("attach ':memory:' as scratch")
            conn.execute("create table main.big as select random() as r from range(2000000)")  # 16 MB, incompressible

    @dg.asset(deps=[grows])
    def after(duckdb: WorkDatabase) -> bool:
        with open_connection(duckdb) as conn:
            return "scratch" in _attached(conn)

    work = _work(tmp_path, memory_limit="8MB")
    result = dg.materialize([grows, after], resources={"duckdb": work})
    assert result.success
    assert Path(work.database).stat().st_size > 8 * 2**20
    assert result.output_for_node("after") is False  # a fresh database instance: the first was closed


def test_the_background_checkpoint_empties_the_log_while_the_run_goes_on(tmp_path):
    result = dg.materialize([writes, reads, checkpoints], resources={"duckdb": _work(tmp_path)})
    assert result.success
    assert result.output_for_node("checkpoints") < 1000


def test_outside_a_run_each_connection_opens_and_closes_the_database(tmp_path):
    work = _work(tmp_path)
    with open_connection(work) as conn:
        conn.execute("create table t as select range as n from range(100000)")
    assert _wal(work) == 0  # closed, so checkpointed
    with duckdb.connect(work.database, config={"threads": 1}) as conn:
        assert conn.execute("select count(*) from t").fetchone()[0] == 100000


def test_a_failed_step_still_closes_the_database(tmp_path):
    @dg.asset(deps=[writes])
    def fails(duckdb: WorkDatabase) -> None:
        with open_connection(duckdb) as conn:
            conn.execute("select * from no_such_table")

    work = _work(tmp_path)
    result = dg.materialize([writes, fails], resources={"duckdb": work}, raise_on_error=False)
    assert not result.success
    with duckdb.connect(work.database, config={"threads": 1}) as conn:
        assert conn.execute("select count(*) from rows").fetchone()[0] == 100000
        with pytest.raises(duckdb.CatalogException):
            conn.execute("select * from scratch.seen")
