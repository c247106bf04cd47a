"""A read-only connection to the published file (the report, the Parquet export, the run's summary) has the run's
memory settings, also while the process holds the file open with settings of its own (DuckDB refuses a second
connection to it with other settings)."""

from __future__ import annotations

import duckdb
import pytest

from kam_pipeline.warehouse.database import memory_limit_gib, read_only


def _published(tmp_path):
    # A catalog of views, as the published file is: the view is read through the attached file.
    path = tmp_path / "kam.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema marts; create table marts.t as select 7 as a; create view marts.v as from marts.t")
    return path


def _read(conn):
    return conn.execute("select a from marts.v").fetchall()


def test_the_report_reads_under_the_runs_memory_cap(tmp_path, monkeypatch):
    path = _published(tmp_path)
    monkeypatch.setenv("KAM_DUCKDB_MEMORY", "300MB")
    with read_only(path) as conn:
        # 300 MB as DuckDB shows it (286.1 MiB): far below its default of 80 % of the machine's memory.
        assert 0.27 < memory_limit_gib(conn) < 0.28
        assert conn.execute("select current_setting('allocator_background_threads')").fetchone() == (True,)
        assert _read(conn) == [(7,)]
        # Read-only, as BI's readers: the report cannot change the published file.
        with pytest.raises(duckdb.Error, match="read-only"):
            conn.execute("create table marts.x as select 1")


def test_a_file_the_process_holds_open_with_other_settings_is_read_under_the_runs_cap(tmp_path, monkeypatch):
    path = _published(tmp_path)
    monkeypatch.setenv("KAM_DUCKDB_MEMORY", "300MB")
    with duckdb.connect(str(path), read_only=True, config={"memory_limit": "700MB"}) as held:
        with read_only(path) as conn:
            assert _read(conn) == [(7,)]
            assert 0.27 < memory_limit_gib(conn) < 0.28
        # The holder's connection and settings are untouched.
        assert 0.65 < memory_limit_gib(held) < 0.66
        assert _read(held) == [(7,)]
