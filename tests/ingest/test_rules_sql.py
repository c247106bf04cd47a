"""The row rules applied in DuckDB agree with the pandera models, row by row, on randomised rows.

For every source with pandera checks, a seeded generator makes a few hundred rows of
*typed* values (valid values, values exactly at a limit and just outside it, negatives,
nulls in nullable and required columns, categories inside and outside the vocabulary,
date and timestamp pairs before, equal to and after each other). Each typed value comes
with the text a user would deliver for it (floats via `repr`, dates in ISO 8601,
categories in any case, timestamps with or without an offset). The text is ingested with
`ingest_source`; the typed values are validated by `schemas.MODELS[source]` itself. Both
must name the same broken rules for the same rows, and staging must hold exactly the rows
pandera accepts.

The typed value of a delivered cell is what the contract says it means, so two contract
leniencies appear on the typed side: a category is typed lower-case (it is delivered in
any case), and an empty `line_no` cell is typed as its default 1. Text values carry no
surrounding white space (it would be trimmed), and no row is empty in every column (an
empty line is no record). Nothing else of `rules_sql.py` is reproduced here.

The SQL is generated from the models, and a model check without a translation stops the
import (the last test), so no rule can be missing from the SQL. What these rows still guard
is that each translation means what pandera means at the edges: values exactly at a limit
and just outside it, amounts within the staged decimal's rounding of a limit, nulls, and
date pairs before, equal to and after each other.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import subprocess
import sys
import textwrap
import typing
from collections.abc import Callable

import duckdb
import pandera.errors
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ingest_support import (
    csv_text,
    row,
    rows_of,
    write,
)
from kam_pipeline.ingest.contract import AMOUNT, SOURCES
from kam_pipeline.ingest.load import ingest_source
from kam_pipeline.ingest.rules_sql import row_check_column
from kam_pipeline.ingest.schemas import MODELS

ROWS = 300
MANAGERS = 10
T0 = dt.datetime(2026, 1, 1, 8, 0, 0)

# A cell: the typed value (None is null) and the text delivered for it ("" is an empty cell).
Cell = tuple[object, str]
Gen = Callable[[random.Random, int], dict[str, Cell]]

POLARS_TYPES = {str: pl.String, int: pl.Int64, float: pl.Float64, dt.date: pl.Date, dt.datetime: pl.Datetime("us")}


# --- typed values and the text a user delivers for them -------------------------------------------------


def null_or(rng: random.Random, p: float, make: Callable[[], Cell]) -> Cell:
    return (None, "") if rng.random() < p else make()


def text_cell(value: str) -> Cell:
    return value, value


FREE_TEXT = (
    "widgets",
    "delivery",
    "strategy",
    "expert 1",
    "communication",
    "retail",
    "east",
    "NA",
    "N/A",
    "null",
    "None",
    "a, b",
    'say "hi"',
    "华东",
    "Zürich",
    "line one\nline two",
    "x" * 120,
    "0",
    "-1",
    "2024-01-01",
)


def free_text(rng: random.Random, p_null: float = 0.04) -> Cell:
    return null_or(rng, p_null, lambda: text_cell(rng.choice(FREE_TEXT)))


def ident(rng: random.Random, value: str, p_null: float = 0.04) -> Cell:
    return null_or(rng, p_null, lambda: text_cell(value))


def any_case(rng: random.Random, word: str) -> str:
    style = rng.randrange(4)
    if style == 0:
        return word
    if style == 1:
        return word.upper()
    if style == 2:
        return word.title()
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in word)


def category(rng: random.Random, vocabulary: tuple[str, ...], outside: tuple[str, ...]) -> Cell:
    """A category typed lower-case (as the contract stores it), delivered in any case."""

    def make() -> Cell:
        word = rng.choice(vocabulary) if rng.random() < 0.7 else rng.choice(outside)
        return word, any_case(rng, word)

    return null_or(rng, 0.05, make)


def float_text(rng: random.Random, x: float) -> str:
    # A spreadsheet writes a whole number without the point now and then.
    if x.is_integer() and abs(x) < 2**53 and rng.random() < 0.3 and not (x == 0 and math.copysign(1, x) < 0):
        return str(int(x))
    return repr(x)


def bounded_float(
    rng: random.Random, lo: float | None, hi: float | None, p_null: float = 0.05, magnitude: float = 1e6
) -> Cell:
    """A float around the limits [lo, hi] (either may be open): at, just inside, just outside, far away."""

    def make() -> Cell:
        inside = [
            round(rng.uniform(lo if lo is not None else -magnitude, hi if hi is not None else magnitude), 2),
            rng.uniform(lo if lo is not None else -magnitude, hi if hi is not None else magnitude),
        ]
        if lo is not None and hi is not None:
            inside.append(float(rng.randint(int(lo), int(hi))))
        edges: list[float] = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            -1e-9,
            1e-9,
            -5e-324,
            5e-324,
            rng.uniform(-magnitude, magnitude),
            round(rng.uniform(-100, 100), 4),
            float(rng.randint(-3, 12)),
        ]
        for limit in (lo, hi):
            if limit is not None:
                edges += [
                    limit,
                    limit,
                    math.nextafter(limit, math.inf),
                    math.nextafter(limit, -math.inf),
                    limit + 1e-7,
                    limit - 1e-7,
                    limit + 0.5,
                    limit - 0.5,
                    limit + 1,
                    limit - 1,
                ]
        x = float(rng.choice(inside if rng.random() < 0.6 else edges))
        return x, float_text(rng, x)

    return null_or(rng, p_null, make)


def year(rng: random.Random) -> Cell:
    def make() -> Cell:
        y = rng.choice(
            [
                1899,
                1900,
                1901,
                2199,
                2200,
                2201,
                0,
                -1,
                -1900,
                2024,
                2025,
                10**12,
                -(10**15),
                2**62,
                rng.randint(1850, 2250),
                rng.randint(1900, 2200),
                rng.randint(1990, 2030),
            ]
        )
        # A float export writes "2024.0".
        return y, f"{y}.0" if abs(y) < 2**53 and rng.random() < 0.15 else str(y)

    return null_or(rng, 0.05, make)


def line_no(rng: random.Random) -> Cell:
    n = rng.choice([1, 1, 2, 3, 0, -1, -7, 1000, 2**40, rng.randint(-5, 50)])
    if n == 1 and rng.random() < 0.4:
        return 1, ""  # an empty line_no means line 1
    return n, f"{n}.0" if rng.random() < 0.1 else str(n)


def a_date(rng: random.Random) -> dt.date:
    if rng.random() < 0.03:
        return rng.choice([dt.date(1000, 1, 1), dt.date(1899, 12, 31), dt.date(9999, 12, 31), dt.date(2024, 2, 29)])
    return dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(55_000))


def shifted(d: dt.date, days: int) -> dt.date:
    """`d` moved by `days`, or `d` itself at the end of the calendar."""
    try:
        return d + dt.timedelta(days=days)
    except OverflowError:
        return d


def date_cell(rng: random.Random, d: dt.date | None) -> Cell:
    return (None, "") if d is None else (d, d.isoformat())


def a_timestamp(rng: random.Random) -> dt.datetime:
    t = dt.datetime(1990, 1, 1) + dt.timedelta(seconds=rng.randrange(50 * 365 * 86_400))
    if rng.random() < 0.5:
        t = t.replace(microsecond=rng.choice([1, 999_999, rng.randrange(1_000_000)]))
    elif rng.random() < 0.3:
        t = t.replace(second=0) if rng.random() < 0.5 else t.replace(hour=0, minute=0, second=0)
    return t


def timestamp_text(rng: random.Random, t: dt.datetime) -> str:
    """`t` (UTC) as a user writes it: ISO with T or blank, shortened at midnight, or with an offset."""
    style = rng.randrange(6)
    if style == 0:
        return t.isoformat()
    if style == 1:
        return t.isoformat(sep=" ")
    if style == 2:
        return t.isoformat() + "Z"
    if style == 3:
        offset = rng.choice([dt.timedelta(hours=8), dt.timedelta(hours=-5, minutes=-30), dt.timedelta(0)])
        return t.replace(tzinfo=dt.UTC).astimezone(dt.timezone(offset)).isoformat(sep=rng.choice("T "))
    if style == 4 and t.second == 0 and t.microsecond == 0:
        return t.isoformat(timespec="minutes")
    if style == 5 and t.time() == dt.time(0):
        return t.date().isoformat()
    return t.isoformat()


def timestamp_cell(rng: random.Random, t: dt.datetime | None) -> Cell:
    return (None, "") if t is None else (t, timestamp_text(rng, t))


# --- one generator per source -----------------------------------------------------------------------------


def account(rng: random.Random) -> Cell:
    return ident(rng, f"A{rng.randrange(ROWS)}")


def orders(rng: random.Random, i: int) -> dict[str, Cell]:
    return {
        "order_id": ident(rng, f"O{i}"),
        "line_no": line_no(rng),
        "account_id": account(rng),
        "order_date": date_cell(rng, None if rng.random() < 0.04 else a_date(rng)),
        "product_category": free_text(rng),
        "quantity": bounded_float(rng, 0, None),
        "net_amount": bounded_float(rng, None, None, magnitude=1e12),
        "cost_amount": bounded_float(rng, 0, None, p_null=0.15, magnitude=1e12),
        "status": category(
            rng, ("completed", "cancelled", "returned"), ("shipped", "complete", "cancelled.", "return", "pending")
        ),
    }


def surveys(rng: random.Random, i: int) -> dict[str, Cell]:
    scores = {
        c: bounded_float(rng, 1, 5, p_null=0.2)
        for c in ("overall", "product_quality", "service_quality", "price_value", "responsiveness")
    }
    return {
        "response_id": ident(rng, f"S{i}"),
        "account_id": account(rng),
        "responded_on": date_cell(rng, None if rng.random() < 0.04 else a_date(rng)),
        **scores,
        "recommend": bounded_float(rng, 0, 10, p_null=0.2),
    }


TIMESTAMP_STEPS = (
    -dt.timedelta(days=3),
    -dt.timedelta(hours=1),
    -dt.timedelta(seconds=1),
    -dt.timedelta(microseconds=1),
    dt.timedelta(0),
    dt.timedelta(0),
    dt.timedelta(microseconds=1),
    dt.timedelta(seconds=1),
    dt.timedelta(hours=5),
    dt.timedelta(days=40),
)


def complaints(rng: random.Random, i: int) -> dict[str, Cell]:
    opened = None if rng.random() < 0.06 else a_timestamp(rng)
    base = opened or a_timestamp(rng)
    resolved = None if rng.random() < 0.15 else base + rng.choice(TIMESTAMP_STEPS)
    return {
        "complaint_id": ident(rng, f"C{i}"),
        "account_id": account(rng),
        "opened_at": timestamp_cell(rng, opened),
        "resolved_at": timestamp_cell(rng, resolved),
        "severity": category(rng, ("low", "medium", "high", "critical"), ("urgent", "lowest", "hi", "severe")),
        "category": free_text(rng),
    }


def wallet(rng: random.Random, i: int) -> dict[str, Cell]:
    # One account per row keeps (account_id, year) unique: no cross-row rule comes into play.
    return {
        "account_id": ident(rng, f"A{i}"),
        "year": year(rng),
        "wallet_amount": bounded_float(rng, 0, None, magnitude=1e9),
    }


def market(rng: random.Random, i: int) -> dict[str, Cell]:
    return {
        "industry": ident(rng, f"industry {i}"),
        "region": free_text(rng),
        "year": year(rng),
        "market_size": bounded_float(rng, 0, None, magnitude=1e12),
    }


def assessments(rng: random.Random, i: int) -> dict[str, Cell]:
    return {
        "account_id": account(rng),
        "assessed_on": date_cell(rng, None if rng.random() < 0.04 else a_date(rng)),
        "assessor": free_text(rng),
        "dimension": free_text(rng),
        "score": bounded_float(rng, 1, 5),
    }


def feedback(rng: random.Random, i: int) -> dict[str, Cell]:
    return {
        "manager_id": ident(rng, f"M{rng.randrange(MANAGERS)}"),
        "reviewed_on": date_cell(rng, None if rng.random() < 0.04 else a_date(rng)),
        "reviewer_role": category(
            rng,
            ("self", "supervisor", "peer", "subordinate", "customer"),
            ("boss", "peers", "client", "manager", "self-review"),
        ),
        "competency": free_text(rng),
        "score": bounded_float(rng, 1, 5),
    }


DAY_STEPS = (-365, -30, -1, 0, 0, 1, 2, 30, 90)


def invoices(rng: random.Random, i: int) -> dict[str, Cell]:
    issued = None if rng.random() < 0.06 else a_date(rng)
    base = issued or a_date(rng)
    due = None if rng.random() < 0.06 else shifted(base, rng.choice(DAY_STEPS))
    paid = None if rng.random() < 0.4 else shifted(base, rng.randrange(-10, 100))
    return {
        "invoice_id": ident(rng, f"I{i}"),
        "account_id": account(rng),
        "issued_on": date_cell(rng, issued),
        "due_on": date_cell(rng, due),
        "paid_on": date_cell(rng, paid),
        "amount": bounded_float(rng, 0, None, magnitude=1e12),
    }


def acquisition(rng: random.Random, i: int) -> dict[str, Cell]:
    acquired = None if rng.random() < 0.06 else a_date(rng)
    return {
        # The key: one row per account (A0 .. A<ROWS-1> exist), so no duplicate-key rule comes into play.
        "account_id": ident(rng, f"A{i}"),
        "acquired_on": date_cell(rng, acquired),
        "acquisition_cost": bounded_float(rng, 0, None, magnitude=1e12),
    }


GENERATORS: dict[str, Gen] = {
    "orders": orders,
    "surveys": surveys,
    "complaints": complaints,
    "wallet": wallet,
    "market": market,
    "assessments": assessments,
    "feedback": feedback,
    "invoices": invoices,
    "acquisition": acquisition,
}


def generate(source: str, seed: int) -> list[dict[str, Cell]]:
    rng = random.Random(f"{source}-{seed}")
    rows: list[dict[str, Cell]] = []
    while len(rows) < ROWS:
        cells = GENERATORS[source](rng, len(rows))
        if any(text for _, text in cells.values()):  # an empty line is no record
            rows.append(cells)
    return rows


# --- the two validations -------------------------------------------------------------------------------------


def typed_frame(source: str, rows: list[dict[str, Cell]]) -> pl.DataFrame:
    """The typed values as a polars frame with the dtypes the pandera model annotates."""
    hints = typing.get_type_hints(MODELS[source])
    columns = list(MODELS[source].to_schema().columns)
    schema = {c: POLARS_TYPES[hints[c]] for c in columns}
    return pl.DataFrame({c: [r[c][0] for r in rows] for c in columns}, schema=schema)


def pandera_failures(source: str, frame: pl.DataFrame) -> list[tuple[int, str, str]]:
    """(row number, column, check) of every failure pandera reports; row 1 is the frame's first row."""
    try:
        MODELS[source].validate(frame, lazy=True)
        return []
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    unplaced = cases.filter(pl.col("index").is_null())
    assert unplaced.height == 0, f"pandera failures not tied to a row:\n{unplaced}"
    found = []
    for context, column, check, index in cases.select("schema_context", "column", "check", "index").iter_rows():
        if context == "DataFrameSchema":
            column = next(row_check_column(c) for c in MODELS[source].to_schema().checks if c.name == check)
        found.append((index + 1, column, check))
    return sorted(found)


def ingest_rows(conn: duckdb.DuckDBPyConnection, data_dir, source: str, rows: list[dict[str, Cell]]) -> None:
    """Deliver the reference data every row refers to, then `rows` as `<source>.csv`, and ingest them."""
    managers = [row("managers", manager_id=f"M{m}") for m in range(MANAGERS)]
    accounts = [row("accounts", account_id=f"A{a}", manager_id=f"M{a % MANAGERS}") for a in range(ROWS)]
    write(data_dir, "managers.csv", csv_text("managers", managers))
    write(data_dir, "accounts.csv", csv_text("accounts", accounts))
    write(data_dir, f"{source}.csv", csv_text(source, [{c: text for c, (_, text) in r.items()} for r in rows]))
    for name in ("managers", "accounts", source):
        ingest_source(conn, data_dir, name, now=T0)


def sql_failures(conn: duckdb.DuckDBPyConnection, source: str) -> list[tuple[int, str, str]]:
    return sorted(
        rows_of(
            conn,
            "select _row_number, \"column\", rule from quarantine.rule_violations where source = ? and stage = 'row'",
            [source],
        )
    )


def explain(source: str, rows: list[dict[str, Cell]], rows_concerned: set[int]) -> str:
    lines = []
    for n in sorted(rows_concerned)[:15]:
        lines.append(f"  row {n}: " + ", ".join(f"{c}={v!r} (delivered {t!r})" for c, (v, t) in rows[n - 1].items()))
    return "\n".join(lines)


def every_rule(source: str) -> set[tuple[str, str]]:
    """(column, check) of every rule of the model a delivered row can break.

    Its checks, and not_nullable of each required column without a default (an empty cell
    of a column with a default is the default).
    """
    schema = MODELS[source].to_schema()
    spec = SOURCES[source]
    rules = {(name, check.error) for name, column in schema.columns.items() for check in column.checks}
    rules |= {
        (name, "not_nullable")
        for name, column in schema.columns.items()
        if not column.nullable and spec.column(name).default is None
    }
    rules |= {(row_check_column(check), check.name) for check in schema.checks}
    return rules


def limits(source: str) -> list[tuple[str, float]]:
    """(column, limit) of every ge/le check of the model."""
    return [
        (name, check.statistics.get("min_value", check.statistics.get("max_value")))
        for name, column in MODELS[source].to_schema().columns.items()
        for check in column.checks
        if check.name in ("greater_than_or_equal_to", "less_than_or_equal_to")
    ]


def assert_staged_values_are_the_typed_values(
    conn: duckdb.DuckDBPyConnection, source: str, frame: pl.DataFrame, passing: set[int]
) -> None:
    """The staged rows hold the typed values pandera accepted (amounts rounded to DECIMAL(18,4))."""
    staged = (
        conn.sql(f"select * exclude (_source_file) from staging.{source} order by _row_number")
        .pl()
        .with_columns(pl.col(pl.Decimal).cast(pl.Float64))
    )
    typed = (
        frame.with_row_index("_row_number", offset=1)
        .with_columns(pl.col("_row_number").cast(pl.Int64))
        .filter(pl.col("_row_number").is_in(sorted(passing)))
        .select(staged.columns)
    )
    amounts = [c.name for c in SOURCES[source].columns if c.sql_type == AMOUNT]
    assert_frame_equal(staged.drop(amounts), typed.drop(amounts), check_exact=True)
    assert_frame_equal(staged.select(amounts), typed.select(amounts), rel_tol=1e-15, abs_tol=5.01e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("source", list(GENERATORS))
def test_sql_row_rules_agree_with_pandera(conn, data_dir, source, seed):
    assert set(GENERATORS) == {
        s for s, m in MODELS.items() if m.to_schema().checks or any(c.checks for c in m.to_schema().columns.values())
    }, "a source with pandera checks has no generator here"
    rows = generate(source, seed)
    assert all(list(r) == SOURCES[source].column_names for r in rows), "generator and contract columns differ"

    frame = typed_frame(source, rows)
    expected = pandera_failures(source, frame)
    ingest_rows(conn, data_dir, source, rows)
    actual = sql_failures(conn, source)

    if actual != expected:
        only_sql = sorted(set(actual) - set(expected))
        only_pandera = sorted(set(expected) - set(actual))
        concerned = {n for n, _, _ in only_sql + only_pandera}
        pytest.fail(
            f"{source}: DuckDB and pandera disagree\n only in DuckDB: {only_sql[:20]}\n"
            f" only in pandera: {only_pandera[:20]}\n"
            f" (duplicates: {len(actual) - len(set(actual))} in DuckDB, {len(expected) - len(set(expected))} "
            f"in pandera)\n{explain(source, rows, concerned)}"
        )

    # The set-up brings no cross-row rule into play, so staging is exactly what pandera accepts.
    assert rows_of(
        conn, "select count(*) from quarantine.rule_violations where source = ? and stage <> 'row'", [source]
    ) == [(0,)]
    failing = {n for n, _, _ in expected}
    passing = set(range(1, ROWS + 1)) - failing
    staged = {n for (n,) in rows_of(conn, f"select _row_number from staging.{source}")}
    assert staged == passing
    assert rows_of(conn, f"select count(*) from staging.{source}") == [(len(passing),)]
    assert_staged_values_are_the_typed_values(conn, source, frame, passing)

    # Not vacuous: rows pass and fail, and every rule of the model is broken somewhere.
    assert len(passing) >= ROWS // 20 and len(failing) >= ROWS // 20, (len(passing), len(failing))
    assert every_rule(source) <= {(column, check) for _, column, check in expected}
    # ... and values exactly at each limit are delivered (and pass, as the agreement above shows).
    for column, limit in limits(source):
        assert (frame[column] == limit).sum() > 0, (column, limit)


def test_non_finite_floats_are_not_numbers_to_sql_while_pandera_accepts_some(conn, data_dir):
    """A known difference, kept out of the random mix above: NaN and ±inf (`repr` gives nan, inf, -inf).

    The SQL typing rejects every non-finite float as "not a number". The pandera models have
    no such rule: pandera accepts inf where no upper bound applies, and NaN in a nullable
    column with only a lower bound (a NaN is null to pandera, and polars orders it above every
    number). The staged table never holds such a value, so satisfies_contract cannot notice.
    """

    def order(i: int, **floats: float) -> dict[str, Cell]:
        cells = {c: (v, v) for c, v in row("orders", order_id=f"O{i}").items()}
        typed = {
            "line_no": 1,
            "order_date": dt.date(2024, 1, 5),
            "quantity": 2.0,
            "net_amount": 100.5,
            "cost_amount": 60.0,
        }
        cells.update({c: (v, cells[c][1]) for c, v in typed.items()})
        cells.update({c: (x, repr(x)) for c, x in floats.items()})
        return cells

    rows = [
        order(0),
        order(1, cost_amount=math.nan),
        order(2, net_amount=math.inf),
        order(3, quantity=math.inf),
        order(4, quantity=-math.inf),
        order(5, quantity=math.nan),
    ]
    ingest_rows(conn, data_dir, "orders", rows)

    assert sql_failures(conn, "orders") == [
        (2, "cost_amount", "not a number"),
        (3, "net_amount", "not a number"),
        (4, "quantity", "not a number"),
        (5, "quantity", "not a number"),
        (6, "quantity", "not a number"),
    ]
    # Rows 2 to 4 pass pandera.
    assert pandera_failures("orders", typed_frame("orders", rows)) == [
        (5, "quantity", "greater_than_or_equal_to(0)"),
        (6, "quantity", "not_nullable"),
    ]


def test_a_model_check_without_sql_stops_the_import():
    """A check added to a pandera model with no translation is no silent gap: loading the rules fails, naming it."""
    code = textwrap.dedent(
        """
        import pandera.polars as pa
        from kam_pipeline.ingest import schemas

        class Orders(schemas.Orders):
            order_id: str = pa.Field(str_startswith="O")

        schemas.MODELS["orders"] = Orders
        import kam_pipeline.ingest.rules_sql
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert "ContractError" in done.stderr
    assert "Orders.order_id: str_startswith" in done.stderr.splitlines()[-1]
