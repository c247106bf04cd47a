"""The report reads the trend charts' window of the history, not all of it, from a hand-made book
of 12 accounts over 100 daily snapshots (a plain DuckDB file and the same book published)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from kam_pipeline.report import charts
from kam_pipeline.report.data import TREND_ACCOUNTS, TREND_SNAPSHOTS, load
from kam_pipeline.warehouse.publish import publish

FIRST = dt.date(2026, 3, 1)
DAYS = 100
ACCOUNTS = 12
DATES = [FIRST + dt.timedelta(days=i) for i in range(DAYS)]


def _score(account: int, day: int) -> float:
    # Account 0 scores highest on every date; every account's score moves with the day.
    return 90.0 - 6 * account + (day % 7) * 0.5


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plain file, published catalog) holding marts.account_scores and an empty marts.score_contributions."""
    folder = tmp_path_factory.mktemp("book")
    plain = folder / "plain.duckdb"
    rows = [
        (f"A{a:02d}", f"Account {a}", date, _score(a, day), a + 1)
        for day, date in enumerate(DATES)
        for a in range(ACCOUNTS)
    ]
    with duckdb.connect(str(plain)) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.account_scores (account_id varchar, account_name varchar, as_of_date date, "
            "score double, rank integer, score_change double)"
        )
        conn.executemany("insert into marts.account_scores values (?, ?, ?, ?, ?, null)", rows)
        conn.execute(
            "create table marts.score_contributions (account_id varchar, as_of_date date, indicator varchar, "
            '"group" varchar, value double, contribution double)'
        )
        publish(conn, folder / "kam.duckdb", DATES)
    return plain, folder / "kam.duckdb"


def _expected_accounts() -> set[str]:
    # The best ranked (rank = account + 1) and, with no alerts and no score falls, the lowest scores.
    best = {f"A{a:02d}" for a in range(TREND_ACCOUNTS)}
    lowest = {f"A{a:02d}" for a in range(ACCOUNTS - TREND_ACCOUNTS, ACCOUNTS)}
    return best | lowest


@pytest.mark.parametrize("which", ["plain", "published"])
def test_the_history_read_is_the_charted_accounts_over_the_last_snapshots(book, which):
    db = book[0] if which == "plain" else book[1]
    data = load(db)
    assert data.as_of == DATES[-1] and data.snapshots == DATES
    window = DATES[-TREND_SNAPSHOTS:]
    assert sorted(set(data.history.get_column("as_of_date"))) == window
    assert set(data.history.get_column("account_id")) == _expected_accounts()
    assert data.history.height == len(window) * len(_expected_accounts())
    a03 = data.history.filter(pl.col("account_id") == "A03").sort("as_of_date")
    assert a03.get_column("score").to_list() == [_score(3, DATES.index(d)) for d in window]


@pytest.mark.parametrize("which", ["plain", "published"])
def test_an_earlier_as_of_date_reads_the_window_up_to_it(book, which):
    db = book[0] if which == "plain" else book[1]
    as_of = DATES[39]
    data = load(db, as_of)
    assert data.previous_as_of == DATES[38] and data.snapshots == DATES[:40]
    assert sorted(set(data.history.get_column("as_of_date"))) == DATES[:40]


def test_a_trend_chart_over_a_long_window_labels_a_few_dates_first_and_last_among_them(book):
    data = load(book[1])
    svg = charts.trend_chart(data.history, [("A00", "Account 0"), ("A11", "Account 11")], "Trend", "Score", "t")
    labelled = re.findall(r"\d{4}-\d{2}-\d{2}", svg)
    window = DATES[-TREND_SNAPSHOTS:]
    assert 2 <= len(set(labelled)) <= charts.TREND_TICKS
    assert window[0].isoformat() in labelled and window[-1].isoformat() in labelled
