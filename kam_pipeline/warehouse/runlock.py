"""One run at a time per database: a lock file next to the `--db` file, held for the whole run.

`kam run` and every Dagster run (through KamResource) take `<db>.lock` before touching the
working database. A second run waits for the first, saying which run it waits for (pid, start
time), up to a bounded time, then fails with one line. The lock is an operating-system file
lock (filelock: flock on Unix), so a run killed with kill -9 releases it with its process: a
stale lock cannot block the next run. Who holds it is written to `<db>.lock.json` (a stale one
is simply overwritten by the next holder).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from kam_pipeline.settings import env

# Seconds a second run waits for the first by default (KAM_RUN_WAIT overrides; 0 = fail at once).
DEFAULT_WAIT_SECONDS = 600.0  # also the default of KAM_RUN_WAIT in kam_pipeline/settings.py
WAIT_ENV = "KAM_RUN_WAIT"
# How often the waiting run looks again.
POLL_SECONDS = 0.2

# The locks this process holds, by lock file: `kam run` takes it, then the Dagster run it starts
# takes it again through KamResource; the second take must not wait for the first.
_HELD: dict[str, tuple[filelock.BaseFileLock, int]] = {}
_GUARD = threading.Lock()


class RunLocked(Exception):
    """Another run holds the database; the message is one line naming it."""


def lock_path_for(db_path: str | Path) -> Path:
    """`kam.duckdb` -> `kam.duckdb.lock`."""
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.name}.lock")


def wait_seconds_from_env() -> float:
    """KAM_RUN_WAIT as seconds (default DEFAULT_WAIT_SECONDS); a value that is no number fails with its name."""
    text = env(WAIT_ENV)
    try:
        value = float(text)
    except ValueError:
        raise RunLocked(f"{WAIT_ENV}={text!r} is not a number of seconds") from None
    return max(0.0, value)


def holder(db_path: str | Path) -> str:
    """Who holds the lock, as 'pid N, started YYYY-MM-DD HH:MM:SS' (or 'an unknown run')."""
    try:
        info = json.loads(_info_path(db_path).read_text(encoding="utf-8"))
        return f"pid {info['pid']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown run"


@contextmanager
def run_lock(
    db_path: str | Path, wait_seconds: float | None = None, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the run lock of `db_path` for the body; wait up to `wait_seconds` (default: KAM_RUN_WAIT)
    for another run, calling `on_wait` once with a line naming it; raise RunLocked when it is not freed.

    Reentrant within a process (a Dagster run started by `kam run` takes it again).
    """
    path = lock_path_for(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    with _GUARD:
        if key in _HELD:
            lock, count = _HELD[key]
            _HELD[key] = (lock, count + 1)
            acquired = True
        else:
            acquired = False
    if not acquired:
        _acquire(path, key, db_path, wait_seconds_from_env() if wait_seconds is None else wait_seconds, on_wait)
    try:
        yield
    finally:
        _release(key, db_path)


def _acquire(path: Path, key: str, db_path: str | Path, wait: float, on_wait: Callable[[str], None] | None) -> None:
    lock = filelock.FileLock(str(path), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        who = holder(db_path)
        if wait <= 0:
            raise RunLocked(f"another run is using {db_path} ({who}); try again when it has finished") from None
        if on_wait is not None:
            on_wait(f"waiting up to {wait:.0f} s for the run using {db_path} ({who})")
        deadline = time.monotonic() + wait
        while True:
            try:
                lock.acquire(timeout=min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
                break
            except filelock.Timeout:
                if time.monotonic() >= deadline:
                    raise RunLocked(
                        f"another run is still using {db_path} ({holder(db_path)}) after {wait:.0f} s of waiting"
                    ) from None
    started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    _info_path(db_path).write_text(json.dumps({"pid": os.getpid(), "started": started}), encoding="utf-8")
    with _GUARD:
        _HELD[key] = (lock, 1)


def _release(key: str, db_path: str | Path) -> None:
    with _GUARD:
        lock, count = _HELD[key]
        if count > 1:
            _HELD[key] = (lock, count - 1)
            return
        del _HELD[key]
    _info_path(db_path).unlink(missing_ok=True)
    lock.release()


def _info_path(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.name}.lock.json")
