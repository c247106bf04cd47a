"""One run at a time per database: the lock file, held by real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kam_pipeline.warehouse.runlock import RunLocked, lock_path_for, run_lock

# A process that takes the run lock of argv[1], says so on stdout, then holds it until killed.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from kam_pipeline.warehouse.runlock import run_lock
    with run_lock(sys.argv[1], 0):
        print("held", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holder(tmp_path: Path):
    db = tmp_path / "kam.duckdb"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield db, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def test_a_second_run_fails_at_once_with_one_line_naming_the_first(holder):
    db, proc = holder
    started = time.monotonic()
    with pytest.raises(RunLocked) as caught:
        with run_lock(db, 0):
            pass
    message = str(caught.value)
    assert time.monotonic() - started < 5
    assert "\n" not in message and f"pid {proc.pid}, started " in message and str(db) in message


def test_a_second_run_waits_the_bounded_time_saying_for_whom(holder):
    db, proc = holder
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(RunLocked, match=f"pid {proc.pid}.* after 2 s of waiting"):
        with run_lock(db, 2, said.append):
            pass
    assert 2 <= time.monotonic() - started < 10
    assert len(said) == 1 and f"pid {proc.pid}" in said[0] and "waiting up to 2 s" in said[0]


def test_a_waiting_run_starts_when_the_first_ends(holder):
    db, proc = holder
    killer = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(1.5); os.kill({proc.pid}, 15)"])
    with run_lock(db, 60):
        assert proc.poll() is not None  # we got the lock only once the holder had gone
        assert f'"pid": {os.getpid()},' in lock_path_for(db).with_name("kam.duckdb.lock.json").read_text()
    killer.wait(timeout=30)


def test_a_run_killed_with_sigkill_leaves_no_lock_that_blocks(holder):
    db, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    # The lock file and the holder's note are still there; the kernel freed the lock itself.
    assert lock_path_for(db).exists()
    with run_lock(db, 0):
        pass


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    db = tmp_path / "kam.duckdb"
    with run_lock(db, 0), run_lock(db, 0):
        pass
    # released after the outer exit: another process takes it at once
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from kam_pipeline.warehouse.runlock import run_lock\nwith run_lock({str(db)!r}, 0): pass",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
