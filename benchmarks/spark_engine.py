"""Benchmark the Spark engine against the embedded DuckDB engine, and show where Spark's time goes.

    .venv/bin/python benchmarks/spark_engine.py --lines 1000000 [--lines 10000000] [--master local[2]]

For each size it generates the data with `kam generate` (as benchmarks/bench.py does), then

  1. runs `kam run --engine duckdb` and `kam run --engine spark` end to end on fresh databases, each in
     its own process (wall time, and the seconds of the intermediate step from `--timings`);
  2. on the Spark run's working database, times each part of the Spark engine in this process:
     starting the session, writing the staged rows as Parquet, and per intermediate model the
     translation, Spark's analysis and planning (`spark.sql`), the execution and transfer of the
     result (`toArrow`) and the write into DuckDB; and the same model on DuckDB for comparison.

It prints one table per size. Needs the `spark` extra and Java.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append", help="order lines (repeatable; default 1,000,000)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    args = parser.parse_args()
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
