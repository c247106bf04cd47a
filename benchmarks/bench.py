"""Benchmark kam_pipeline against what DuckDB alone and a hand-written pandas script can do.

    .venv/bin/python benchmarks/bench.py --lines 1000000 --lines 10000000

For each size it generates the data with `kam generate`, then measures, each in its
own process (wall time and peak RSS from the kernel's accounting of that child):

  duckdb_baseline   load the CSVs and compute the core per-account aggregates in one DuckDB script
  pandas_baseline   the same aggregates written the way a user would in pandas
  kam_full          `kam run` end to end on a fresh database (stage times from the Dagster run)
  kam_incremental   one new daily orders file, then `kam run` for the next as-of date
  kam_backfill_30   `kam run --from D-29 --to D`: 30 consecutive as-of dates
  kam_tiny          `kam run` on a 5-account data set (fixed overhead)

and prints a table with the ratios the targets are stated in. Then, from
benchmarks/history.py (same command, same machine state): the bare import of the stack against
the 5-account run, a daily run after 1 and after --snapshots stored snapshots (bytes written,
wall and CPU seconds), and each size's daily run minus the 5-account run.

    .venv/bin/python benchmarks/bench.py --full-load DATA_DIR --repeats 2

measures only the full load of an existing data folder: the DuckDB-only baseline and
`kam run` on a fresh database, back to back, `--repeats` times alternately, with wall and
CPU seconds (user + system of each child) and the disk the run leaves (working database,
archive of delivered files, published folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# Data up to ten days ago, so the next as-of dates of the incremental and backfill runs are
# still in the past (the pipeline refuses future as-of dates).
END = dt.date.today() - dt.timedelta(days=10)
AS_OF = END + dt.timedelta(days=1)
LINES_PER_ACCOUNT = 227  # order lines per account over 730 days with the generator's defaults

BASELINE_SQL = """
create table orders as select * from read_csv('{data}/orders*.csv', header = true, union_by_name = true);
create table accounts as select * from read_csv('{data}/accounts.csv', header = true);
create table result as
with lines as (
    select account_id, order_id, order_date, product_category,
           case status when 'completed' then net_amount when 'returned' then -abs(net_amount) end as amount
    from orders where status <> 'cancelled'
)
select a.account_id,
       coalesce(sum(amount) filter (where order_date >= date '{as_of}' - 365), 0) as revenue,
       coalesce(sum(amount) filter (where order_date < date '{as_of}' - 365), 0) as revenue_prev,
       count(distinct order_id) filter (where order_date >= date '{as_of}' - 365 and amount > 0) as order_count,
       count(distinct product_category) filter (where order_date >= date '{as_of}' - 365) as product_breadth,
       max(order_date) as last_order_date
from accounts a
left join lines l on l.account_id = a.account_id
    and l.order_date >= date '{as_of}' - 730 and l.order_date < date '{as_of}'
group by a.account_id;
select count(*) from result;
"""

PANDAS_SCRIPT = """
import glob, sys
import pandas as pd
data, as_of = sys.argv[1], pd.Timestamp(sys.argv[2])
orders = pd.concat([pd.read_csv(f, parse_dates=["order_date"]) for f in sorted(glob.glob(data + "/orders*.csv"))])
accounts = pd.read_csv(data + "/accounts.csv")
orders = orders[orders.status != "cancelled"].copy()
orders["amount"] = orders.net_amount.where(orders.status == "completed", -orders.net_amount.abs())
window = orders[(orders.order_date >= as_of - pd.Timedelta(days=730)) & (orders.order_date < as_of)]
current = window[window.order_date >= as_of - pd.Timedelta(days=365)]
previous = window[window.order_date < as_of - pd.Timedelta(days=365)]
result = accounts[["account_id"]].set_index("account_id")
result["revenue"] = current.groupby("account_id").amount.sum()
result["revenue_prev"] = previous.groupby("account_id").amount.sum()
result["order_count"] = current[current.amount > 0].groupby("account_id").order_id.nunique()
result["product_breadth"] = current.groupby("account_id").product_category.nunique()
result["last_order_date"] = window.groupby("account_id").order_date.max()
print(len(result.fillna(0)))
"""


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd` as a child; return wall seconds, CPU seconds (user + system), peak RSS (MiB), MiB
    written (the kernel's block-output count) and its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    # wait4 gives this child's own resource usage (ru_maxrss in KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"benchmark step failed ({' '.join(cmd)}):\n{err[-2000:]}")
    # CPU seconds (user + system) of the child and the threads it ran: a shared machine stretches
    # wall times far more than CPU time, so ratios are given both ways.
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_mib": usage.ru_maxrss / 1024,
        "written_mib": usage.ru_oublock * 512 / 2**20,
        "stdout": out,
    }


def compile_package() -> None:
    """Write the bytecode of the kam_pipeline package the children import, as an installed package has it.

    An editable install compiles its modules at their first import, and where PYTHONDONTWRITEBYTECODE is
    set never keeps the result: every measured run would compile the pipeline's modules again (about
    0.25 CPU-s to compile them all here), which no installation that writes its bytecode pays.
    """
    subprocess.run(
        [
            PYTHON,
            "-c",
            "import compileall, pathlib, kam_pipeline; compileall.compile_dir(pathlib.Path(kam_pipeline.__file__).parent, quiet=1)",
        ],
        check=True,
    )


def kam(*args: str) -> list[str]:
    return [PYTHON, "-m", "kam_pipeline.cli", *args]


def stage_times(path: Path) -> dict[str, float]:
    """Seconds per Dagster step of a run, written by `kam run --timings`."""
    return json.loads(path.read_text()) if path.exists() else {}


def duckdb_baseline(data: Path, work: Path, as_of: dt.date) -> dict:
    """Measure the DuckDB-only script on `data` (its database removed afterwards)."""
    script = work / "baseline.sql"
    script.write_text(BASELINE_SQL.format(data=data, as_of=as_of))
    result = measure(
        [
            PYTHON,
            "-c",
            textwrap.dedent(f"""
        import duckdb
        con = duckdb.connect(r"{work / "baseline.duckdb"}")
        for statement in open(r"{script}").read().split(";"):
            if statement.strip():
                con.execute(statement).fetchall()
    """),
        ]
    )
    (work / "baseline.duckdb").unlink(missing_ok=True)
    return result


def disk_mib(paths: list[Path]) -> float:
    """MiB the files under `paths` (files or folders) occupy."""
    total = 0
    for path in paths:
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()] if path.exists() else []
        total += sum(f.stat().st_size for f in files)
    return total / 2**20


def full_load(data: Path, work: Path, repeats: int, as_of: dt.date) -> str:
    """Baseline and `kam run` on a fresh database back to back, `repeats` times; return the table of both."""
    lines = [
        "| round | step | wall s | CPU s (user+sys) | peak RSS MiB | disk MiB | ratio wall | ratio CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for round_ in range(1, repeats + 1):
        base = duckdb_baseline(data, work, as_of)
        db = work / "kam_full.duckdb"
        for f in work.glob("kam_full*"):
            shutil.rmtree(f) if f.is_dir() else f.unlink()
        timings = work / "timings.json"
        full = kam_run(data, db, timings, "--as-of", as_of.isoformat())
        stored = {
            "working database": disk_mib([db.with_name("kam_full.work.duckdb")]),
            "archive": disk_mib([db.with_name("kam_full.work.delivered")]),
            "published": disk_mib([db, db.with_name("kam_full.parquet")]),
        }
        lines.append(
            f"| {round_} | DuckDB-only baseline | {base['wall_s']:.1f} | {base['cpu_s']:.1f} | "
            f"{base['rss_mib']:.0f} | | 1.00x | 1.00x |"
        )
        lines.append(
            f"| {round_} | kam run, full | {full['wall_s']:.1f} | {full['cpu_s']:.1f} | {full['rss_mib']:.0f} | "
            f"{sum(stored.values()):.0f} | {full['wall_s'] / base['wall_s']:.2f}x | {full['cpu_s'] / base['cpu_s']:.2f}x |"
        )
        top = sorted(full["stages"].items(), key=lambda kv: -kv[1])[:6]
        lines.append(f"| {round_} | stages | " + ", ".join(f"{k} {v:.1f}" for k, v in top) + " | | | | | |")
        lines.append(
            f"| {round_} | disk | " + ", ".join(f"{k} {v:.0f} MiB" for k, v in stored.items()) + " | | | | | |"
        )
        print("\n".join(lines[-4:]), file=sys.stderr, flush=True)
    return "\n".join(lines)


def kam_run(data: Path, db: Path, timings: Path, *dates: str) -> dict:
    """Measure `kam run` of `data` into `db` for `dates` (its date options); the result carries the
    run's Dagster stage times under "stages"."""
    result = measure(kam("run", "--data", str(data), "--db", str(db), *dates, "--quiet", "--timings", str(timings)))
    result["stages"] = stage_times(timings)
    return result


def bench_size(lines: int, work: Path) -> dict:
    accounts = max(5, round(lines / LINES_PER_ACCOUNT))
    data = work / f"data_{lines}"
    gen = measure(
        kam("generate", "--out", str(data), "--accounts", str(accounts), "--days", "730", "--end", END.isoformat())
    )
    order_lines = sum(1 for f in data.glob("orders*.csv") for _ in f.open()) - len(list(data.glob("orders*.csv")))
    results = {"order_lines": order_lines, "accounts": accounts, "generate": gen}
    results["duckdb_baseline"] = duckdb_baseline(data, work, AS_OF)
    results["pandas_baseline"] = measure([PYTHON, "-c", PANDAS_SCRIPT, str(data), AS_OF.isoformat()])

    db = work / f"kam_{lines}.duckdb"
    timings = work / "timings.json"
    results["kam_full"] = kam_run(data, db, timings, "--as-of", AS_OF.isoformat())

    next_day = AS_OF + dt.timedelta(days=1)
    # The next day's drop: the last daily file's lines again, as new orders dated AS_OF.
    template = sorted(data.glob("orders_*.csv"))[-1]
    subprocess.run(
        [
            PYTHON,
            "-c",
            textwrap.dedent(f"""
        import polars as pl
        frame = pl.read_csv(r"{template}", infer_schema=False)
        frame = frame.with_columns(("N" + pl.col("order_id")).alias("order_id"),
                                   pl.lit("{AS_OF.isoformat()}").alias("order_date"))
        frame.write_csv(r"{data / f"orders_{AS_OF.isoformat()}.csv"}")
    """),
        ],
        check=True,
    )
    results["kam_incremental"] = kam_run(data, db, timings, "--as-of", next_day.isoformat())

    backfill_db = work / f"kam_{lines}_backfill.duckdb"
    shutil.copy(work / f"kam_{lines}.work.duckdb", backfill_db.with_name(f"kam_{lines}_backfill.work.duckdb"))
    first = (next_day - dt.timedelta(days=29)).isoformat()
    results["kam_backfill_30"] = kam_run(data, backfill_db, timings, "--from", first, "--to", next_day.isoformat())
    shutil.rmtree(data)
    for f in work.glob(f"kam_{lines}*"):
        # The published Parquet folders (kam_<lines>.parquet/) too.
        shutil.rmtree(f) if f.is_dir() else f.unlink()
    return results


def report(sizes: dict[int, dict], tiny_run: dict) -> str:
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        "",
        "| order lines | step | wall s | peak RSS MiB | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in sizes.values():
        base = r["duckdb_baseline"]["wall_s"]
        full = r["kam_full"]["wall_s"]
        rows = [
            ("DuckDB-only baseline", r["duckdb_baseline"], "1.00x baseline"),
            ("pandas script", r["pandas_baseline"], f"{r['pandas_baseline']['wall_s'] / base:.2f}x baseline"),
            (
                "kam run (full)",
                r["kam_full"],
                f"{full / base:.2f}x baseline (target <= 1.5x), "
                f"{full / r['pandas_baseline']['wall_s']:.2f}x pandas (target < 1x), "
                "RSS target <= 2048 MiB at 10M",
            ),
            (
                "kam run (+1 daily file)",
                r["kam_incremental"],
                f"{r['kam_incremental']['wall_s'] / full:.0%} of full (target <= 15 %)",
            ),
            (
                "kam run (30-date backfill)",
                r["kam_backfill_30"],
                f"{r['kam_backfill_30']['wall_s'] / full:.2f}x the full run, "
                f"{r['kam_backfill_30']['wall_s'] / r['kam_incremental']['wall_s']:.2f}x a one-date run (target <= 5x)",
            ),
        ]
        for label, m, ratio in rows:
            lines.append(f"| {r['order_lines']:,} | {label} | {m['wall_s']:.1f} | {m['rss_mib']:.0f} | {ratio} |")
        for step, label in (("kam_full", "full run"), ("kam_backfill_30", "backfill")):
            stages = r[step].get("stages", {})
            if stages:
                top = sorted(stages.items(), key=lambda kv: -kv[1])[:6]
                lines.append(
                    f"| {r['order_lines']:,} | stages of the {label} | "
                    + ", ".join(f"{k} {v:.1f}" for k, v in top)
                    + " | | |"
                )
    lines.append(
        f"| tiny (5 accounts) | kam run | {tiny_run['wall_s']:.1f} | {tiny_run['rss_mib']:.0f} | target <= 5 s |"
    )
    return "\n".join(lines)


def daily_costs(args: argparse.Namespace, work: Path) -> tuple[dict, dict | None]:
    """The start-up floor and 5-account run (interleaved, `--repeats` each) and, unless
    --snapshots is 0, the daily runs after 1 and after --snapshots stored snapshots."""
    import history  # the sibling benchmark (it imports this module's helpers)

    print(f"start-up floor and the 5-account run in {work} ...", file=sys.stderr, flush=True)
    start = history.start_up(work, args.repeats)
    if not args.snapshots:
        return start, None
    print(f"daily run after 1 and after {args.snapshots} snapshots ...", file=sys.stderr, flush=True)
    return start, history.history(work, args.accounts, args.snapshots, args.repeats)


def daily_report(sizes: dict[int, dict], start: dict, hist: dict | None, args: argparse.Namespace) -> str:
    """The start-up, history and daily-run figures of one benchmark command, ratios from the same run."""
    import history

    tiny_run = start["kam_tiny"]
    lines = ["", *history.HEADER, *history.start_up_rows(start)]
    if hist is not None:
        lines += history.history_rows(hist, args.accounts, args.snapshots)
    for r in sizes.values():
        daily = r["kam_incremental"]
        lines.append(
            f"| daily run at {r['order_lines']:,} order lines | {daily['wall_s']:.1f} | {daily['cpu_s']:.1f} | "
            f"{daily['rss_mib']:.0f} | | minus the 5-account run: {daily['wall_s'] - tiny_run['wall_s']:.1f} s wall "
            f"(target <= 6 s), {daily['cpu_s'] - tiny_run['cpu_s']:.1f} CPU s |"
        )
    if hist is not None:
        one, many = hist["daily_after_1"], hist[f"daily_after_{args.snapshots}"]
        lines += [
            "",
            f"stored before the daily run (working database, catalog, Parquet folder): "
            f"{one['stored_mib']:.0f} MiB with 1 snapshot, {many['stored_mib']:.0f} MiB with {args.snapshots}",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="order lines (repeatable)")
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch folder, kept afterwards (default: a temp dir, removed)"
    )
    parser.add_argument("--full-load", type=Path, default=None, help="only the full load of this data folder")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=AS_OF, help="as-of date (--full-load)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts of the history data set")
    parser.add_argument(
        "--snapshots", type=int, default=365, help="stored snapshots of the long history (0: no history runs)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="runs of each measured step (--full-load: rounds of baseline and full load; otherwise the"
        " start-up and history steps, median)",
    )
    args = parser.parse_args()
    compile_package()
    work = args.work or Path(tempfile.mkdtemp(prefix="kam_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.full_load:
        print(full_load(args.full_load.resolve(), work, args.repeats, args.as_of))
    else:
        sizes = {}
        for n in args.lines or [1_000_000, 10_000_000]:
            print(f"benchmarking {n:,} order lines in {work} ...", file=sys.stderr, flush=True)
            sizes[n] = bench_size(n, work)
        start, hist = daily_costs(args, work)
        print(report(sizes, start["kam_tiny"]))
        print(daily_report(sizes, start, hist, args))
    # A folder the user named keeps what the runs left (databases to query or run again).
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
