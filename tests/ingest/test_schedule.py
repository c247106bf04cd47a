"""Sources loaded side by side (`schedule.by_references`): two at a time, each after what it references,
results in the contract's order, the same staged rows as one at a time, and errors raised whole."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from ingest_support import DEPENDENCY_ORDER, T1, count, row, write_reference_data, write_source
from kam_pipeline.ingest.contract import SOURCES
from kam_pipeline.ingest.load import ensure_source, ingest_source
from kam_pipeline.ingest.schedule import by_references, workers_for


def test_two_independent_sources_run_at_the_same_time(tmp_path):
    conn = duckdb.connect(str(tmp_path / "kam.duckdb"))
    # Both jobs wait at the barrier for the other: run one at a time, the first would time out.
    barrier = threading.Barrier(2, timeout=10)
    threads = {}

    def job(cursor, source):
        threads[source] = threading.get_ident()
        barrier.wait()
        return cursor.execute("select ?", [source]).fetchone()[0]

    assert list(by_references(conn, ["managers", "market"], job, workers=2)) == [
        ("managers", "managers"),
        ("market", "market"),
    ]
    assert threads["managers"] != threads["market"]


def test_a_source_starts_after_the_sources_it_references(tmp_path):
    conn = duckdb.connect(str(tmp_path / "kam.duckdb"))
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def job(cursor, source):
        with lock:
            events.append(("start", source))
        time.sleep(0.05 if source != "managers" else 0.2)  # the slow one is what the others wait for
        with lock:
            events.append(("end", source))
        return source

    sources = list(DEPENDENCY_ORDER)
    # Listed in reverse: every source comes before those it references, the results still after them.
    results = [s for s, _ in by_references(conn, sources[::-1], job, workers=2)]
    position = {event: i for i, event in enumerate(events)}
    for source in sources:
        for ref, _ in SOURCES[source].references.values():
            assert position[("end", ref)] < position[("start", source)], (ref, source)
            assert results.index(ref) < results.index(source)
    assert sorted(results) == sorted(sources)
    # Two ran at once at some point (managers and market reference nothing).
    running, most = 0, 0
    for kind, _ in events:
        running += 1 if kind == "start" else -1
        most = max(most, running)
    assert most == 2


def test_an_error_is_raised_after_the_running_jobs_end_and_nothing_else_starts(tmp_path):
    conn = duckdb.connect(str(tmp_path / "kam.duckdb"))
    started, ended = [], []
    market_started = threading.Event()

    def job(cursor, source):
        started.append(source)
        if source == "market":
            market_started.set()
        if source == "managers":
            # Fails once market runs beside it: failing at once, market (queued behind it in the
            # pool) may not have started yet, and then never would.
            assert market_started.wait(10)
            raise RuntimeError("managers.csv: broken")
        time.sleep(0.3)
        ended.append(source)
        return source

    yielded = []
    with pytest.raises(RuntimeError, match="managers.csv: broken"):
        for source, _ in by_references(conn, ["managers", "market", "accounts", "orders"], job, workers=2):
            yielded.append(source)
    # market ran beside managers and ended; accounts and orders need managers, so never started.
    assert started == ["managers", "market"] or started == ["market", "managers"]
    assert ended == ["market"]
    assert yielded == []


def test_sources_start_while_the_consumer_is_busy_with_a_result(tmp_path):
    conn = duckdb.connect(str(tmp_path / "kam.duckdb"))
    started: dict[str, float] = {}

    def job(cursor, source):
        started[source] = time.monotonic()
        return source

    jobs = by_references(conn, ["managers", "accounts", "orders"], job, workers=2)
    assert next(jobs) == ("managers", "managers")
    time.sleep(0.5)  # the step checks managers' staged rows meanwhile
    resumed = time.monotonic()
    assert list(jobs) == [("accounts", "accounts"), ("orders", "orders")]
    assert started["accounts"] < resumed and started["orders"] < resumed


def test_workers_follow_duckdbs_threads(tmp_path):
    conn = duckdb.connect(str(tmp_path / "kam.duckdb"))
    conn.execute("set threads = 1")
    assert workers_for(conn) == 1
    conn.execute("set threads = 2")
    assert workers_for(conn) == 2


def _load_all(path, data_dir, workers):
    conn = duckdb.connect(str(path))
    for source in DEPENDENCY_ORDER:
        ensure_source(conn, source)
    jobs = by_references(conn, list(DEPENDENCY_ORDER), lambda cur, s: ingest_source(cur, data_dir, s, now=T1), workers)
    return conn, dict(jobs)


def _rows(conn, query):
    return conn.execute(query).fetchall()


def test_side_by_side_stages_what_one_at_a_time_stages(tmp_path, data_dir):
    write_reference_data(data_dir)
    rows = [row("orders", order_id=f"O{i}", account_id="A1" if i % 3 else "A404") for i in range(1, 40)]
    rows.append(row("orders", order_id="O1", quantity="3"))  # the key of O1 again, other content
    write_source(data_dir, "orders", rows)
    write_source(data_dir, "orders", [row("orders", order_id="X1", quantity="many")], name="orders_2026-01-02.csv")
    serial, one = _load_all(tmp_path / "serial.duckdb", data_dir, workers=1)
    parallel, two = _load_all(tmp_path / "parallel.duckdb", data_dir, workers=2)
    assert list(one) == list(two) == list(DEPENDENCY_ORDER)
    for source in DEPENDENCY_ORDER:
        counts = [
            (r[source].staged_rows, r[source].quarantined_rows, r[source].duplicates_collapsed) for r in (one, two)
        ]
        assert counts[0] == counts[1], source
        for query in (
            f"select * from staging.{source} order by all",
            f"select * from quarantine.{source} order by all",
        ):
            assert _rows(serial, query) == _rows(parallel, query), query
    assert count(parallel, "quarantine.orders") == 13 + 2 + 1  # 13 unknown accounts, O1 twice, "many"
    # Each typed insert turns the database's insertion order off for its time: it is on again after.
    assert _rows(parallel, "select current_setting('preserve_insertion_order')") == [(True,)]
    for query in (
        "select * exclude (ingested_at) from raw.ingest_log order by all",
        "select * from quarantine.rule_violations order by all",
    ):
        assert _rows(serial, query) == _rows(parallel, query), query
