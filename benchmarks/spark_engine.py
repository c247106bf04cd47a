"""Benchmark the Spark engine against the embedded DuckDB engine, and show where Spark's time goes.

    .venv/bin/python benchmarks/spark_engine.py --lines 1000000 [--lines 10000000] [--master local[2]]
    .venv/bin/python benchmarks/spark_engine.py --data DATA_DIR --as-of 2026-11-22 [--engine spark]

For each size it generates the data with `kam generate` (as benchmarks/bench.py does), then

  1. runs `kam run --engine duckdb` and `kam run --engine spark` end to end on fresh databases, each in
     its own process (wall time, and the seconds of the intermediate step from `--timings`);
  2. on the Spark run's working database, times each part of the Spark engine in this process:
     starting the session, writing the staged rows as Parquet, and per intermediate model the
     translation, Spark's analysis and planning (`spark.sql`), the execution and transfer of the
     result (`toArrow`) and the write into DuckDB; and the same model on DuckDB for comparison.

It prints one table per size. Needs the `spark` extra and Java.

With `--data`, it runs `kam run` of that existing folder (read only) once per `--engine` (default
both) instead, in a child with the engines' debug log on: wall time, the Dagster stage times, the
JVM's peak resident memory (sampled from /proc), and each Spark step of the run as the engine logs it
(session start, staging of each large source on Spark, and per model the analysis against the
planning, execution and transfer, with Spark's own phase times).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KAM = [sys.executable, "-m", "kam_pipeline.cli"]
END = dt.date.today() - dt.timedelta(days=10)
AS_OF = END + dt.timedelta(days=1)
LINES_PER_ACCOUNT = 227  # as in benchmarks/bench.py


def _kam(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([*KAM, *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _intermediate_seconds(timings: Path) -> float:
    steps = json.loads(timings.read_text(encoding="utf-8"))
    return sum(seconds for step, seconds in steps.items() if step.startswith("intermediate"))


def _breakdown(work_db: Path, master: str) -> list[tuple[str, float, float]]:
    """Per part of the Spark engine: (part, Spark seconds, DuckDB seconds of the same work or nan)."""
    import duckdb

    from kam_pipeline.defs.assets.marts import intermediate_order, sql_params
    from kam_pipeline.engines import spark as engine
    from kam_pipeline.engines.spark_sql import to_spark
    from kam_pipeline.scoring.model import load_model
    from kam_pipeline.warehouse.database import write_sql_snapshot
    from kam_pipeline.warehouse.sql_files import read_sql, tables_read

    rows: list[tuple[str, float, float]] = []
    params = sql_params(load_model(None), AS_OF)
    conn = duckdb.connect(str(work_db))
    started = time.perf_counter()
    spark = engine.spark_session(master)
    rows.append(("start the Spark session", time.perf_counter() - started, float("nan")))
    names = intermediate_order()
    inputs = {key for name in names for key in tables_read(f"intermediate/{name}") if key[0] == "staging"}
    started = time.perf_counter()
    engine.register_parquet(spark, engine.export_tables(conn, inputs, engine.staging_dir(work_db)))
    rows.append(("staged rows -> Parquet (DuckDB)", time.perf_counter() - started, float("nan")))
    for name in names:
        sql, tables = (
            read_sql(f"intermediate/{name}"),
            {k: engine.view_name(*k) for k in tables_read(f"intermediate/{name}")},
        )
        started = time.perf_counter()
        text = to_spark(sql, params, tables)
        translated = time.perf_counter()
        frame = spark.sql(text)
        frame.createOrReplaceTempView(engine.view_name("intermediate", name))
        frame.schema  # noqa: B018 - forces analysis
        planned = time.perf_counter()
        result = frame.toArrow()
        executed = time.perf_counter()
        rows.append((f"{name}: translate", translated - started, float("nan")))
        rows.append((f"{name}: analyse and plan", planned - translated, float("nan")))
        rows.append((f"{name}: run, result to Arrow ({result.num_rows:,} rows)", executed - planned, float("nan")))
        started = time.perf_counter()
        engine.write_from_spark(conn, spark, name, params)
        spark_total = time.perf_counter() - started
        started = time.perf_counter()
        write_sql_snapshot(conn, name, params, layer="intermediate")
        rows.append((f"{name}: whole model (Spark, then DuckDB)", spark_total, time.perf_counter() - started))
    conn.close()
    return rows


# A `kam` child with the engines' debug lines (seconds of each Spark step) written to argv[1].
LOGGED_KAM = """
import logging, sys
handler = logging.FileHandler(sys.argv[1])
handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
log = logging.getLogger("kam_pipeline.engines")
log.setLevel(logging.DEBUG)
log.addHandler(handler)
log.propagate = False
from kam_pipeline.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _descendants(root: int) -> list[int]:
    """The process ids under `root` (children, their children, ...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _peak_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM, KiB); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def run_folder(data: Path, as_of: str, engine: str, master: str, work: Path) -> dict:
    """Run `kam run --engine <engine>` of `data` in a child with the engines' debug log; return wall
    seconds, peak RSS of the Python process and of the JVM (MiB, from /proc every second), the
    Dagster stage times and the logged Spark steps."""
    log, timings = work / f"{engine}.log", work / f"{engine}.timings.json"
    cmd = [sys.executable, "-c", LOGGED_KAM, str(log), "run", "--engine", engine, "--spark-master", master,
           "--data", str(data), "--db", str(work / engine / "kam.duckdb"), "--as-of", as_of,
           "--timings", str(timings), "--quiet"]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    peaks: dict[str, int] = {"python": 0, "java": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            peaks["python"] = max(peaks["python"], _peak_kib(proc.pid))
            for pid in _descendants(proc.pid):
                if _comm(pid) == "java":
                    peaks["java"] = max(peaks["java"], _peak_kib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"kam run --engine {engine} failed (exit {code}); see {log}")
    return {
        "engine": engine,
        "wall_s": wall,
        "python_peak_mib": peaks["python"] / 1024,
        "jvm_peak_mib": peaks["java"] / 1024,
        "stages": json.loads(timings.read_text(encoding="utf-8")),
        "spark_steps": log.read_text(encoding="utf-8").splitlines() if log.exists() else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append", help="order lines (repeatable; default 1,000,000)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--data", type=Path, help="run this existing data folder (read only) instead")
    parser.add_argument("--as-of", default=AS_OF.isoformat(), help="as-of date with --data")
    parser.add_argument("--engine", action="append", choices=("duckdb", "spark"), help="with --data (repeatable)")
    parser.add_argument(
        "--work", type=Path, help="with --data: folder for the databases and logs (default a temporary one)"
    )
    args = parser.parse_args()
    if args.data:
        work = args.work or Path(tempfile.mkdtemp(prefix="kam_spark_bench_"))
        work.mkdir(parents=True, exist_ok=True)
        for engine in args.engine or ["duckdb", "spark"]:
            result = run_folder(args.data.resolve(), args.as_of, engine, args.master, work)
            (work / f"{engine}.result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
            print(json.dumps(result, indent=1), flush=True)
        return
    for lines in args.lines or [1_000_000]:
        with tempfile.TemporaryDirectory(prefix="kam_spark_bench_") as tmp:
            tmp = Path(tmp)
            accounts = max(5, lines // LINES_PER_ACCOUNT)
            _kam("generate", "--out", str(tmp / "data"), "--accounts", str(accounts), "--end", END.isoformat())
            print(f"\n## {lines:,} order lines ({accounts:,} accounts), as of {AS_OF}, master {args.master}\n")
            print("| run | wall s | intermediate step s |\n|---|---|---|")
            for engine in ("duckdb", "spark"):
                timings = tmp / f"{engine}.json"
                wall = _kam(
                    "run", "--engine", engine, "--spark-master", args.master, "--data", str(tmp / "data"),
                    "--db", str(tmp / engine / "kam.duckdb"), "--as-of", AS_OF.isoformat(),
                    "--timings", str(timings), "--quiet",
                )  # fmt: skip
                print(f"| kam run --engine {engine} | {wall:.1f} | {_intermediate_seconds(timings):.1f} |", flush=True)
            print("\n| part of the Spark engine | Spark s | DuckDB s |\n|---|---|---|")
            for part, spark_s, duck_s in _breakdown(tmp / "spark" / "kam.work.duckdb", args.master):
                duck = "" if duck_s != duck_s else f"{duck_s:.2f}"
                print(f"| {part} | {spark_s:.2f} | {duck} |", flush=True)


if __name__ == "__main__":
    main()
