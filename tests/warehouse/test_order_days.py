"""state.account_order_days kept up to date file by file (kam_pipeline/warehouse/order_days.py): after
daily files with gaps, a backfill, a rerun of an earlier date, a replaced delivered file, a late line,
a conflicting and an identical re-delivery and a removed file, the running totals and
marts.account_lifecycle equal what a second database computes from scratch over the same files,
and a daily file recomputes only the accounts it names."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np

from kam_pipeline.ingest.load import ingest_source
from kam_pipeline.warehouse.database import write_sql_snapshot
from kam_pipeline.warehouse.order_days import refresh_order_days

START = dt.date(2024, 1, 1)
DAY0 = dt.date(2025, 6, 2)  # the history file ends the day before
ACCOUNTS = [f"A{i:02d}" for i in range(30)]
WINDOW = 60
HEADER = ["order_id", "line_no", "account_id", "order_date", "product_category", "quantity", "net_amount"]
HEADER += ["cost_amount", "status"]


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _lines(rng: np.random.Generator, prefix: str, days: list[dt.date], accounts: list[str]) -> list[list]:
    """Order lines on `days` for some of `accounts`: several lines per order, every status, some without cost."""
    rows = []
    for n, day in enumerate(days):
        for account in accounts:
            if rng.uniform() > 0.25:
                continue
            for line in range(1, int(rng.integers(1, 4)) + 1):
                net = Decimal(int(rng.integers(-500, 90_000))) / 100
                cost = "" if rng.uniform() < 0.2 else str(net * Decimal("0.6"))
                status = rng.choice(["completed", "completed", "completed", "returned", "cancelled"])
                rows.append(
                    [f"{prefix}{n}-{account}", line, account, day.isoformat(), "tools", 1, str(net), cost, status]
                )
    return rows


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    _write(data / "managers.csv", ["manager_id", "manager_name", "team_id", "team_name"], [["M1", "Ann", "T1", "One"]])
    since = [START + dt.timedelta(days=17 * i) for i in range(len(ACCOUNTS))]  # the last ones are new at DAY0
    _write(
        data / "accounts.csv",
        ["account_id", "account_name", "segment", "industry", "region", "manager_id", "since"],
        [[a, a, "regional", "retail", "north", "M1", s.isoformat()] for a, s in zip(ACCOUNTS, since, strict=True)],
    )
    _write(
        data / "acquisition.csv",
        ["account_id", "acquired_on", "acquisition_cost"],
        [[a, (START + dt.timedelta(days=40 * i)).isoformat(), 100 * i] for i, a in enumerate(ACCOUNTS[:12])],
    )
    rng = np.random.default_rng(5)
    history = [START + dt.timedelta(days=k) for k in range((DAY0 - START).days) if k % 3 == 0]
    started = dict(zip(ACCOUNTS, since, strict=True))
    lines = [r for r in _lines(rng, "H", history, ACCOUNTS) if r[3] >= started[r[2]].isoformat()]  # ordered since
    _write(data / "orders.csv", HEADER, lines)
    return data


def _daily(data: Path, day: dt.date, seed: int, extra: list[list] | None = None) -> None:
    rng = np.random.default_rng(seed)
    _write(
        data / f"orders_{day.isoformat()}.csv", HEADER, _lines(rng, f"D{day:%m%d}-", [day], ACCOUNTS) + (extra or [])
    )


def _ingest(conn: duckdb.DuckDBPyConnection, data: Path) -> None:
    for source in ("managers", "accounts", "acquisition", "orders"):
        ingest_source(conn, data, source)


def _lifecycle(conn: duckdb.DuckDBPyConnection, dates: list[dt.date]) -> list[tuple]:
    write_sql_snapshot(conn, "account_lifecycle", {"as_of": dates[-1], "as_of_dates": dates, "window_days": WINDOW})
    return conn.execute(
        "select * from marts.account_lifecycle where list_contains(?, as_of_date) order by as_of_date, account_id",
        [dates],
    ).fetchall()


def _state(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute("select * from state.account_order_days order by account_id, order_date").fetchall()


def _direct_totals(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    """The running totals computed here with a plain join of every order date to the lines on or before it."""
    return conn.execute(
        """
        with lines as (
            select account_id, order_date, status,
                   case when status = 'returned' then -abs(net_amount) else net_amount end as net,
                   case when status = 'returned' then -abs(cost_amount) else cost_amount end as cost
            from staging.orders where status <> 'cancelled'
        ),
        days as (select distinct account_id, order_date from lines)
        select d.account_id, d.order_date,
               (select min(order_date) from days as n
                where n.account_id = d.account_id and n.order_date > d.order_date) as next_order_date,
               sum(l.net), coalesce(sum(l.net - l.cost), 0), count(*), count(l.cost),
               min(l.order_date) filter (where l.status = 'completed'),
               max(l.order_date) filter (where l.status = 'completed')
        from days as d
        join lines as l on l.account_id = d.account_id and l.order_date <= d.order_date
        group by d.account_id, d.order_date
        order by 1, 2
        """
    ).fetchall()


def test_file_by_file_refreshes_give_what_a_computation_from_scratch_gives(tmp_path):
    data = _data(tmp_path)
    conn = duckdb.connect(str(tmp_path / "work.duckdb"))
    checked = []

    def run(dates: list[dt.date]) -> dict[str, int]:
        """Ingest the folder and write the lifecycle of `dates` on the working database; compare with a
        fresh database that ingests the same folder and computes everything from scratch."""
        _ingest(conn, data)
        refreshed = refresh_order_days(conn)
        got = _lifecycle(conn, dates)
        with duckdb.connect(str(tmp_path / f"scratch_{len(checked)}.duckdb")) as scratch:
            _ingest(scratch, data)
            refresh_order_days(scratch, incremental=False)
            assert got == _lifecycle(scratch, dates)
            assert _state(conn) == _state(scratch)
        assert _state(conn) == _direct_totals(conn)
        checked.append(dates)
        return refreshed

    first = run([DAY0])
    assert first["files"] == 1 and first["accounts"] == len(ACCOUNTS)
    stages = {r[5] for r in _lifecycle(conn, [DAY0])}
    assert {"new", "retained", "churned"} <= stages  # the data exercises the stages
    # Daily files with gaps (no file on some days), each run for the next date: only the accounts
    # with completed or returned lines in the new file are recomputed.
    days = [DAY0 + dt.timedelta(days=k) for k in (0, 1, 2, 5, 6, 9)]
    for n, day in enumerate(days):
        _daily(data, day, n)
        rows = list(csv.reader((data / f"orders_{day.isoformat()}.csv").open()))[1:]
        named = {r[2] for r in rows if r[8] != "cancelled"}  # cancelled lines count nowhere
        refreshed = run([day + dt.timedelta(days=1)])
        assert refreshed == {"files": 1, "accounts": len(named)}
    # A backfill of a range of earlier dates, then a rerun of one of them: the state is unchanged.
    assert run([DAY0 - dt.timedelta(days=k) for k in (30, 20, 10)]) == {"files": 0, "accounts": 0}
    assert run([days[2]]) == {"files": 0, "accounts": 0}
    # A delivered file replaced by another with other lines, a late one among them (dated in the history).
    late = [["LATE1", 1, "A03", "2024-07-01", "tools", 1, "123.45", "", "completed"]]
    _daily(data, days[1], 99, extra=late)
    refreshed = run([days[-1] + dt.timedelta(days=1)])
    assert refreshed["files"] == 1
    # A line of the history delivered again with other content: both copies are quarantined, so the
    # history file's figures change too; an identical copy is collapsed to the first.
    with (data / "orders.csv").open() as f:
        old = next(r for r in list(csv.reader(f))[1:] if r[8] == "completed")
    again = next(r for r in list(csv.reader((data / "orders.csv").open()))[1:] if r[8] == "returned")
    conflict = [*old[:6], str(Decimal(old[6]) + 1), *old[7:]]
    day = days[-1] + dt.timedelta(days=1)
    _daily(data, day, 50, extra=[conflict, again])
    refreshed = run([day + dt.timedelta(days=1)])
    assert refreshed["files"] == 2
    assert (
        conn.execute("select count(*) from staging.orders where order_id = ?", [old[0]]).fetchall()[0][0]
        == int(conn.execute("select count(*) from staging.orders_typed where order_id = ?", [old[0]]).fetchall()[0][0])
        - 2
    )
    # A delivered file removed: its lines leave the totals.
    (data / f"orders_{days[3].isoformat()}.csv").unlink()
    assert run([day + dt.timedelta(days=1), day + dt.timedelta(days=2)])["files"] == 1
    conn.close()
