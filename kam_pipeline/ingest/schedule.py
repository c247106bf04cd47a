"""Run one job per source, two at a time where the machine has the cores, each after the sources it references.

A source's files are each read by one DuckDB pipeline (its rows are numbered in file order as they
stream by, see `archive.delivered_rows`), so the load of one large file keeps one core busy: the
other sources load on the second core meanwhile. Each job gets its own cursor (DuckDB connection)
on the same database, so each file's load stays its own transaction; the jobs write different
tables, and the rows they add to the shared bookkeeping tables (raw.ingest_log,
quarantine.rule_violations) are their own source's. A job starts once every source it
references (`Source.references`) has finished, as the cross-row rules read their staged rows.
"""

from __future__ import annotations

import graphlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import duckdb

from kam_pipeline.ingest.contract import SOURCES

T = TypeVar("T")


def workers_for(conn: duckdb.DuckDBPyConnection) -> int:
    """Two jobs at once when DuckDB may use two threads or more, else one."""
    threads = conn.execute("select current_setting('threads')").fetchone()[0]
    return 2 if int(threads) >= 2 else 1


def by_references(
    conn: duckdb.DuckDBPyConnection,
    sources: list[str],
    job: Callable[[duckdb.DuckDBPyConnection, str], T],
    workers: int = 2,
) -> Iterator[tuple[str, T]]:
    """Run job(cursor, source) for every source of `sources`, at most `workers` at once, each after the
    sources of `sources` it references; yield (source, result) in the order of `sources`, each source
    moved after those it references (the contract's order is already such an order).

    A source starts as soon as what it needs is done, also while the consumer is busy with a result.
    When a job raises, no other job starts, the running ones finish, and the first error is raised.
    """
    chosen = set(sources)
    needs = {s: {ref for ref, _ in SOURCES[s].references.values() if ref in chosen and ref != s} for s in sources}
    order = _in_dependency_order(sources, needs)
    if workers <= 1:
        for source in order:
            yield source, job(conn, source)
        return

    # A source is handed to the pool once the sources it needs are done (the pool runs `workers` at a
    # time, the others wait in its queue), from the thread whose job completed it: the consumer of
    # the results may be busy meanwhile (the step checks each source as it comes).
    changed = threading.Condition()
    results: dict[str, T] = {}  # of the sources done whose result the consumer has not taken yet
    done: set[str] = set()
    failures: list[BaseException] = []
    submitted: set[str] = set()
    cursors: dict[str, duckdb.DuckDBPyConnection] = {}

    def run(source: str) -> T:
        with changed:
            if failures:  # queued before a job failed: nothing more starts
                raise _NotStarted
            cursor = cursors[source] = conn.cursor()
        try:
            return job(cursor, source)
        finally:
            with changed:
                cursors.pop(source, None)
            cursor.close()

    def finished(source: str, future: Future) -> None:
        with changed:
            error = None if future.cancelled() else future.exception()
            if future.cancelled() or isinstance(error, _NotStarted):
                pass
            elif error is not None:
                failures.append(error)
            else:
                results[source] = future.result()
                done.add(source)
                submit_ready()
            changed.notify_all()

    def submit_ready() -> None:  # under `changed`
        for source in order:
            if source not in submitted and needs[source] <= done and not failures:
                submitted.add(source)
                future = pool.submit(run, source)
                future.add_done_callback(lambda f, s=source: finished(s, f))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kam-ingest")
    try:
        with changed:
            submit_ready()
        for source in order:
            with changed:
                changed.wait_for(lambda s=source: s in done or bool(failures))
                if source not in done:
                    break
                result = results.pop(source)
            yield source, result
    except BaseException:
        # Stopped (Ctrl-C, a run terminated from the UI, a consumer that stops early): the running
        # loads are interrupted and roll back, as the serial load's transaction does.
        with changed:
            failures.append(_NotStarted())
            for cursor in cursors.values():
                cursor.interrupt()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    errors = [f for f in failures if not isinstance(f, _NotStarted)]
    if errors:
        raise errors[0]


class _NotStarted(Exception):
    """A job the pool started after another job failed (or the consumer stopped): it did not run."""


def _in_dependency_order(sources: list[str], needs: dict[str, set[str]]) -> list[str]:
    """`sources` in their order, each moved after the sources it needs."""
    sorter = graphlib.TopologicalSorter({s: needs[s] for s in sources})
    sorter.prepare()  # raises graphlib.CycleError naming the cycle
    ordered: list[str] = []
    ready: set[str] = set()
    while sorter.is_active():
        ready.update(sorter.get_ready())
        source = next(s for s in sources if s in ready)  # the first ready in the order given
        ready.remove(source)
        ordered.append(source)
        sorter.done(source)
    return ordered
