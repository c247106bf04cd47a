"""Publishing a working database as a catalog of views over immutable Parquet files, on hand-made
working databases (real DuckDB files, no pipeline run)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import duckdb
import pytest

from kam_pipeline.warehouse.publish import parquet_dir_for, publish

D1, D2, D3 = dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)


@pytest.fixture
def work(tmp_path: Path):
    """A working database shaped like the pipeline's: two snapshot tables, a staging view over its
    typed and excluded rows, quarantine, the ingest log and a raw table BI does not get."""
    with duckdb.connect(str(tmp_path / "kam.work.duckdb")) as conn:
        conn.execute(
            """
            create schema marts; create schema staging; create schema quarantine; create schema raw;
            create table marts.scores as
                select d::date as as_of_date, 'A' || i as account_id, (i * 10 + day(d))::double as score
                from range(3) t(i), (values (date '2026-06-01'), (date '2026-06-02')) v(d);
            create table marts.kpis as
                select d::date as as_of_date, 'all' as segment, 1.5 as nrr
                from (values (date '2026-06-01'), (date '2026-06-02')) v(d);
            comment on table marts.scores is 'Account scores';
            comment on column marts.scores.score is 'Weighted score 0-100';
            create table staging.orders_typed as select 'f.csv' as _source_file, range as _row_number, range * 2 as qty
                from range(5);
            create table staging.orders_excluded as select 'f.csv' as _source_file, 3::bigint as _row_number;
            create view staging.orders as select * from staging.orders_typed
                anti join staging.orders_excluded using (_source_file, _row_number);
            create table quarantine.orders as select 'f.csv' as _source_file, 3 as _row_number, 'qty' as reason;
            create table quarantine.rule_violations as select 'orders' as source, 3 as _row_number;
            create table raw.ingest_log as select 'orders' as source, 'f.csv' as file_name, 'loaded' as status,
                'abc' as sha256, timestamp '2026-06-01 08:00' as ingested_at;
            create table raw.file_mapping (source varchar, file_name varchar, mapping varchar);
            create table raw.orders as select 'x' as text_row;
            """
        )
        yield conn


def _catalog(db: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as cat:
        return cat.execute(sql, params).fetchall()


def _files(db: Path) -> dict[tuple[str, dt.date | None], str]:
    return {(r, d): p for r, d, p in _catalog(db, "select relation, as_of_date, path from publish.files")}


def test_the_catalog_exposes_every_published_relation_with_its_rows_and_comments(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    result = publish(work, db, [D2])
    views = _catalog(db, "select schema_name, view_name from duckdb_views() where not internal order by 1, 2")
    assert views == [
        ("marts", "kpis"),
        ("marts", "scores"),
        ("quarantine", "orders"),
        ("quarantine", "rule_violations"),
        ("raw", "ingest_log"),
        ("staging", "orders"),
    ]
    # The first publish writes every snapshot (no catalog before), the others one file each.
    assert result.files_written == 2 + 2 + 4 and result.relations == 6
    assert (
        _catalog(db, "select as_of_date, account_id, score from marts.scores order by all")
        == work.execute("select as_of_date, account_id, score from marts.scores order by all").fetchall()
    )
    # Staging is the view's rows: row 3 is excluded.
    assert _catalog(db, "select _row_number from staging.orders order by 1") == [(0,), (1,), (2,), (4,)]
    assert _catalog(db, "select comment from duckdb_views() where view_name = 'scores'") == [("Account scores",)]
    assert _catalog(
        db, "select column_name, data_type, comment from duckdb_columns() where table_name = 'scores' order by 1"
    ) == [("account_id", "VARCHAR", None), ("as_of_date", "DATE", None), ("score", "DOUBLE", "Weighted score 0-100")]
    assert all(Path(p).is_relative_to(parquet_dir_for(db)) for p in _files(db).values())


def test_a_daily_publish_writes_only_the_new_snapshot_and_keeps_the_other_files(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    before = _files(db)
    work.execute("insert into marts.scores select date '2026-06-03', 'A0', 99.0")
    work.execute("insert into marts.kpis select date '2026-06-03', 'all', 2.0")
    result = publish(work, db, [D3])
    after = _files(db)
    # One file per snapshot table; staging, quarantine and the log did not change, so not rewritten.
    assert result.files_written == 2
    assert {k: v for k, v in after.items() if k[1] != D3} == before
    assert {k for k in after if k[1] == D3} == {("marts.scores", D3), ("marts.kpis", D3)}
    assert _catalog(db, "select count(*) from marts.scores where as_of_date = ?", [D3]) == [(1,)]


def test_re_running_a_date_replaces_that_date_and_nothing_else(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    before = _files(db)
    work.execute("update marts.scores set score = score + 1000 where as_of_date = ?", [D2])
    publish(work, db, [D2])
    after = _files(db)
    assert after[("marts.scores", D1)] == before[("marts.scores", D1)]
    assert after[("marts.scores", D2)] != before[("marts.scores", D2)]
    rows = dict(_catalog(db, "select as_of_date, min(score) from marts.scores group by 1"))
    assert rows == {D1: 1.0, D2: 1002.0}
    # The replaced file stays until it has been out of the catalog for the keep time ...
    assert Path(before[("marts.scores", D2)]).exists()
    # (every table's D2 snapshot was published again, so both old D2 files are retired)
    retired = {p for (p,) in _catalog(db, "select path from publish.retired")}
    assert retired == {before[("marts.scores", D2)], before[("marts.kpis", D2)]}
    # ... and goes at the first publish after it.
    publish(work, db, [D2], keep=dt.timedelta(0))
    assert not Path(before[("marts.scores", D2)]).exists()
    assert Path(after[("marts.scores", D1)]).exists()


def test_every_file_is_immutable_and_the_folder_holds_only_what_a_catalog_names(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    folder = parquet_dir_for(db)
    # What a publish killed half-way leaves: a Parquet file no catalog names, a half-written catalog.
    orphan = folder / "marts" / "scores" / "as_of_date=2026-06-02" / "killed.parquet"
    orphan.write_bytes(b"PAR1 half")
    (tmp_path / ".kam.duckdb.4242.tmp").write_bytes(b"half a catalog")
    publish(work, db, [D2], keep=dt.timedelta(0))
    named = {p for (p,) in _catalog(db, "select path from publish.files union select path from publish.retired")}
    on_disk = {str(p) for p in folder.rglob("*.parquet")}
    assert on_disk == named
    assert not orphan.exists() and not list(tmp_path.glob(".kam.duckdb.*.tmp"))
    assert all(Path(p).stat().st_mode & 0o222 == 0 for p in on_disk)


def test_a_new_marts_table_and_a_new_column_are_published_without_code(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    work.execute("create table marts.brand_new as select date '2026-06-01' as as_of_date, 7 as n")
    work.execute("alter table marts.scores add column grade varchar")
    work.execute("update marts.scores set grade = 'A' where as_of_date = ?", [D2])
    publish(work, db, [D2])
    # The new table comes with every snapshot it has; the new column reads null in older files.
    assert _catalog(db, "select as_of_date, n from marts.brand_new") == [(D1, 7)]
    assert dict(_catalog(db, "select as_of_date, count(grade) from marts.scores group by 1")) == {D1: 0, D2: 3}


def test_a_snapshot_gone_from_the_working_database_is_dropped_when_its_date_is_published(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    work.execute("delete from marts.kpis where as_of_date = ?", [D2])
    publish(work, db, [D2])
    assert _catalog(db, "select as_of_date from marts.kpis") == [(D1,)]
    assert ("marts.kpis", D2) not in _files(db)


def test_a_file_published_by_the_old_whole_copy_gets_every_snapshot(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    # What the previous version published: a copy of the working database, no publish.files.
    work.execute("checkpoint")
    (tmp_path / "kam.duckdb").write_bytes((tmp_path / "kam.work.duckdb").read_bytes())
    publish(work, db, [D2])
    assert dict(_catalog(db, "select as_of_date, count(*) from marts.scores group by 1")) == {D1: 3, D2: 3}


def test_a_locked_down_reader_reads_every_view_once_the_folder_is_admitted(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    beside = tmp_path / "delivered.csv"
    beside.write_text("a\n1\n", encoding="utf-8")
    with duckdb.connect(str(db), read_only=True) as reader:
        reader.execute(f"set allowed_directories = ['{parquet_dir_for(db).as_posix()}/']")
        reader.execute("set enable_external_access = false")
        reader.execute("set lock_configuration = true")
        assert reader.execute("select count(*) from marts.scores").fetchone() == (6,)
        assert reader.execute("select count(*) from staging.orders").fetchone() == (4,)
        with pytest.raises(duckdb.PermissionException):
            reader.execute(f"select * from read_csv('{beside.as_posix()}')")
    # Without admitting the folder, DuckDB refuses the files (and says so), so the docs tell how.
    with duckdb.connect(str(db), read_only=True, config={"enable_external_access": False}) as reader:
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            reader.execute("select count(*) from marts.scores").fetchone()


def _bytes_written_by_this_process() -> int:
    """Bytes this process has caused to be written (the kernel's write_bytes: page cache and disk)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise AssertionError("no write_bytes in /proc/self/io")


def _publish_next_date_after(tmp_path: Path, stored: int) -> int:
    """Publish `stored` snapshots of two marts tables, then one more date; return the bytes the last
    publish wrote."""
    with duckdb.connect(str(tmp_path / "kam.work.duckdb")) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.scores as select date '2025-01-01' + d::int as as_of_date, 'A' || i as account_id, "
            "(i + d)::double as score from range(?) t(d), range(3) s(i)",
            [stored],
        )
        conn.execute(
            "create table marts.kpis as select date '2025-01-01' + d::int as as_of_date, 1.5 as nrr from range(?) t(d)",
            [stored],
        )
        publish(conn, tmp_path / "kam.duckdb", [])
        new = dt.date(2025, 1, 1) + dt.timedelta(days=stored)
        conn.execute("insert into marts.scores select ?, 'A' || i, i::double from range(3) s(i)", [new])
        conn.execute("insert into marts.kpis select ?, 2.0", [new])
        before = _bytes_written_by_this_process()
        publish(conn, tmp_path / "kam.duckdb", [new])
        written = _bytes_written_by_this_process() - before
    assert _catalog(tmp_path / "kam.duckdb", "select count(*) from marts.kpis") == [(stored + 1,)]
    return written


def test_the_bytes_a_publish_writes_hardly_grow_with_the_stored_history(tmp_path):
    # The manifest of 300 snapshots (600 rows) once went in one logged insert per row: 2.6 MiB more
    # than after 2 snapshots for the same two new files. Now the catalog's growth is its file list.
    (tmp_path / "short").mkdir()
    (tmp_path / "long").mkdir()
    short = _publish_next_date_after(tmp_path / "short", 2)
    long = _publish_next_date_after(tmp_path / "long", 300)
    assert long - short < 0.5 * 2**20, (short, long)


def test_the_catalog_is_written_once_not_logged_first(tmp_path):
    db = tmp_path / "kam.duckdb"
    # 8 tables x 250 snapshots: a catalog of some MiB (views over 2,000 paths, their manifest).
    with duckdb.connect(str(tmp_path / "kam.work.duckdb")) as work:
        work.execute("create schema marts")
        for t in range(8):
            work.execute(
                f"create table marts.t{t} as select date '2025-01-01' + d::int as as_of_date, 'A' || i as account_id, "
                "(i + d)::double as score from range(250) t(d), range(3) s(i)"
            )
        publish(work, db, [])
        before = _bytes_written_by_this_process()
        result = publish(work, db, [dt.date(2025, 1, 1)])
        written = _bytes_written_by_this_process() - before
    parquet = result.bytes_written - result.catalog_bytes
    # Logged first and copied in at the checkpoint, the catalog was written about three times over.
    assert written - parquet < 1.5 * result.catalog_bytes, (written, parquet, result.catalog_bytes)
    assert _catalog(db, "select count(*) from marts.t7") == [(750,)]


def _reads_by_name(db: Path, view: str) -> bool:
    (sql,) = _catalog(db, "select sql from duckdb_views() where view_name = ?", [view])[0]
    assert "union_by_name = " in sql.lower()
    return "union_by_name = true" in sql.lower()


def test_files_of_one_layout_are_read_by_position_and_mixed_layouts_by_name(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    assert not _reads_by_name(db, "scores") and not _reads_by_name(db, "orders")
    work.execute("alter table marts.scores add column grade varchar")
    work.execute("update marts.scores set grade = 'A' where as_of_date = ?", [D2])
    publish(work, db, [D2])
    # D1's file lacks the new column: that view matches columns by name, the others still by position.
    assert _reads_by_name(db, "scores") and not _reads_by_name(db, "kpis")
    assert _catalog(db, "select as_of_date, grade, count(*) from marts.scores group by all order by 1") == [
        (D1, None, 3),
        (D2, "A", 3),
    ]
    # Once D1 is published again from the working database, every file has the new layout.
    publish(work, db, [D1])
    assert not _reads_by_name(db, "scores")
    assert _catalog(db, "select count(*) from marts.scores where grade is null") == [(3,)]


def test_a_catalog_without_file_layouts_is_read_by_name_until_its_files_are_rewritten(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    # An earlier version's manifest: no layout column.
    with duckdb.connect(str(db)) as cat:
        cat.execute("alter table publish.files drop column layout")
    publish(work, db, [D2])
    assert _reads_by_name(db, "scores")
    assert _catalog(db, "select count(*) from marts.scores") == [(6,)]
    publish(work, db, [D1])
    assert not _reads_by_name(db, "scores")


def _staging_files(db: Path) -> dict[str, str]:
    return dict(
        _catalog(db, "select source_file, path from publish.files where relation = 'staging.orders' order by 1")
    )


def test_staged_rows_are_published_one_file_per_delivered_file(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    first = _staging_files(db)
    assert list(first) == ["f.csv"]
    # A daily file arrives: one new Parquet file for it; f.csv's file is kept as it was.
    work.execute("insert into staging.orders_typed select 'g.csv', range, range * 3 from range(4)")
    result = publish(work, db, [D2])
    second = _staging_files(db)
    assert list(second) == ["f.csv", "g.csv"] and second["f.csv"] == first["f.csv"]
    assert (
        _catalog(db, "select _source_file, _row_number, qty from staging.orders order by all")
        == work.execute("select _source_file, _row_number, qty from staging.orders order by all").fetchall()
    )
    # Snapshot D2 of both marts tables and g.csv's rows: nothing else (quarantine did not change).
    assert result.files_written == 3
    # A cross-row rule excludes a row of f.csv later: only f.csv's file is written again.
    work.execute("insert into staging.orders_excluded values ('f.csv', 1)")
    publish(work, db, [D2])
    third = _staging_files(db)
    assert third["g.csv"] == second["g.csv"] and third["f.csv"] != second["f.csv"]
    assert _catalog(db, "select _row_number from staging.orders where _source_file = 'f.csv' order by 1") == [
        (0,),
        (2,),
        (4,),
    ]
    # A file's staged rows are known by its load (raw.ingest_log) and its excluded rows, not read
    # again: rows changed behind the log's back are not seen, a new load of the file is.
    work.execute("update staging.orders_typed set qty = qty + 1 where _source_file = 'f.csv'")
    publish(work, db, [D2])
    assert _staging_files(db)["f.csv"] == third["f.csv"]
    work.execute("update raw.ingest_log set ingested_at = timestamp '2026-06-02 08:00' where file_name = 'f.csv'")
    publish(work, db, [D2])
    assert _staging_files(db)["f.csv"] != third["f.csv"]
    assert _catalog(db, "select qty from staging.orders where _source_file = 'f.csv' order by 1") == [(1,), (5,), (9,)]
    # A file whose rows are all gone leaves the catalog.
    work.execute("delete from staging.orders_typed where _source_file = 'g.csv'")
    publish(work, db, [D2])
    assert list(_staging_files(db)) == ["f.csv"]
    assert _catalog(db, "select count(*) from staging.orders") == [(3,)]


def test_a_query_of_one_date_opens_only_that_dates_files(work, tmp_path):
    db = tmp_path / "kam.duckdb"
    publish(work, db, [D1, D2])
    # D2's file made unreadable (the view takes its columns from the first file, D1's): a view
    # that opened every file to read its statistics would fail on a query of D1.
    d2 = Path(_files(db)[("marts.scores", D2)])
    kept = d2.read_bytes()
    d2.chmod(0o644)
    d2.write_bytes(b"not a parquet file")
    assert _catalog(db, "select account_id, score from marts.scores where as_of_date = ? order by 1", [D1]) == (
        work.execute("select account_id, score from marts.scores where as_of_date = ? order by 1", [D1]).fetchall()
    )
    assert _catalog(
        db, "select max(score) from marts.scores where as_of_date between ? and ?", [D1 - dt.timedelta(3), D1]
    ) == [(21.0,)]
    with pytest.raises(duckdb.Error):
        _catalog(db, "select count(*) from marts.scores where as_of_date = ?", [D2])
    # The date the view reports is the snapshot's, typed as in the working database.
    d2.write_bytes(kept)
    assert _catalog(
        db, "select as_of_date, typeof(as_of_date), count(*) from marts.scores group by all order by 1"
    ) == [
        (D1, "DATE", 3),
        (D2, "DATE", 3),
    ]


def _published(db: Path) -> dict:
    """Every view's rows, and what publish.files says of each file but its path (names differ by run)."""
    views = _catalog(db, "select schema_name, view_name from duckdb_views() where not internal order by 1, 2")
    rows = {f"{s}.{v}": _catalog(db, f'select * from "{s}"."{v}" order by all') for s, v in views}
    files = _catalog(db, "select * exclude (path) from publish.files order by all")
    return {"rows": rows, "files": files}


def test_files_written_two_at_a_time_are_those_written_one_at_a_time(work, tmp_path, monkeypatch):
    work.execute("set threads = 1")
    serial = tmp_path / "serial" / "kam.duckdb"
    serial.parent.mkdir()
    publish(work, serial, [D2])
    work.execute("set threads = 2")
    # Two writes at once: each waits at the barrier for another write, which one at a time never comes.
    from kam_pipeline.warehouse import publish as module

    barrier = threading.Barrier(2, timeout=30)
    writing = module._write_part

    def write_part(*args, **kwargs):
        barrier.wait()
        return writing(*args, **kwargs)

    monkeypatch.setattr(module, "_write_part", write_part)
    parallel = tmp_path / "parallel" / "kam.duckdb"
    parallel.parent.mkdir()
    result = publish(work, parallel, [D2])
    assert result.files_written == 8  # an even count: every write found its partner at the barrier
    assert _published(parallel) == _published(serial)
    assert len(_published(serial)["rows"]) == 6 and _published(serial)["rows"]["marts.scores"]
