"""What marts.score_backtest costs a daily run as the history grows: incremental against from scratch.

    .venv/bin/python benchmarks/backtest.py [--accounts 5000] [--snapshots 365]

Builds a synthetic history in a scratch DuckDB file (marts.account_scores and
marts.account_indicators: --accounts accounts at each of --snapshots consecutive dates, scores and
churn flags from a hash), computes the backtest from scratch once, then adds the next date and times
the daily run's backtest both ways (wall and process CPU seconds), checking the two tables equal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import duckdb

from kam_pipeline.warehouse.backtest import write_backtest

HORIZONS = [90, 180]
START = dt.date(2025, 1, 1)


def timed(conn: duckdb.DuckDBPyConnection, day: dt.date, incremental: bool) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    done = write_backtest(conn, [day], HORIZONS, incremental=incremental)
    return time.perf_counter() - wall, time.process_time() - cpu, len(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--snapshots", type=int, default=365)
    args = parser.parse_args()
    days = [START + dt.timedelta(days=k) for k in range(args.snapshots + 1)]
    with (
        tempfile.TemporaryDirectory(prefix="kam-backtest-") as tmp,
        duckdb.connect(str(Path(tmp) / "b.duckdb")) as conn,
    ):
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.account_scores as select d::date as as_of_date, 'a' || i as account_id, "
            "hash(i, d) % 100 * 1.0 as score from unnest(?::date[]) t(d), range(?) r(i) order by d",
            [days[:-1], args.accounts],
        )
        conn.execute(
            "create table marts.account_indicators as select as_of_date, account_id, "
            f"(hash(account_id) % 50 < (as_of_date - date '{START}') / 30)::int as is_churned "
            "from marts.account_scores order by as_of_date"
        )
        wall, cpu, n = timed(conn, days[-2], incremental=False)
        print(f"{args.accounts:,} accounts x {args.snapshots} snapshots, horizons {HORIZONS}")
        print(f"first computation (from scratch): {wall:.2f} s wall, {cpu:.2f} s CPU, {n} snapshots")
        for table in ("account_scores", "account_indicators"):
            conn.execute(
                f"insert into marts.{table} select * replace (?::date as as_of_date) from marts.{table} "
                "where as_of_date = ?",
                [days[-1], days[-2]],
            )
        conn.execute("create table kept as select * from marts.score_backtest")
        wall, cpu, n = timed(conn, days[-1], incremental=True)
        print(f"next date, incremental:            {wall:.2f} s wall, {cpu:.2f} s CPU, {n} snapshots recomputed")
        incremental = conn.execute("select * from marts.score_backtest order by all").fetchall()
        conn.execute("delete from marts.score_backtest")
        conn.execute("insert into marts.score_backtest select * from kept")
        wall, cpu, n = timed(conn, days[-1], incremental=False)
        print(f"next date, from scratch:           {wall:.2f} s wall, {cpu:.2f} s CPU, {n} snapshots recomputed")
        same = incremental == conn.execute("select * from marts.score_backtest order by all").fetchall()
        print("the two tables are identical" if same else "THE TWO TABLES DIFFER")


if __name__ == "__main__":
    main()
