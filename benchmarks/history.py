"""Benchmark what a daily run costs as history grows, and the start-up floor of the stack.

    .venv/bin/python benchmarks/history.py [--accounts 1000] [--snapshots 365]

Each measured step runs in its own process; wall time, peak RSS and the bytes it wrote (the
kernel's block-output count of that child, ru_oublock x 512) come from the kernel:

  import_floor      a fresh interpreter importing the stack: dagster, duckdb, polars,
                    pandera.polars, great_expectations, matplotlib
  import_floor_no_pyspark  the same with pyspark unimportable, as a DuckDB run has it (pandera and
                    great-expectations import pyspark whenever it is installed, the `spark` extra)
  kam_tiny          `kam run` on a 5-account data set (after a warm-up run): its ratio to the floor
  daily_after_1     `kam run` for the next date on a database holding 1 stored snapshot
  daily_after_N     the same run on a database holding N stored snapshots: the first one copied
                    under the N-1 earlier dates into every marts table of the working database
                    (synthetic history, published once before the measured run)

and prints the figures with the ratios the targets are stated in (after N / after 1: bytes
<= 1.3x, wall <= 1.2x; tiny / floor <= 1.25x). `--snapshots 0` measures only the start-up pair
(import_floor and kam_tiny, interleaved `--repeats` times). CPU seconds (user + system of the child) are
printed beside the wall times: on a shared machine they move far less. `benchmarks/bench.py`
runs the same steps (start_up, history) beside its full-load and 10M daily figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AS_OF, END, PYTHON, compile_package, kam, measure  # noqa: E402 (the sibling benchmark's helpers)

STACK = "import dagster, duckdb, polars, pandera.polars, great_expectations, matplotlib"
# The same import with pyspark unimportable, as a `kam run` on the DuckDB engine has it (kam_pipeline.cli):
# pandera and great-expectations import pyspark whenever it is installed (the `spark` extra).
STACK_NO_PYSPARK = (
    "import sys\n"
    "class Hide:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'pyspark' or name.startswith('pyspark.'):\n"
    "            raise ModuleNotFoundError(name, name=name)\n"
    "sys.meta_path.insert(0, Hide())\n"
    f"{STACK}"
)

SYNTHESIZE = """
import datetime as dt, sys
import duckdb
from kam_pipeline.warehouse.publish import publish
db, work, as_of, n = sys.argv[1], sys.argv[2], dt.date.fromisoformat(sys.argv[3]), int(sys.argv[4])
earlier = [as_of - dt.timedelta(days=i) for i in range(n - 1, 0, -1)]
with duckdb.connect(work) as conn:
    tables = [r[0] for r in conn.execute(
        "select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()]
    conn.execute("create temp table history_dates as select unnest(?::date[]) as d", [earlier])
    for t in tables:
        conn.execute(
            f"insert into marts.{t} by name select s.* replace (h.d as as_of_date) "
            # in date order, as daily runs append them (DuckDB's zone maps then skip other dates)
            f"from marts.{t} s, history_dates h where s.as_of_date = ? order by h.d", [as_of])
    conn.execute("checkpoint")
    publish(conn, db, [*earlier, as_of])
print(len(tables))
"""


def median_of(runs: list[dict]) -> dict:
    """Each figure's median over the runs (the last run's output text beside them)."""
    return {key: statistics.median(r[key] for r in runs) if key != "stdout" else runs[-1][key] for key in runs[0]}


def run(data: Path, db: Path, as_of: dt.date) -> list[str]:
    return kam("run", "--data", str(data), "--db", str(db), "--as-of", as_of.isoformat(), "--quiet")


def start_up(work: Path, repeats: int) -> dict:
    data = work / "tiny"
    subprocess.run(
        kam("generate", "--out", str(data), "--accounts", "5", "--days", "400", "--end", END.isoformat()),
        check=True,
        capture_output=True,
    )
    db = work / "tiny.duckdb"
    measure(run(data, db, AS_OF))  # warm-up: first load and the file caches
    floor, bare, tiny = [], [], []
    for _ in range(repeats):  # interleaved, so all see the same load on a shared machine
        floor.append(measure([PYTHON, "-c", STACK]))
        bare.append(measure([PYTHON, "-c", STACK_NO_PYSPARK]))
        tiny.append(measure(run(data, db, AS_OF)))
    return {"import_floor": median_of(floor), "import_floor_no_pyspark": median_of(bare), "kam_tiny": median_of(tiny)}


def history(work: Path, accounts: int, snapshots: int, repeats: int) -> dict:
    data = work / "data"
    subprocess.run(
        kam("generate", "--out", str(data), "--accounts", str(accounts), "--days", "400", "--end", END.isoformat()),
        check=True,
        capture_output=True,
    )
    base = work / "base"
    base.mkdir()
    measure(run(data, base / "kam.duckdb", AS_OF))  # the one stored snapshot
    long = work / "long"
    shutil.copytree(base, long)
    subprocess.run(
        [
            PYTHON,
            "-c",
            SYNTHESIZE,
            str(long / "kam.duckdb"),
            str(long / "kam.work.duckdb"),
            AS_OF.isoformat(),
            str(snapshots),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cases = {"daily_after_1": base, f"daily_after_{snapshots}": long}
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for i in range(repeats):  # interleaved, so both see the same load on a shared machine
        for name, folder in cases.items():
            # Each repeat on a fresh copy of the same state, so each measures the same daily run.
            # The Parquet folder is not copied: the copy's catalog names the original's files (by
            # absolute path, read-only, never modified), so copied files would be files no catalog
            # names, which the run's publish deletes as a killed publish's leftovers (at 365
            # snapshots 7,300 files: 30 MiB written and about 15 s, charged to the daily run).
            state = work / f"{name}_{i}"
            shutil.copytree(folder, state, ignore=shutil.ignore_patterns("kam.parquet"))
            runs[name].append(measure(run(data, state / "kam.duckdb", AS_OF + dt.timedelta(days=1))))
            # What was stored before the run (the copy's catalog still names the original's files).
            runs[name][-1]["stored_mib"] = _size(folder) / 2**20
            shutil.rmtree(state)
    results = {name: median_of(r) for name, r in runs.items()}
    return results


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and "data" not in p.parts)


def _row(label: str, m: dict, ratio: str) -> str:
    return f"| {label} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m['rss_mib']:.0f} | {m['written_mib']:.1f} | {ratio} |"


def start_up_rows(start: dict) -> list[str]:
    """The table rows of the bare import of the stack and the 5-account run, with its ratio to the floor."""
    floor, bare, tiny = start["import_floor"], start["import_floor_no_pyspark"], start["kam_tiny"]
    return [
        _row("bare import of the stack", floor, "1.00x floor"),
        _row(
            "the same, pyspark unimportable",
            bare,
            f"{bare['wall_s'] / floor['wall_s']:.2f}x floor wall, {bare['cpu_s'] / floor['cpu_s']:.2f}x CPU",
        ),
        _row(
            "kam run, 5 accounts",
            tiny,
            f"{tiny['wall_s'] / floor['wall_s']:.2f}x floor wall, {tiny['cpu_s'] / floor['cpu_s']:.2f}x CPU "
            f"(target <= 1.25x); {tiny['wall_s'] / bare['wall_s']:.2f}x wall, "
            f"{tiny['cpu_s'] / bare['cpu_s']:.2f}x CPU of the import without pyspark",
        ),
    ]


def history_rows(hist: dict, accounts: int, snapshots: int) -> list[str]:
    """The table rows of the daily runs after 1 and after `snapshots` stored snapshots, with their ratios."""
    one, many = hist["daily_after_1"], hist[f"daily_after_{snapshots}"]
    return [
        _row(f"daily run, {accounts:,} accounts, after 1 snapshot", one, "1.00x"),
        _row(
            f"daily run, {accounts:,} accounts, after {snapshots} snapshots",
            many,
            f"bytes {many['written_mib'] / one['written_mib']:.2f}x (target <= 1.3x), "
            f"wall {many['wall_s'] / one['wall_s']:.2f}x (target <= 1.2x), CPU {many['cpu_s'] / one['cpu_s']:.2f}x",
        ),
    ]


def _machine() -> list[str]:
    return [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    ]


HEADER = ["| step | wall s | CPU s | peak RSS MiB | MiB written | ratio |", "|---|---|---|---|---|---|"]


def report(start: dict | None, hist: dict, accounts: int, snapshots: int) -> str:
    """The table of the history runs, with the start-up pair's rows unless `start` is None (not measured)."""
    one, many = hist["daily_after_1"], hist[f"daily_after_{snapshots}"]
    lines = [
        *_machine(),
        "",
        *HEADER,
        *(start_up_rows(start) if start is not None else []),
        *history_rows(hist, accounts, snapshots),
        "",
        f"stored before the daily run (working database, catalog, Parquet folder): "
        f"{one['stored_mib']:.0f} MiB with 1 snapshot, {many['stored_mib']:.0f} MiB with {snapshots}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1000, help="accounts of the history data set")
    parser.add_argument(
        "--snapshots", type=int, default=365, help="stored snapshots of the long history (0: only the start-up pair)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per step (the median is shown)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--skip-start-up", action="store_true", help="measure only the history runs")
    args = parser.parse_args()
    compile_package()
    work = args.work or Path(tempfile.mkdtemp(prefix="kam_history_"))
    work.mkdir(parents=True, exist_ok=True)
    start = None
    if not args.skip_start_up or not args.snapshots:
        print(f"start-up floor and the 5-account run in {work} ...", file=sys.stderr, flush=True)
        start = start_up(work, args.repeats)
    if not args.snapshots:
        print("\n".join(_machine() + ["", *HEADER, *start_up_rows(start)]))
        shutil.rmtree(work, ignore_errors=True)
        return
    print(f"daily run after 1 and after {args.snapshots} snapshots ...", file=sys.stderr, flush=True)
    hist = history(work, args.accounts, args.snapshots, args.repeats)
    print(report(start, hist, args.accounts, args.snapshots))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
