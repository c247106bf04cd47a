"""Bytes written and CPU seconds of each step of one `kam run`, measured inside its process.

    .venv/bin/python benchmarks/steps.py run --data D --db F --as-of YYYY-MM-DD [--quiet ...]

Runs the `kam` command line in this process with a sampler thread beside it: every 10 ms it reads
the bytes the process has written so far (`write_bytes` of /proc/self/io: everything sent to the
page cache or the disk, temporary spill files included) and the process's CPU time, and charges
the increase to the step the main thread is executing — the innermost function of the pipeline's
asset, check or publish code on its stack (`defs/assets/*`, `defs/checks.py`), else "start-up and
Dagster", and records the process's largest resident set size so far (VmHWM of /proc/self/status)
seen while each step runs, and the largest resident set size sampled while it runs (VmRSS): the
first names the steps that raise the run's peak, the second what each step holds even when an
earlier one held more. Prints one JSON object {step: {"written_mib", "cpu_s", "wall_s",
"peak_rss_mib", "max_rss_mib"}} on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

STEP_FILES = ("kam_pipeline/defs/assets/", "kam_pipeline/defs/checks.py")
OUTSIDE = "start-up and Dagster"


def _write_bytes() -> int:
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def _rss_mib() -> tuple[float, float]:
    """The process's peak resident set size so far (VmHWM) and its resident set size now (VmRSS), in MiB."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmHWM:", "VmRSS:")):
                found[line[:5]] = int(line.split()[1]) / 1024
    return found.get("VmHWM", 0.0), found.get("VmRSS", 0.0)


def _step(frame) -> str:
    """The outermost pipeline asset function on the stack (its name, and the mart of a SQL asset)."""
    found = OUTSIDE
    while frame is not None:
        code = frame.f_code
        if any(part in code.co_filename for part in STEP_FILES) and code.co_name not in ("<module>", "<lambda>"):
            name = code.co_name
            table = frame.f_locals.get("table") if name == "_asset" else None
            found = f"marts.{table}" if isinstance(table, str) else name
        frame = frame.f_back
    return found


def main() -> None:
    main_thread = threading.main_thread()
    totals: dict[str, dict[str, float]] = {}
    done = threading.Event()

    def sample() -> None:
        last_bytes, last_cpu, last_wall = _write_bytes(), time.process_time(), time.perf_counter()
        while not done.wait(0.01):
            frame = sys._current_frames().get(main_thread.ident)
            step = _step(frame) if frame is not None else OUTSIDE
            now_bytes, now_cpu, now_wall = _write_bytes(), time.process_time(), time.perf_counter()
            row = totals.setdefault(
                step, {"written_mib": 0.0, "cpu_s": 0.0, "wall_s": 0.0, "peak_rss_mib": 0.0, "max_rss_mib": 0.0}
            )
            # The high-water mark only rises: the step running when it rises is the one that raised it.
            peak, now = _rss_mib()
            row["peak_rss_mib"] = max(row["peak_rss_mib"], peak)
            row["max_rss_mib"] = max(row["max_rss_mib"], now)
            row["written_mib"] += (now_bytes - last_bytes) / 2**20
            row["cpu_s"] += now_cpu - last_cpu
            row["wall_s"] += now_wall - last_wall
            last_bytes, last_cpu, last_wall = now_bytes, now_cpu, now_wall

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    from kam_pipeline.cli import console as kam_main  # as the `kam` command runs

    try:
        code = kam_main(sys.argv[1:]) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    done.set()
    thread.join()
    rounded = {k: {m: round(v, 3) for m, v in row.items()} for k, row in totals.items()}
    print(json.dumps(dict(sorted(rounded.items(), key=lambda kv: -kv[1]["written_mib"]))), flush=True)
    os._exit(code)


if __name__ == "__main__":
    main()
