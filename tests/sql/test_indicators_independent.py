"""Independent cross-check of the indicator SQL against a plain-Python recomputation.

The marts `account_indicators`, `portfolio_kpis`, `account_assessments` and
`manager_indicators` are built by the real pipeline (ingest -> staging -> SQL
snapshot) from a generated data set that has been made nastier on purpose. The
same figures are then recomputed here from the raw CSV files with nothing but the
`csv` module, `datetime`, `Decimal` and dict loops — no polars, no DuckDB, no SQL —
straight from shared/spec/INDICATORS.md and the interpretations written in the
header comments of the SQL files:

* C = [D - W, D), P = [D - 2W, D - W); nothing dated on or after D is read.
* Only `completed` lines are sales; `returned` lines count -abs(net_amount) (and
  -abs(cost_amount)) whatever sign the file used; `cancelled` lines are ignored.
* order_count / product_breadth / active months / recency / churn use completed
  lines only; revenue, revenue_prev and gross margin net the returns.
* gross_margin only over C lines that carry a cost_amount.
* active_month_ratio divides by the calendar months overlapping C.
* Wallet is prorated by days of C per calendar year; when a year is missing, the
  years present are scaled up to W days.
* market_year = the calendar year holding most days of C (ties -> later year);
  market growth compares it with the year before; segment market share =
  revenue in C / market_size of the covered (industry, region) pairs in market_year.
* Complaints: opened in [D - W 00:00, D 00:00); resolved at or after D counts as
  still open at D; breach is strictly "> SLA hours".
* Invoices issued in C; paid on or after D counts as unpaid at D.

Four snapshots are checked: the day after the data ends (2026-07-01, W = 365);
2026-01-15, whose window straddles a year boundary and which must ignore the data
after it (and the two accounts that only start later); 2025-06-30, whose window
holds part of leap year 2024 (wallet proration by 366 days, no 2023 market data,
P only partly covered by data); and 2026-07-02 with W = 364, where C holds 182
days of 2025 and of 2026 (market_year tie -> the later year).

Interpretation questions this test follows the SQL on rather than settles (the
spec allows more than one reading): avg_order_value divides by completed orders
only; P <= 0 (returns only) still gives a growth/retention figure, only P = 0 is
NULL; "months in C" = calendar months overlapping C; segment market share puts
revenue of the window C over the market size of one calendar year;
"latest assessor-mean" = mean of all ratings on the latest date in C (not each
assessor's latest rating); complaints with 0 orders give a NULL complaint_rate.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kam_pipeline.defs.assets.marts import intermediate_order, sql_params
from kam_pipeline.demo.generate import generate_dataset
from kam_pipeline.ingest.load import ingest_source
from kam_pipeline.scoring.model import load_model
from kam_pipeline.warehouse.database import write_sql_snapshot
from kam_pipeline.warehouse.sql_files import bind, read_sql

SOURCES_IN_ORDER = (
    "managers",
    "accounts",
    "orders",
    "surveys",
    "complaints",
    "wallet",
    "market",
    "assessments",
    "feedback",
    "invoices",
    "acquisition",
)
MARTS_IN_ORDER = (
    "account_lifecycle",
    "account_indicators",
    "portfolio_kpis",
    "account_assessments",
    "manager_indicators",
)

D1 = date(2026, 7, 1)  # day after the data ends
D2 = date(2026, 1, 15)  # window straddles 2025/2026, data after D2 must be ignored
D3 = date(2025, 6, 30)  # C holds 185 days of leap year 2024; no 2023 market data
D4 = date(2026, 7, 2)  # run with W = 364: 182 days of 2025 and of 2026 in C (market_year tie)

# INDICATORS.md defaults; test_model_defaults_match checks the model still uses them.
W = 365
CASES = ((D1, W), (D2, W), (D3, W), (D4, 364))  # (as-of date, window days)
AS_OF_DATES = tuple(d for d, _ in CASES)
# Backfills: several as-of dates computed by one query (sql/marts/account_indicators.sql takes
# $as_of_dates). Consecutive dates around D2; a window shorter than the range, so orders, categories,
# months and invoices enter and leave it within the range; and dates more than W apart.
RANGES = (
    (tuple(D2 + timedelta(days=k) for k in range(-13, 14)), W),
    (tuple(D4 - timedelta(days=k) for k in range(20, -1, -1)), 7),
    ((D3, D2, D1), W),
)
CHURN_DAYS = 180
RETENTION_CAP = 2.0
SLA_HOURS = {"critical": 24.0, "high": 72.0, "medium": 120.0, "low": 240.0}

REL_TOL = 1e-9
ABS_TOL = 1e-12

NEW_ACCOUNT = "A0026"  # appended without any order, wallet or market pair of its own
LAPSED_ACCOUNT = "A0027"  # appended: one completed order long before P, nothing since
RETURN_ONLY_ACCOUNT = "A0028"  # appended: one returned line long before P, nothing else


# ---------------------------------------------------------------- making the data nastier


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _iso(d: date) -> str:
    return d.isoformat()


def _nasty_orders() -> list[list[Any]]:
    """Extra order lines (unique ids X…), each aimed at one edge rule for D1 and/or D2."""
    c1, p1, churn1 = D1 - timedelta(W), D1 - timedelta(2 * W), D1 - timedelta(CHURN_DAYS)
    c2, p2 = D2 - timedelta(W), D2 - timedelta(2 * W)

    def line(order_id, line_no, account, day, category, qty, net, cost, status):
        return [order_id, line_no, account, _iso(day), category, qty, net, cost, status]

    return [
        # returned lines: positive net in the file, negative net in the file, no cost; an order of returns only
        line("X0000001", 1, "A0002", date(2025, 10, 10), "components", 5, "500.00", "300.00", "returned"),
        line("X0000002", 1, "A0002", date(2025, 11, 11), "software", 1, "-250.50", "100.00", "returned"),
        line("X0000003", 1, "A0002", date(2025, 12, 1), "x_returned_only", 2, "-75.25", "", "returned"),
        # a huge cancelled line with a category nobody buys: must change nothing
        line("X0000004", 1, "A0004", date(2025, 10, 1), "x_cancelled_cat", 9, "99999.99", "1.00", "cancelled"),
        # cancelled line inside the D1 churn window of a churned account: it stays churned
        line("X0000005", 1, "A0009", date(2026, 3, 1), "components", 1, "1000.00", "600.00", "cancelled"),
        # completed exactly at D1 - churn_days (un-churns A0023) and one day earlier (A0024 stays churned)
        line("X0000006", 1, "A0023", churn1, "services", 1, "1234.56", "700.00", "completed"),
        line("X0000007", 1, "A0024", churn1 - timedelta(1), "services", 1, "2345.67", "1500.00", "completed"),
        # exactly D1 - W (in C1, not P1), without cost data, new category
        line("X0000008", 1, "A0005", c1, "x_boundary_c1", 3, "800.00", "", "completed"),
        # exactly D1: must be ignored at D1 (and is after D2 too)
        line("X0000009", 1, "A0005", D1, "x_on_d1", 1, "777777.00", "1.00", "completed"),
        # exactly D2 - W (in C2) and exactly D2 (ignored at D2, inside C1)
        line("X0000010", 1, "A0006", c2, "x_boundary_c2", 1, "432.10", "200.00", "completed"),
        line("X0000011", 1, "A0006", D2, "x_on_d2", 1, "88888.00", "44444.00", "completed"),
        # exactly D1 - 2W (in P1) and the day before (before P1 but still "ordered before C")
        line("X0000012", 1, "A0007", p1, "components", 1, "321.00", "100.00", "completed"),
        line("X0000013", 1, "A0007", p1 - timedelta(1), "components", 1, "654.00", "300.00", "completed"),
        # exactly D2 - 2W (in P2)
        line("X0000014", 1, "A0008", p2, "components", 1, "111.11", "50.00", "completed"),
        # one order: completed line + returned line (negative in the file) + cancelled line
        line("X0000015", 1, "A0008", date(2025, 12, 20), "equipment", 1, "5000.00", "3000.00", "completed"),
        line("X0000015", 2, "A0008", date(2025, 12, 20), "equipment", 1, "-1000.00", "600.00", "returned"),
        line("X0000015", 3, "A0008", date(2025, 12, 20), "x_cancelled_in_order", 1, "3000.00", "10.00", "cancelled"),
        # returned line in P1 and in P2 (positive in the file)
        line("X0000016", 1, "A0011", date(2025, 1, 1), "components", 1, "2500.00", "1500.00", "returned"),
        # completed line with zero amount and cost
        line("X0000017", 1, "A0012", date(2025, 11, 30), "packaging", 0, "0.00", "0.00", "completed"),
        # returned line inside the D1 churn window of a churned account: it stays churned
        line("X0000018", 1, "A0024", date(2026, 3, 1), "services", 1, "300.00", "200.00", "returned"),
        # churned through "a completed order before C" alone (no revenue in P)
        line("X0000019", 1, LAPSED_ACCOUNT, date(2024, 5, 1), "components", 1, "900.00", "500.00", "completed"),
        # a returned line is not an order: not churned
        line("X0000020", 1, RETURN_ONLY_ACCOUNT, date(2024, 5, 1), "components", 1, "400.00", "250.00", "returned"),
        # one order with lines on two dates of RANGES[0]: counted once, from the first date on
        line("X0000021", 1, "A0003", date(2026, 1, 6), "x_two_dates", 1, "150.00", "90.00", "completed"),
        line("X0000021", 2, "A0003", date(2026, 1, 20), "x_two_dates", 1, "160.00", "95.00", "completed"),
    ]


def _make_nasty(data_dir: Path) -> None:
    orders_header, _ = _read_rows(data_dir / "orders.csv")
    _write_csv(data_dir / "orders_extra.csv", orders_header, _nasty_orders())

    # A new account without orders, wallet or market data of its own pair.
    header, rows = _read_rows(data_dir / "accounts.csv")
    rows.append(
        {
            "account_id": NEW_ACCOUNT,
            "account_name": "Nasty Edge Case Ltd",
            "segment": "regional",
            "industry": "x_no_market",
            "region": "x_nowhere",
            "manager_id": "M001",
            "since": "2025-01-01",
        }
    )
    for account_id in (LAPSED_ACCOUNT, RETURN_ONLY_ACCOUNT):
        rows.append(
            {
                "account_id": account_id,
                "account_name": f"Edge Case {account_id} GmbH",
                "segment": "domestic_large",
                "industry": "retail",
                "region": "east",
                "manager_id": "M002",
                "since": "2024-01-01",
            }
        )
    _write_csv(data_dir / "accounts.csv", header, [[r[c] for c in header] for r in rows])

    # Wallet: one account loses its 2026 row (proration must scale 2025 up), one loses all rows (NULL).
    header, rows = _read_rows(data_dir / "wallet.csv")
    rows = [r for r in rows if not (r["account_id"] == "A0001" and r["year"] == "2026") and r["account_id"] != "A0002"]
    _write_csv(data_dir / "wallet.csv", header, [[r[c] for c in header] for r in rows])

    # Market: (technology, east) loses 2024, so its 2025-vs-2024 growth is NULL.
    header, rows = _read_rows(data_dir / "market.csv")
    rows = [r for r in rows if not (r["industry"] == "technology" and r["region"] == "east" and r["year"] == "2024")]
    _write_csv(data_dir / "market.csv", header, [[r[c] for c in header] for r in rows])

    c1, c2 = D1 - timedelta(W), D2 - timedelta(W)
    header, _ = _read_rows(data_dir / "surveys.csv")
    _write_csv(
        data_dir / "surveys_extra.csv",
        header,
        [
            # exactly D1 - W, no overall score, promoter
            ["RX00001", "A0002", _iso(c1), "", "5", "4", "3", "2", "9"],
            # exactly D1: ignored at D1
            ["RX00002", "A0002", _iso(D1), "1", "1", "1", "1", "1", "0"],
            # new account, no recommend answer -> nps NULL, csat defined (inside C2 only)
            ["RX00003", NEW_ACCOUNT, "2025-06-01", "4", "3", "", "5", "4", ""],
            # exactly D2 - W and exactly D2
            ["RX00004", "A0006", _iso(c2), "2", "2", "2", "2", "2", "6"],
            ["RX00005", "A0006", _iso(D2), "5", "5", "5", "5", "5", "10"],
        ],
    )

    header, _ = _read_rows(data_dir / "complaints.csv")

    def ts(d: date, hours: float = 0.0) -> str:
        return (datetime.combine(d, datetime.min.time()) + timedelta(hours=hours)).isoformat()

    _write_csv(
        data_dir / "complaints_extra.csv",
        header,
        [
            # opened exactly at D1 - W 00:00, resolved after 30 h (critical: breach)
            ["CX00001", "A0002", ts(c1), ts(c1, 30), "critical", "delivery"],
            # opened one hour before D1, unresolved, critical: open 1 h, no breach
            ["CX00002", "A0002", ts(D1, -1), "", "critical", "delivery"],
            # resolved exactly at D1 00:00: still open at D1, counts 144 h (its age) > 72 (breach)
            ["CX00003", "A0004", ts(D1, -144), ts(D1), "high", "service"],
            # opened exactly at D2 00:00: ignored at D2; resolved after exactly 24 h (critical: no breach)
            ["CX00004", "A0006", ts(D2), ts(D2, 24), "critical", "billing"],
            # opened exactly at D2 - W 00:00, unresolved long past any SLA
            ["CX00005", "A0006", ts(c2), "", "low", "billing"],
            # complaint of an account without orders -> complaint_rate NULL
            ["CX00006", NEW_ACCOUNT, ts(date(2025, 3, 1), 9.5), ts(date(2025, 3, 2), 10.25), "medium", "service"],
        ],
    )

    header, _ = _read_rows(data_dir / "invoices.csv")
    _write_csv(
        data_dir / "invoices_extra.csv",
        header,
        [
            # issued exactly D1 - W, paid exactly on D1: unpaid and late at D1
            ["IX00001", "A0002", _iso(c1), "2025-07-31", _iso(D1), "1000.00"],
            # due the day before D1, unpaid: late by one day
            ["IX00002", "A0002", "2026-06-01", "2026-06-30", "", "400.00"],
            # due exactly on D1, unpaid: not late yet
            ["IX00003", "A0002", "2026-06-01", _iso(D1), "", "600.00"],
            # paid after D2: unpaid and late at D2, paid late at D1
            ["IX00004", "A0004", "2025-12-20", "2026-01-10", "2026-01-20", "2000.00"],
            # paid on its due date: on time
            ["IX00005", "A0004", "2025-12-01", "2025-12-31", "2025-12-31", "300.00"],
            # zero amount, unpaid and overdue: overdue_ratio 0/0 -> NULL, days late still averaged
            ["IX00006", NEW_ACCOUNT, "2025-06-01", "2025-06-15", "", "0.00"],
            # issued exactly on D2: ignored at D2
            ["IX00007", "A0006", _iso(D2), "2026-02-14", "2026-03-01", "5000.00"],
        ],
    )

    header, _ = _read_rows(data_dir / "assessments.csv")
    _write_csv(
        data_dir / "assessments_extra.csv",
        header,
        [
            # the latest date in C1: one assessor rates twice that day (both count)
            ["A0001", "2026-06-30", "E01", "credit_risk", "5"],
            ["A0001", "2026-06-30", "E01", "credit_risk", "2"],
            # dated exactly D1: ignored at D1
            ["A0001", _iso(D1), "E02", "industry_position", "1"],
            # an account that starts after D2 (since 2026-04-11), assessed before it started
            ["A0013", "2025-12-01", "E01", "industry_position", "4"],
            # exactly D2 - W and exactly D2
            ["A0006", _iso(c2), "E09", "x_rare_dimension", "2"],
            ["A0006", _iso(D2), "E09", "x_rare_dimension", "5"],
        ],
    )

    header, _ = _read_rows(data_dir / "feedback.csv")
    _write_csv(
        data_dir / "feedback_extra.csv",
        header,
        [
            # exactly D1 - W (counts) and exactly D1 (ignored); a lone extra supervisor rating
            ["M004", _iso(c1), "supervisor", "planning", "1"],
            ["M004", _iso(D1), "supervisor", "planning", "5"],
            ["M003", _iso(D2), "self", "planning", "1"],
        ],
    )


# ---------------------------------------------------------------- reading the CSV files in plain Python


def _source_files(data_dir: Path, source: str) -> list[Path]:
    return sorted(
        p for p in data_dir.iterdir() if p.suffix == ".csv" and (p.stem == source or p.stem.startswith(source + "_"))
    )


def _load(data_dir: Path, source: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in _source_files(data_dir, source):
        rows.extend(_read_rows(path)[1])
    return rows


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text != "" else None


def _num(text: str) -> float | None:
    return float(text) if text != "" else None


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text != "" else None


def _stamp(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text != "" else None


SURVEY_SCORES = ("overall", "product_quality", "service_quality", "price_value", "responsiveness", "recommend")


def read_raw(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every source's rows from its CSV files, typed by hand (money as Decimal, as in DECIMAL(18,4))."""
    rows = {source: _load(data_dir, source) for source in SOURCES_IN_ORDER}
    for r in rows["accounts"]:
        r["since"] = _day(r["since"])
    for r in rows["orders"]:
        r.update(order_date=_day(r["order_date"]), net_amount=_dec(r["net_amount"]), cost_amount=_dec(r["cost_amount"]))
    for r in rows["surveys"]:
        r.update(responded_on=_day(r["responded_on"]), **{k: _num(r[k]) for k in SURVEY_SCORES})
    for r in rows["complaints"]:
        r.update(opened_at=_stamp(r["opened_at"]), resolved_at=_stamp(r["resolved_at"]))
    for r in rows["wallet"]:
        r.update(year=int(r["year"]), wallet_amount=float(r["wallet_amount"]))
    for r in rows["market"]:
        r.update(year=int(r["year"]), market_size=float(r["market_size"]))
    for r in rows["assessments"]:
        r.update(assessed_on=_day(r["assessed_on"]), score=float(r["score"]))
    for r in rows["feedback"]:
        r.update(reviewed_on=_day(r["reviewed_on"]), score=float(r["score"]))
    for r in rows["invoices"]:
        r.update(issued_on=_day(r["issued_on"]), due_on=_day(r["due_on"]), paid_on=_day(r["paid_on"]))
        r["amount"] = _dec(r["amount"])
    return rows


# ---------------------------------------------------------------- the recomputation


def _ratio(num, den) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return float(num) / float(den)


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _rescale(x: float | None) -> float | None:
    return None if x is None else (x - 1) / 4 * 100


def _window_years(as_of: date, window: int) -> dict[int, int]:
    """Calendar year -> days of C = [D - W, D) falling in it (a day-by-day count)."""
    days: dict[int, int] = defaultdict(int)
    d = as_of - timedelta(window)
    while d < as_of:
        days[d.year] += 1
        d += timedelta(1)
    return dict(days)


def _market_year(as_of: date, window: int) -> int:
    years = _window_years(as_of, window)
    return max(years, key=lambda y: (years[y], y))


def _months_overlapping(start: date, end_exclusive: date) -> int:
    last = end_exclusive - timedelta(1)
    return (last.year - start.year) * 12 + last.month - start.month + 1


def expected_account_indicators(raw: dict, as_of: date, window: int) -> dict[str, dict[str, Any]]:
    c_start = as_of - timedelta(window)
    p_start = as_of - timedelta(2 * window)
    churn_start = as_of - timedelta(CHURN_DAYS)
    months_in_c = _months_overlapping(c_start, as_of)
    window_years = _window_years(as_of, window)
    market_year = _market_year(as_of, window)

    accounts = [a for a in raw["accounts"] if a["since"] <= as_of]
    team_of = {m["manager_id"]: m["team_id"] for m in raw["managers"]}

    # orders
    per: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "revenue": Decimal(0),
            "revenue_prev": Decimal(0),
            "costed_net": Decimal(0),
            "costed_cost": Decimal(0),
            "costed_lines": 0,
            "orders": set(),
            "categories": set(),
            "months": set(),
            "last": None,
            "before_c": False,
            "recent": False,
            "first": None,
            "completed_in": set(),  # of "C", "P", "before P"
        }
    )
    for line in raw["orders"]:
        status = line["status"]
        day = line["order_date"]
        if status == "cancelled" or day >= as_of:
            continue
        assert status in ("completed", "returned"), status
        s = per[line["account_id"]]
        net, cost = line["net_amount"], line["cost_amount"]
        if status == "returned":
            net = -abs(net)
            cost = None if cost is None else -abs(cost)
        if c_start <= day:
            s["revenue"] += net
            if cost is not None:
                s["costed_net"] += net
                s["costed_cost"] += cost
                s["costed_lines"] += 1
        elif p_start <= day:
            s["revenue_prev"] += net
        if status == "completed":
            if c_start <= day:
                s["orders"].add(line["order_id"])
                s["categories"].add(line["product_category"])
                s["months"].add((day.year, day.month))
            else:
                s["before_c"] = True
            if day >= churn_start:
                s["recent"] = True
            if s["last"] is None or day > s["last"]:
                s["last"] = day
            if s["first"] is None or day < s["first"]:
                s["first"] = day
            s["completed_in"].add("C" if c_start <= day else "P" if p_start <= day else "before P")

    # wallet prorated over C
    wallet_rows: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for w in raw["wallet"]:
        if w["year"] in window_years:
            wallet_rows[w["account_id"]].append((w["year"], w["wallet_amount"]))
    wallet_window: dict[str, float] = {}
    for account_id, rows in wallet_rows.items():
        prorated = 0.0
        covered = 0
        for year, amount in rows:
            year_len = (date(year + 1, 1, 1) - date(year, 1, 1)).days
            prorated += amount * window_years[year] / year_len
            covered += window_years[year]
        wallet_window[account_id] = prorated * window / covered

    # market growth per (industry, region)
    size = {(m["industry"], m["region"], m["year"]): m["market_size"] for m in raw["market"]}

    def market_growth(industry: str, region: str) -> float | None:
        now = size.get((industry, region, market_year))
        before = size.get((industry, region, market_year - 1))
        if now is None or before is None or before == 0:
            return None
        return now / before - 1

    # surveys in C
    surveys: dict[str, list[dict]] = defaultdict(list)
    for r in raw["surveys"]:
        if c_start <= r["responded_on"] < as_of:
            surveys[r["account_id"]].append(r)

    # complaints opened in C (timestamps)
    c_start_ts = datetime.combine(c_start, datetime.min.time())
    as_of_ts = datetime.combine(as_of, datetime.min.time())
    complaints: dict[str, list[dict]] = defaultdict(list)
    for r in raw["complaints"]:
        if c_start_ts <= r["opened_at"] < as_of_ts:
            complaints[r["account_id"]].append(r)

    # invoices issued in C
    invoices: dict[str, list[dict]] = defaultdict(list)
    for r in raw["invoices"]:
        if c_start <= r["issued_on"] < as_of:
            invoices[r["account_id"]].append(r)

    out: dict[str, dict[str, Any]] = {}
    for a in accounts:
        aid = a["account_id"]
        s = per[aid]
        revenue, prev = s["revenue"], s["revenue_prev"]
        order_count = len(s["orders"])
        growth = _ratio(revenue - prev, prev)
        mg = market_growth(a["industry"], a["region"])
        row: dict[str, Any] = {
            "as_of_date": as_of,
            "account_id": aid,
            "account_name": a["account_name"],
            "segment": a["segment"],
            "industry": a["industry"],
            "region": a["region"],
            "manager_id": a["manager_id"],
            "team_id": team_of.get(a["manager_id"]),
            "window_days": window,
            "revenue": revenue,
            "revenue_prev": prev,
            "revenue_growth": growth,
            "gross_margin": _ratio(s["costed_net"] - s["costed_cost"], s["costed_net"]) if s["costed_lines"] else None,
            "order_count": order_count,
            "avg_order_value": _ratio(revenue, order_count),
            "order_frequency": order_count / (window / 30),
            "product_breadth": len(s["categories"]),
            "active_month_ratio": len(s["months"]) / months_in_c,
            "recency_days": None if s["last"] is None else (as_of - s["last"]).days,
            "last_order_date": s["last"],
            "tenure_years": (as_of - a["since"]).days / 365.25,
            "is_churned": int((prev > 0 or s["before_c"]) and not s["recent"]),
            "revenue_retention": None if prev == 0 else min(float(revenue) / float(prev), RETENTION_CAP),
            "wallet_amount_window": wallet_window.get(aid),
            "share_of_wallet": _ratio(revenue, wallet_window.get(aid)),
            "market_year": market_year,
            "market_growth": mg,
            "market_growth_gap": None if growth is None or mg is None else growth - mg,
        }

        rs = surveys.get(aid, [])
        for column, field in (
            ("csat", "overall"),
            ("product_quality", "product_quality"),
            ("service_quality", "service_quality"),
            ("price_value", "price_value"),
            ("responsiveness", "responsiveness"),
        ):
            row[column] = _rescale(_mean([r[field] for r in rs]))
        answered = [r["recommend"] for r in rs if r["recommend"] is not None]
        if answered:
            promoters = sum(1 for x in answered if x >= 9)
            detractors = sum(1 for x in answered if x <= 6)
            row["nps"] = 100.0 * (promoters - detractors) / len(answered)
        else:
            row["nps"] = None
        row["survey_count"] = len(rs)

        cs = complaints.get(aid, [])
        resolution_hours, breached, still_open = [], 0, 0
        for r in cs:
            sla = SLA_HOURS[r["severity"]]
            resolved = r["resolved_at"] is not None and r["resolved_at"] < as_of_ts
            # INDICATORS.md: (resolved_at, or D while still open) - opened_at; an open complaint counts its age.
            end = r["resolved_at"] if resolved else as_of_ts
            hours = (end - r["opened_at"]).total_seconds() / 3600
            resolution_hours.append(hours)
            breached += hours > sla
            still_open += not resolved
        row["complaint_count"] = len(cs)
        row["complaint_rate"] = _ratio(len(cs) * 100, order_count)
        row["avg_resolution_hours"] = _mean(resolution_hours)
        row["sla_breach_rate"] = _ratio(breached, len(cs))
        row["open_complaints"] = still_open

        inv = invoices.get(aid, [])
        late_amount, total_amount, days_late = Decimal(0), Decimal(0), []
        for r in inv:
            paid = r["paid_on"] if r["paid_on"] is not None and r["paid_on"] < as_of else None
            if paid is not None:
                late = paid > r["due_on"]
            else:
                late = r["due_on"] < as_of
            total_amount += r["amount"]
            late_amount += r["amount"] if late else 0
            days_late.append(float(max(0, ((paid or as_of) - r["due_on"]).days)))
        row["invoice_count"] = len(inv)
        row["overdue_ratio"] = _ratio(late_amount, total_amount) if inv else None
        row["avg_days_late"] = _mean(days_late)
        # Lifecycle, straight from INDICATORS.md's definitions.
        seen = s["completed_in"]
        if s["first"] is None:
            stage = "prospect"
        elif s["first"] >= c_start:
            stage = "new"
        elif {"P", "C"} <= seen:
            stage = "retained"
        elif "C" in seen:
            assert "before P" in seen
            stage = "reactivated"
        elif "P" in seen:
            stage = "churned"
        else:
            stage = "dormant"
        row["lifecycle_stage"] = stage
        row["first_order_date"] = s["first"]
        row["days_to_first_order"] = None if s["first"] is None else (s["first"] - a["since"]).days
        out[aid] = row
    return out


def expected_portfolio_kpis(
    raw: dict, accounts: dict[str, dict], as_of: date, window: int
) -> dict[str, dict[str, Any]]:
    market_year = _market_year(as_of, window)
    size = {(m["industry"], m["region"], m["year"]): m["market_size"] for m in raw["market"]}
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in accounts.values():
        groups[row["segment"]].append(row)
        groups["all"].append(row)
    groups.setdefault("all", [])
    out = {}
    for segment, rows in groups.items():
        revenue = sum((r["revenue"] for r in rows), Decimal(0))
        prev = sum((r["revenue_prev"] for r in rows), Decimal(0))
        base = [r for r in rows if r["revenue_prev"] > 0]
        retained = [r for r in base if r["revenue"] > 0]
        base_prev = sum((r["revenue_prev"] for r in base), Decimal(0))
        pairs = {(r["industry"], r["region"]) for r in rows}
        sizes = [size[(i, g, market_year)] for i, g in pairs if (i, g, market_year) in size]
        market_size = sum(sizes) if sizes else None
        logo = _ratio(len(retained), len(base))
        out[segment] = {
            "as_of_date": as_of,
            "segment": segment,
            "account_count": len(rows),
            "active_accounts": sum(1 for r in rows if r["revenue"] > 0),
            "revenue": revenue,
            "revenue_prev": prev,
            "revenue_growth": _ratio(revenue - prev, prev),
            "retained_accounts": len(retained),
            "logo_retention": logo,
            "churn_rate": None if logo is None else 1 - logo,
            "nrr": _ratio(sum((r["revenue"] for r in base), Decimal(0)), base_prev) if base else None,
            "grr": _ratio(sum((min(r["revenue"], r["revenue_prev"]) for r in base), Decimal(0)), base_prev)
            if base
            else None,
            "churned_accounts": sum(r["is_churned"] for r in rows),
            "market_size": market_size,
            "market_share": _ratio(revenue, market_size),
        }
    return out


def expected_account_assessments(raw: dict, as_of: date, window: int) -> dict[tuple[str, str], dict[str, Any]]:
    c_start = as_of - timedelta(window)
    in_snapshot = {a["account_id"] for a in raw["accounts"] if a["since"] <= as_of}
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in raw["assessments"]:
        if r["account_id"] in in_snapshot and c_start <= r["assessed_on"] < as_of:
            by_key[(r["account_id"], r["dimension"])].append(r)
    out = {}
    for key, rows in by_key.items():
        latest = max(r["assessed_on"] for r in rows)
        scores = [r["score"] for r in rows if r["assessed_on"] == latest]
        out[key] = {
            "as_of_date": as_of,
            "account_id": key[0],
            "dimension": key[1],
            "score": _rescale(sum(scores) / len(scores)),
            "assessor_count": len(scores),
            "assessed_on": latest,
        }
    return out


def expected_manager_indicators(
    raw: dict, accounts: dict[str, dict], as_of: date, window: int
) -> dict[str, dict[str, Any]]:
    c_start = as_of - timedelta(window)
    roles: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in raw["feedback"]:
        if c_start <= r["reviewed_on"] < as_of:
            roles[r["manager_id"]][r["reviewer_role"]].append(r["score"])
    out = {}
    for m in raw["managers"]:
        mid = m["manager_id"]
        rows = [r for r in accounts.values() if r["manager_id"] == mid]
        revenue = sum((r["revenue"] for r in rows), Decimal(0))
        prev = sum((r["revenue_prev"] for r in rows), Decimal(0))
        base = [r for r in rows if r["revenue_prev"] > 0]
        base_prev = sum((r["revenue_prev"] for r in base), Decimal(0))
        role_means = [sum(v) / len(v) for v in roles[mid].values()]
        out[mid] = {
            "as_of_date": as_of,
            "manager_id": mid,
            "manager_name": m["manager_name"],
            "team_id": m["team_id"],
            "team_name": m["team_name"],
            "account_count": len(rows),
            "revenue": revenue,
            "revenue_prev": prev,
            "revenue_growth": _ratio(revenue - prev, prev) if rows else None,
            "nrr": _ratio(sum((r["revenue"] for r in base), Decimal(0)), base_prev) if base else None,
            "grr": _ratio(sum((min(r["revenue"], r["revenue_prev"]) for r in base), Decimal(0)), base_prev)
            if base
            else None,
            "logo_retention": _ratio(sum(1 for r in base if r["revenue"] > 0), len(base)),
            "churned_accounts": sum(r["is_churned"] for r in rows),
            "feedback_score": _rescale(_mean(role_means)),
            "feedback_count": sum(len(v) for v in roles[mid].values()),
            "feedback_roles": len(roles[mid]),
        }
    return out


# ---------------------------------------------------------------- comparing


def _same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return int(expected) == int(actual)
    if isinstance(expected, (date, str)) or isinstance(actual, (date, str)):
        return expected == actual
    if isinstance(expected, (int, Decimal)) and isinstance(actual, (int, Decimal)):
        return Decimal(expected) == Decimal(actual)  # money and counts: exact
    e, a = float(expected), float(actual)
    if math.isnan(e) or math.isnan(a) or math.isinf(e) or math.isinf(a):
        return False  # neither side may produce NaN/inf: a zero denominator must give NULL
    return math.isclose(e, a, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _compare(table: str, expected: dict, actual: dict, columns: list[str]) -> list[str]:
    problems = []
    if set(expected) != set(actual):
        problems.append(
            f"{table}: keys differ: only expected {sorted(set(expected) - set(actual))}, "
            f"only in SQL {sorted(set(actual) - set(expected))}"
        )
    for key in sorted(set(expected) & set(actual)):
        for column in columns:
            assert column in actual[key], f"{table} has no column {column}"
            if not _same(expected[key][column], actual[key][column]):
                problems.append(
                    f"{table}[{key}].{column}: python={expected[key][column]!r} sql={actual[key][column]!r}"
                )
    return problems


ACCOUNT_COLUMNS = [
    "account_name", "segment", "industry", "region", "manager_id", "team_id", "window_days",
    "revenue", "revenue_prev", "revenue_growth", "gross_margin", "avg_order_value",
    "order_count", "order_frequency", "product_breadth", "active_month_ratio",
    "recency_days", "last_order_date", "tenure_years", "is_churned", "revenue_retention",
    "wallet_amount_window", "share_of_wallet", "market_year", "market_growth", "market_growth_gap",
    "csat", "product_quality", "service_quality", "price_value", "responsiveness", "nps", "survey_count",
    "complaint_count", "complaint_rate", "avg_resolution_hours", "sla_breach_rate", "open_complaints",
    "invoice_count", "overdue_ratio", "avg_days_late", "lifecycle_stage", "first_order_date", "days_to_first_order",
]  # fmt: skip
PORTFOLIO_COLUMNS = [
    "account_count", "active_accounts", "revenue", "revenue_prev", "revenue_growth", "retained_accounts",
    "logo_retention", "churn_rate", "nrr", "grr", "churned_accounts", "market_size", "market_share",
]  # fmt: skip
ASSESSMENT_COLUMNS = ["score", "assessor_count", "assessed_on"]
MANAGER_COLUMNS = [
    "manager_name", "team_id", "team_name", "account_count", "revenue", "revenue_prev", "revenue_growth",
    "nrr", "grr", "logo_retention", "churned_accounts", "feedback_score", "feedback_count", "feedback_roles",
]  # fmt: skip


# ---------------------------------------------------------------- the pipeline run


def _fetch(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("independent")
    data_dir = root / "data"
    generate_dataset(data_dir, accounts=25, days=800, seed=3, end=date(2026, 6, 30))
    _make_nasty(data_dir)

    conn = duckdb.connect(str(root / "kam.duckdb"))
    try:
        for source in SOURCES_IN_ORDER:
            ingest_source(conn, data_dir, source)
        staged, quarantined = {}, {}
        for source in SOURCES_IN_ORDER:
            staged[source] = _fetch(conn, f"select count(*) as n from staging.{source}")[0]["n"]
            quarantined[source] = _fetch(conn, f"select count(*) as n from quarantine.{source}")[0]["n"]
        model = load_model(None)
        params_by_date = {as_of: {**sql_params(model, as_of), "window_days": window} for as_of, window in CASES}
        for as_of in AS_OF_DATES:
            # The intermediate models first: account_indicators joins their snapshots of the date.
            for table in intermediate_order():
                write_sql_snapshot(conn, table, params_by_date[as_of], layer="intermediate")
            for table in MARTS_IN_ORDER:
                write_sql_snapshot(conn, table, params_by_date[as_of])
        sql = {
            as_of: {
                table: _fetch(conn, f"select * from marts.{table} where as_of_date = ?", [as_of])
                for table in MARTS_IN_ORDER
            }
            for as_of in AS_OF_DATES
        }
        ranges = {}
        for dates, window in RANGES:
            params = {**sql_params(model, dates[-1], list(dates)), "window_days": window}
            for table in intermediate_order():
                write_sql_snapshot(conn, table, params, layer="intermediate")
            # account_indicators reads the lifecycle of the same dates and window.
            write_sql_snapshot(conn, "account_lifecycle", params)
            rows = _fetch(
                conn, read_sql("marts/account_indicators"), bind(read_sql("marts/account_indicators"), params)
            )
            ranges[dates, window] = rows
    finally:
        conn.close()
    return {
        "defaults": sql_params(model, D1),
        "raw": read_raw(data_dir),
        "staged": staged,
        "quarantined": quarantined,
        "params": params_by_date,
        "sql": sql,
        "ranges": ranges,
    }


def test_model_defaults_match(world):
    params = world["defaults"]
    assert params["window_days"] == W
    assert params["churn_days"] == CHURN_DAYS
    assert params["retention_cap"] == RETENTION_CAP
    assert {sev: params[f"sla_{sev}_hours"] for sev in SLA_HOURS} == SLA_HOURS


def test_every_delivered_row_is_staged(world):
    """The recomputation reads the raw CSV files, so staging must hold exactly those rows."""
    assert world["quarantined"] == {source: 0 for source in SOURCES_IN_ORDER}
    assert world["staged"] == {source: len(world["raw"][source]) for source in SOURCES_IN_ORDER}
    assert sum(1 for r in world["raw"]["orders"] if r["order_id"].startswith("X")) == len(_nasty_orders())


CASE_IDS = [f"{d}-W{w}" for d, w in CASES]


@pytest.mark.parametrize(("as_of", "window"), CASES, ids=CASE_IDS)
def test_account_indicators(world, as_of, window):
    expected = expected_account_indicators(world["raw"], as_of, window)
    actual = {r["account_id"]: r for r in world["sql"][as_of]["account_indicators"]}
    problems = _compare("account_indicators", expected, actual, ACCOUNT_COLUMNS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("dates", "window"), RANGES, ids=[f"{d[0]}..{d[-1]}x{len(d)}-W{w}" for d, w in RANGES])
def test_account_indicators_of_a_date_range_in_one_query(world, dates, window):
    """A backfill computes its dates in one query; every date must equal the recomputation of that date alone."""
    rows = world["ranges"][dates, window]
    assert sorted({r["as_of_date"] for r in rows}) == sorted(dates)
    problems = []
    for as_of in dates:
        expected = expected_account_indicators(world["raw"], as_of, window)
        actual = {r["account_id"]: r for r in rows if r["as_of_date"] == as_of}
        assert len(actual) == sum(1 for r in rows if r["as_of_date"] == as_of)
        problems += [f"{as_of}: {p}" for p in _compare("account_indicators", expected, actual, ACCOUNT_COLUMNS)]
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize(("as_of", "window"), CASES, ids=CASE_IDS)
def test_portfolio_kpis(world, as_of, window):
    accounts = expected_account_indicators(world["raw"], as_of, window)
    expected = expected_portfolio_kpis(world["raw"], accounts, as_of, window)
    actual = {r["segment"]: r for r in world["sql"][as_of]["portfolio_kpis"]}
    problems = _compare("portfolio_kpis", expected, actual, PORTFOLIO_COLUMNS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("as_of", "window"), CASES, ids=CASE_IDS)
def test_account_assessments(world, as_of, window):
    expected = expected_account_assessments(world["raw"], as_of, window)
    actual = {(r["account_id"], r["dimension"]): r for r in world["sql"][as_of]["account_assessments"]}
    problems = _compare("account_assessments", expected, actual, ASSESSMENT_COLUMNS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("as_of", "window"), CASES, ids=CASE_IDS)
def test_manager_indicators(world, as_of, window):
    accounts = expected_account_indicators(world["raw"], as_of, window)
    expected = expected_manager_indicators(world["raw"], accounts, as_of, window)
    actual = {r["manager_id"]: r for r in world["sql"][as_of]["manager_indicators"]}
    problems = _compare("manager_indicators", expected, actual, MANAGER_COLUMNS)
    assert not problems, "\n".join(problems)


def test_edge_cases_are_exercised(world):
    """Guards the test itself: the nasty rows really hit the situations they were written for."""
    raw = world["raw"]
    snapshots = {as_of: expected_account_indicators(raw, as_of, window) for as_of, window in CASES}
    for (as_of, window), rows in zip(CASES, snapshots.values(), strict=True):
        new = rows[NEW_ACCOUNT]
        assert new["revenue"] == 0 and new["order_count"] == 0 and new["recency_days"] is None
        assert new["share_of_wallet"] is None and new["market_growth_gap"] is None and new["is_churned"] == 0
        assert rows["A0002"]["share_of_wallet"] is None  # all wallet rows removed
        if as_of != D4:  # (technology, east) lost its 2024 row; market_year 2024 has no 2023 anyway
            assert rows["A0014"]["market_growth"] is None
        assert expected_portfolio_kpis(raw, rows, as_of, window)["all"]["market_size"] is not None
        assert rows[LAPSED_ACCOUNT]["is_churned"] == 1
        assert (rows[LAPSED_ACCOUNT]["revenue_prev"] == 0) == (as_of in (D1, D4))  # 2024-05-01 is in P2, P3
        assert rows[RETURN_ONLY_ACCOUNT]["is_churned"] == 0 and rows[RETURN_ONLY_ACCOUNT]["recency_days"] is None

    d1 = snapshots[D1]
    assert {"A0013", "A0021"} <= d1.keys()
    assert d1["A0009"]["is_churned"] == 1  # a cancelled line in the churn window does not count
    assert d1["A0023"]["is_churned"] == 0  # completed exactly at D - churn_days
    assert d1["A0024"]["is_churned"] == 1  # completed one day earlier; a returned line inside does not count
    assert d1["A0005"]["recency_days"] == 1  # the line dated exactly D is ignored
    assert d1["A0004"]["open_complaints"] >= 1 and d1["A0004"]["sla_breach_rate"] > 0
    assert d1["A0002"]["gross_margin"] is not None and d1["A0002"]["overdue_ratio"] > 0
    assert d1["A0001"]["wallet_amount_window"] is not None  # scaled up from 2025 alone
    assert d1["A0001"]["market_year"] == 2025

    d2 = snapshots[D2]
    assert not {"A0013", "A0021"} & d2.keys()  # since > D2
    new = d2[NEW_ACCOUNT]
    assert new["complaint_rate"] is None and new["complaint_count"] == 1
    assert new["survey_count"] == 1 and new["nps"] is None and new["csat"] is not None
    assert new["overdue_ratio"] is None and new["avg_days_late"] is not None

    d3 = snapshots[D3]
    assert all(r["market_growth"] is None for r in d3.values())  # no 2023 market data
    assert d3["A0001"]["market_year"] == 2024
    assert sum(1 for r in d3.values() if r["share_of_wallet"] is not None) >= 20

    d4 = snapshots[D4]
    assert _window_years(D4, 364) == {2025: 182, 2026: 182}
    assert d4["A0001"]["market_year"] == 2026  # tie -> later year

    assessments = expected_account_assessments(raw, D1, W)
    assert assessments[("A0001", "credit_risk")]["assessor_count"] == 2  # one assessor rating twice that day
    assert ("A0013", "industry_position") in assessments
    assert ("A0013", "industry_position") not in expected_account_assessments(raw, D2, W)
