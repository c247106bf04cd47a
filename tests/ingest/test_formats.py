"""Dates, timestamps and numbers as spreadsheets write them: the unambiguous forms load, the rest is quarantined."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ingest_support import (
    ingest,
    reasons,
    row,
    rows_of,
    write_reference_data,
    write_source,
)

DATE_REASON = "not a date (year first: YYYY-MM-DD, YYYY/M/D or YYYY.M.D)"
TIMESTAMP_REASON = "not a timestamp (year first: YYYY-MM-DD HH:MM[:SS] or ISO 8601, also YYYY/M/D H:MM[:SS])"

# (delivered order_date, the date it means)
DATES = [
    ("2025-03-07", dt.date(2025, 3, 7)),
    ("2025/1/31", dt.date(2025, 1, 31)),
    ("2025/01/31", dt.date(2025, 1, 31)),
    ("2025.3.7", dt.date(2025, 3, 7)),
    ("2025-3-7", dt.date(2025, 3, 7)),
    (" 2025/12/1 ", dt.date(2025, 12, 1)),
    # a date cell exported with its time of day: the date is what counts
    ("2025-01-31 00:00:00", dt.date(2025, 1, 31)),
    ("2025/1/31 0:00", dt.date(2025, 1, 31)),
    ("2026/7/13 14:05", dt.date(2026, 7, 13)),
    ("2026-07-13T09:30", dt.date(2026, 7, 13)),
]
# (delivered net_amount, the amount it means)
AMOUNTS = [
    ("104,664.47", Decimal("104664.47")),
    ("¥1,200", Decimal("1200")),
    ("￥1200.5", Decimal("1200.5")),
    ("-$3,000.50", Decimal("-3000.50")),
    ("$-3,000.50", Decimal("-3000.50")),
    ("€1,000,000", Decimal("1000000")),
    ("£0.25", Decimal("0.25")),
    ("-1,234", Decimal("-1234")),
]
# (delivered opened_at, the timestamp it means)
TIMESTAMPS = [
    ("2026/7/13 14:05", dt.datetime(2026, 7, 13, 14, 5)),
    ("2026-07-13T9:05:00", dt.datetime(2026, 7, 13, 9, 5)),
    ("2026/7/13T14:05:30", dt.datetime(2026, 7, 13, 14, 5, 30)),
    ("2026.7.13 9:05", dt.datetime(2026, 7, 13, 9, 5)),
    ("2026/7/3", dt.datetime(2026, 7, 3)),
    ("2026-07-13 14:05:00+08:00", dt.datetime(2026, 7, 13, 6, 5)),
]


def _order(i: int, **cells: str) -> dict[str, str]:
    return row("orders", order_id=f"O{i}", **cells)


def test_year_first_dates_load_with_any_separator(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [_order(i, order_date=text) for i, (text, _) in enumerate(DATES, start=1)])
    ingest(conn, data_dir, "managers", "accounts", "orders")
    assert reasons(conn, "orders") == []
    got = rows_of(conn, "select order_date from staging.orders order by _row_number")
    assert [d for (d,) in got] == [date for _, date in DATES]


def test_numbers_with_thousands_separators_and_currency_signs_load(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [_order(i, net_amount=text) for i, (text, _) in enumerate(AMOUNTS, start=1)])
    ingest(conn, data_dir, "managers", "accounts", "orders")
    assert reasons(conn, "orders") == []
    got = rows_of(conn, "select net_amount from staging.orders order by _row_number")
    assert [a for (a,) in got] == [amount for _, amount in AMOUNTS]


def test_whole_numbers_and_quantities_take_separators_too(conn, data_dir):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [_order(1, line_no="1,001", quantity="12,500.5")])
    write_source(data_dir, "wallet", [row("wallet", year="2024", wallet_amount="$2,500,000")])
    ingest(conn, data_dir, "managers", "accounts", "orders", "wallet")
    assert rows_of(conn, "select line_no, quantity from staging.orders") == [(1001, 12500.5)]
    assert rows_of(conn, "select wallet_amount from staging.wallet") == [(2500000.0,)]


def test_spreadsheet_timestamps_load(conn, data_dir):
    write_reference_data(data_dir)
    write_source(
        data_dir,
        "complaints",
        [
            row("complaints", complaint_id=f"C{i}", opened_at=text, resolved_at="2026/8/1 8:00")
            for i, (text, _) in enumerate(TIMESTAMPS, start=1)
        ],
    )
    ingest(conn, data_dir, "managers", "accounts", "complaints")
    assert reasons(conn, "complaints") == []
    got = rows_of(conn, "select opened_at, resolved_at from staging.complaints order by _row_number")
    assert got == [(ts, dt.datetime(2026, 8, 1, 8, 0)) for _, ts in TIMESTAMPS]


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"order_date": "03/07/2025"}, f"order_date: {DATE_REASON} (value '03/07/2025')"),
        ({"order_date": "07/03/25"}, f"order_date: {DATE_REASON} (value '07/03/25')"),
        ({"order_date": "25/3/7"}, f"order_date: {DATE_REASON} (value '25/3/7')"),
        # %Y alone takes a year of any length: the first two were staged in the year 25.
        ({"order_date": "25-03-07"}, f"order_date: {DATE_REASON} (value '25-03-07')"),
        ({"order_date": "25-3-7 00:00:00"}, f"order_date: {DATE_REASON} (value '25-3-7 00:00:00')"),
        ({"order_date": "20250-03-07"}, f"order_date: {DATE_REASON} (value '20250-03-07')"),
        ({"order_date": "2025/3-7"}, f"order_date: {DATE_REASON} (value '2025/3-7')"),
        ({"order_date": "2025/2/30"}, f"order_date: {DATE_REASON} (value '2025/2/30')"),
        ({"order_date": "07/13/2026 14:05"}, f"order_date: {DATE_REASON} (value '07/13/2026 14:05')"),
        ({"order_date": "2026/7/13 25:00"}, f"order_date: {DATE_REASON} (value '2026/7/13 25:00')"),
        ({"net_amount": "1,2345"}, "net_amount: not a number (value '1,2345')"),
        ({"net_amount": "1.234,56"}, "net_amount: not a number (value '1.234,56')"),
        ({"net_amount": "12,34"}, "net_amount: not a number (value '12,34')"),
        ({"net_amount": "--$5"}, "net_amount: not a number (value '--$5')"),
        ({"net_amount": "$ 5"}, "net_amount: not a number (value '$ 5')"),
        ({"net_amount": "5$"}, "net_amount: not a number (value '5$')"),
        (
            {"net_amount": "¥999,999,999,999,999"},
            "net_amount: amount out of range (magnitude must be below 1e+14) (value '¥999,999,999,999,999')",
        ),
        ({"line_no": "1,5"}, "line_no: not a whole number (value '1,5')"),
        # Whole, but beyond a 64-bit integer: quarantined, not a failed cast that stops the file.
        ({"line_no": "1e20"}, "line_no: not a whole number (value '1e20')"),
        (
            {"line_no": "100,000,000,000,000,000,000"},
            "line_no: not a whole number (value '100,000,000,000,000,000,000')",
        ),
    ],
)
def test_ambiguous_forms_stay_quarantined_with_their_reason(conn, data_dir, cells, reason):
    write_reference_data(data_dir)
    write_source(data_dir, "orders", [_order(1), _order(2, **cells)])
    ingest(conn, data_dir, "managers", "accounts", "orders")
    assert reasons(conn, "orders") == [("orders.csv", 2, reason, 1)]
    assert rows_of(conn, "select order_id from staging.orders") == [("O1",)]


# A day past the month's end is no date, with or without an offset (DuckDB's list of %z formats alone
# would carry 2026-02-30 over into 2 March), nor is a year of two digits.
@pytest.mark.parametrize(
    "text",
    [
        "07/13/2026 14:05",
        "13.07.2026 14:05",
        "2026/7/13 25:00",
        "2026/7/13 14:05 PM",
        "2026-02-30T14:05:00+01:00",
        "2026-04-31 14:05:00.5+01:00",
        "2026-02-30T14:05:00Z",
        "2026-02-30 14:05:00",
        # a two-digit year, with and without an offset
        "26-07-13 14:05",
        "26-07-13T14:05:00+01:00",
    ],
)
def test_ambiguous_timestamps_stay_quarantined(conn, data_dir, text):
    write_reference_data(data_dir)
    write_source(data_dir, "complaints", [row("complaints", opened_at=text, resolved_at="")])
    ingest(conn, data_dir, "managers", "accounts", "complaints")
    assert reasons(conn, "complaints") == [("complaints.csv", 1, f"opened_at: {TIMESTAMP_REASON} (value '{text}')", 1)]


@pytest.mark.parametrize("blank", [" ", "\t", "\u00a0", "\u3000", "\u2003", "\u202f"])
def test_any_white_space_around_a_spreadsheet_value_is_trimmed(conn, data_dir, blank):
    write_reference_data(data_dir)
    write_source(
        data_dir,
        "orders",
        [
            _order(1, order_date=f"{blank}2025/1/31", net_amount=f"¥1,200{blank}", line_no=f"{blank}1,001{blank}"),
            _order(2, order_date=f"2025-01-31{blank}", net_amount=f"{blank}7.5", quantity=f"{blank}"),
        ],
    )
    ingest(conn, data_dir, "managers", "accounts", "orders")
    assert rows_of(conn, "select order_date, net_amount, line_no from staging.orders order by _row_number") == [
        (dt.date(2025, 1, 31), Decimal("1200"), 1001)
    ]
    assert [r[1:3] for r in reasons(conn, "orders")] == [(2, "quantity: not_nullable")]
