"""Benchmark the ingest of an order-line dataset named in sources.yaml (`orders: parquet: ...`) on both engines.

    .venv/bin/python benchmarks/spark_datasets.py --lines 1000000 [--files 8] [--master local[2]]

Generates a data folder with `kam generate` (as benchmarks/bench.py does), writes its order lines as a
typed Parquet dataset of `--files` files (text ids, a date, doubles, a decimal amount), ingests the
accounts and managers from the folder, then times the ingest of the orders, each on a fresh database
and in this process (one Spark session, started before the first timing):

  1. Spark engine, staged on Spark (`SparkDataset`, `ingest_dataset`), then again with the dataset
     unchanged (the daily case), then after one more file is added;
  2. copied by DuckDB into one Parquet file and loaded by polars (what either engine does with a dataset
     it does not stage on Spark).

Prints one row per case: wall seconds and rows staged. Needs the `spark` extra and Java.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END = dt.date.today() - dt.timedelta(days=10)
LINES_PER_ACCOUNT = 227  # as in benchmarks/bench.py

TYPED = """
    select order_id, coalesce(try_cast(line_no as bigint), 1) as line_no, account_id,
           try_cast(order_date as date) as order_date, product_category,
           try_cast(quantity as double) as quantity, try_cast(net_amount as decimal(18, 4)) as net_amount,
           try_cast(cost_amount as double) as cost_amount, status
    from read_csv({files}, all_varchar = true)
"""


def _lake(data: Path, lake: Path, files: int) -> None:
    """The folder's order lines as `files` Parquet files under `lake`, the order files removed."""
    import duckdb

    orders = sorted(data.glob("orders*.csv"))
    lake.mkdir(parents=True)
    with duckdb.connect() as conn:
        conn.execute(f"create table o as {TYPED.format(files=[str(p) for p in orders])}")
        total = conn.execute("select count(*) from o").fetchone()[0]
        size = -(-total // files)
        for i in range(files):
            conn.execute(
                f"copy (select * from o limit {size} offset {i * size}) to '{lake / f'part-{i}.parquet'}' "
                "(format parquet)"
            )
    for path in orders:
        path.unlink()


def _fresh(tmp: Path, name: str, data: Path):
    import duckdb

    from kam_pipeline.ingest.load import ingest_source

    db = tmp / name / "kam.work.duckdb"
    db.parent.mkdir()
    conn = duckdb.connect(str(db))
    for source in ("managers", "accounts"):
        ingest_source(conn, data, source)
    return conn, db


def _timed(label: str, work) -> tuple[str, float, int]:
    started = time.perf_counter()
    report = work()
    return label, time.perf_counter() - started, report.staged_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args(argv)

    from kam_pipeline.engines.inputs import prepare_input
    from kam_pipeline.engines.spark import spark_session
    from kam_pipeline.engines.spark_inputs import SparkDataset
    from kam_pipeline.ingest.load import ingest_dataset, ingest_source
    from kam_pipeline.ingest.mapping import SourceMapping

    with tempfile.TemporaryDirectory(prefix="kam_spark_datasets_") as folder:
        tmp = Path(folder)
        accounts = max(1, args.lines // LINES_PER_ACCOUNT)
        subprocess.run(
            [sys.executable, "-m", "kam_pipeline.cli", "generate", "--out", str(tmp / "data"),
             "--accounts", str(accounts), "--end", END.isoformat()],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        data, lake = tmp / "data", tmp / "lake" / "orders"
        _lake(data, lake, args.files)
        mapping = SourceMapping("orders", parquet=lake)
        spark_session(args.master)
        rows = []

        conn, db = _fresh(tmp, "staged", data)
        dataset = SparkDataset(mapping, args.master, db)
        rows.append(_timed("spark: staged on Spark", lambda: ingest_dataset(conn, "orders", mapping, dataset)))
        again = SparkDataset(mapping, args.master, db)
        rows.append(_timed("spark: unchanged, next run", lambda: ingest_dataset(conn, "orders", mapping, again)))
        import duckdb

        with duckdb.connect() as copy:
            copy.execute(
                f"copy (select * replace ('X' || order_id as order_id) from '{lake / 'part-0.parquet'}') "
                f"to '{lake / f'part-{args.files}.parquet'}' (format parquet)"
            )
        grown = SparkDataset(mapping, args.master, db)
        rows.append(_timed("spark: one file added", lambda: ingest_dataset(conn, "orders", mapping, grown)))
        conn.close()
        (lake / f"part-{args.files}.parquet").unlink()

        # A Parquet path is copied by DuckDB on either engine (engines/inputs.prepare_input).
        conn, db = _fresh(tmp, "copied", data)

        def copied():
            return ingest_source(conn, prepare_input(mapping, "duckdb", args.master, db), "orders", mapping=mapping)

        rows.append(_timed("either engine: copied by DuckDB into one file, loaded by polars", copied))
        conn.close()

    print(f"orders dataset: {args.lines:,} lines asked, {args.files} Parquet files, master {args.master}")
    print("| ingest of the orders | wall s | rows staged |")
    print("|---|---|---|")
    for label, seconds, staged in rows:
        print(f"| {label} | {seconds:.1f} | {staged:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
