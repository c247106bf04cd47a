"""Every construct the Spark translation fixes, run on both real engines on data where sqlglot's plain
duckdb -> spark transpilation gives another answer (or does not run): the fixed translation must give
DuckDB's rows, and the plain one must not, so each test would have caught the bug it guards against."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from kam_pipeline.engines.spark_sql import UntranslatableSql, literal, to_spark
from kam_pipeline.warehouse.sql_files import bind


def _tables(duck: duckdb.DuckDBPyConnection, spark, tables: dict[str, str]) -> None:
    """Create each table in DuckDB from its select and the same rows as a Spark view of that name."""
    for name, select in tables.items():
        duck.execute(f"create or replace table {name} as {select}")
        spark.createDataFrame(duck.table(name).to_arrow_table()).createOrReplaceTempView(name)


def _duckdb_rows(duck: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple]:
    return sorted(duck.execute(sql, bind(sql, params)).fetchall(), key=repr)


def _spark_rows(spark, sql: str) -> list[tuple]:
    return sorted((tuple(row) for row in spark.sql(sql).collect()), key=repr)


def _naive(spark, sql: str, params: dict[str, Any]) -> list[tuple] | Exception:
    """sqlglot's own transpilation (parameters bound the same way): its rows, or the error Spark raised."""
    tree = sqlglot.parse_one(sql, read="duckdb").transform(
        lambda node: literal(params[node.name]) if isinstance(node, exp.Placeholder) and node.name else node
    )
    text = tree.sql(dialect="spark")
    try:
        return _spark_rows(spark, text)
    except Exception as exc:  # Spark's parse and analysis errors have no common base class
        return exc


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same Python type (floats within 1e-9 relative)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))
    return a == b


def _same_rows(left: list[tuple], right: Any) -> bool:
    if not isinstance(right, list) or len(left) != len(right):
        return False
    return all(
        len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
        for x, y in zip(left, right, strict=True)
    )


def _check(duck, spark, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
    """Assert the translation gives DuckDB's rows on Spark and the plain transpilation does not; return them."""
    params = params or {}
    expected = _duckdb_rows(duck, sql, params)
    actual = _spark_rows(spark, to_spark(sql, params))
    assert _same_rows(expected, actual), f"DuckDB {expected} != Spark {actual}"
    naive = _naive(spark, sql, params)
    assert not _same_rows(expected, naive), f"the plain transpilation already gives {naive}: test data too easy"
    return expected


@pytest.fixture
def duck():
    with duckdb.connect() as conn:
        yield conn


def test_two_unnests_zip_as_in_duckdb(duck, spark):
    # DuckDB walks both lists side by side (the shorter padded with NULL): 3 rows, not 9.
    sql = "select unnest($names::varchar[]) as role, unnest($weights::double[]) as weight"
    rows = _check(duck, spark, sql, {"names": ["peer", "manager", "customer"], "weights": [1.0, 2.5]})
    assert rows == sorted([("peer", 1.0), ("manager", 2.5), ("customer", None)], key=repr)


def test_month_and_year_diff_count_calendar_boundaries(duck, spark):
    _tables(
        duck,
        spark,
        {
            "spans": "select * from (values (date '2025-01-31', date '2025-02-01'), "
            "(date '2024-12-15', date '2025-03-14'), (date '2024-03-01', date '2024-03-31')) as t (a, b)"
        },
    )
    rows = _check(
        duck, spark, "select a, date_diff('month', a, b) as months, date_diff('year', a, b) as years from spans"
    )
    # Worked by hand, by first date: Mar 1 -> Mar 31 crosses no boundary, Dec 15 -> Mar 14 three months
    # and one year, Jan 31 -> Feb 1 one month.
    assert [(r[1], r[2]) for r in sorted(rows)] == [(0, 0), (3, 1), (1, 0)]


def test_format_fields_and_null_as_in_duckdb(duck, spark):
    _tables(duck, spark, {"scores": "select * from (values (61.27, 'a'), (null, 'b'), (-3.04, null)) as t (x, who)"})
    rows = _check(
        duck, spark, "select who, format('{} moved {:+.1f} ({:.2f} %)', who, x::double, x::double) as what from scores"
    )
    assert sorted(rows, key=repr) == sorted([("a", "a moved +61.3 (61.27 %)"), ("b", None), (None, None)], key=repr)


def test_not_materialized_cte_runs(duck, spark):
    rows = _check(duck, spark, "with a as not materialized (select 2 as x) select x * 3 as y from a")
    assert rows == [(6,)]


def test_generate_series_in_a_join(duck, spark):
    _tables(duck, spark, {"spans": "select * from (values (2023, 2025), (2024, 2024)) as t (first_year, last_year)"})
    rows = _check(
        duck,
        spark,
        "select spans.first_year, years.year from spans cross join generate_series(first_year, last_year) as years (year)",
    )
    assert rows == [(2023, 2023), (2023, 2024), (2023, 2025), (2024, 2024)]


def test_epoch_of_an_interval(duck, spark):
    _tables(
        duck,
        spark,
        {
            "tickets": "select * from (values (timestamp '2025-01-01 10:30:00.5', timestamp '2025-01-02 00:00:00')) "
            "as t (opened_at, resolved_at)"
        },
    )
    rows = _check(duck, spark, "select epoch(resolved_at - opened_at) / 3600.0 as hours from tickets")
    # 13 h 29 min 59.5 s, worked by hand.
    assert math.isclose(rows[0][0], (13 * 3600 + 29 * 60 + 59.5) / 3600, rel_tol=1e-12)


def test_list_position_of_a_missing_value_is_null(duck, spark):
    _tables(duck, spark, {"grades": "select * from (values ('B'), ('Z')) as t (grade)"})
    rows = _check(
        duck,
        spark,
        "select grade, list_position($names::varchar[], grade) as band from grades",
        {"names": ["A", "B", "C"]},
    )
    assert rows == [("B", 2), ("Z", None)]


def test_union_all_by_name(duck, spark):
    sql = (
        "select 1 as a, 'x' as b union all by name select 'y' as b, 2 as a "
        "union all by name select 3 as a, 'z' as b, true as c"
    )
    rows = _check(duck, spark, sql)
    assert rows == sorted([(1, "x", None), (2, "y", None), (3, "z", True)], key=repr)


def test_decimal_division_is_double_division(duck, spark):
    # Spark divides decimals in DECIMAL rounded to 6 places (1/3 -> 0.333333); DuckDB in DOUBLE.
    _tables(
        duck, spark, {"amounts": "select * from (values (1.00::decimal(38, 12), 3.00::decimal(38, 12))) as t (x, y)"}
    )
    rows = _check(duck, spark, "select sum(x) / sum(y) as share from amounts")
    assert rows == [(1 / 3,)]


def test_average_of_decimals_is_double(duck, spark):
    _tables(duck, spark, {"ratings": "select * from (values (4), (5), (5)) as t (overall)"})
    rows = _check(duck, spark, "select (avg(cast(overall as decimal(38, 12))) - 1) / 4 * 100 as csat from ratings")
    assert math.isclose(rows[0][0], (14 / 3 - 1) / 4 * 100, rel_tol=1e-12)


def test_decimal_products_are_exact(duck, spark):
    # The session setting allowPrecisionLoss=false keeps a product's 24 places as DuckDB does (Spark's
    # default rounds it to 6: 0.151852).
    _tables(
        duck,
        spark,
        {"w": "select * from (values (1234.567891::decimal(38, 12), 0.000123::decimal(38, 12))) as t (x, y)"},
    )
    sql = "select x * y as p from w"
    expected = _duckdb_rows(duck, sql, {})
    assert expected == [(Decimal("0.151851850593000000000000"),)]
    assert _spark_rows(spark, to_spark(sql, {})) == expected


def test_a_construct_without_translation_is_refused():
    with pytest.raises(UntranslatableSql, match="format"):
        to_spark("select format('{:>8}', x) from t")
    with pytest.raises(UntranslatableSql, match="staging.orders"):
        to_spark("select * from staging.orders", tables={})


def test_parameters_are_bound_as_literals(duck, spark):
    sql = "select $d::date + $n::integer as d, $f::double * 2 as f, $s as s"
    params = {"d": dt.date(2024, 2, 28), "n": 2, "f": 0.1, "s": "it's"}
    expected = _duckdb_rows(duck, sql, params)
    assert expected == [(dt.date(2024, 3, 1), 0.2, "it's")]
    assert _spark_rows(spark, to_spark(sql, params)) == expected


def test_asof_left_join_takes_the_nearest_earlier_row(duck, spark):
    # For each account and date: the running total of the last order day before it (none: NULL).
    _tables(
        duck,
        spark,
        {
            "snapshots": "select * from (values ('a', date '2025-03-01'), ('a', date '2025-01-01'), "
            "('b', date '2025-03-01')) as t (account_id, as_of_date)",
            "running": "select * from (values ('a', date '2025-02-01', 10), ('a', date '2025-02-20', 25), "
            "('a', date '2025-03-01', 40), ('b', date '2025-03-02', 7)) as t (account_id, order_date, total)",
        },
    )
    rows = _check(
        duck,
        spark,
        "select s.account_id, s.as_of_date, r.total from snapshots as s asof left join running as r "
        "on s.account_id = r.account_id and s.as_of_date > r.order_date",
    )
    # Worked by hand: a on Mar 1 sees Feb 20 (25; Mar 1 itself is not before it), a on Jan 1 and b nothing.
    assert rows == [("a", dt.date(2025, 1, 1), None), ("a", dt.date(2025, 3, 1), 25), ("b", dt.date(2025, 3, 1), None)]


# --- the typing of delivered text (ingest/rules_sql.py) ------------------------------------------------------


def test_strptime_with_a_list_of_formats(duck, spark):
    _tables(
        duck,
        spark,
        {"cells": "select * from (values ('2025-03-07'), ('2025/3/7 9:05'), ('2025-02-30'), ('07/03/25')) as t (x)"},
    )
    rows = _check(
        duck, spark, "select x, try_strptime(x, ['%Y-%m-%d', '%Y/%m/%d %H:%M', '%Y-%m-%dT%H:%M:%S.%f']) as t from cells"
    )
    # One or two digits for month, day and hour; no 30 February; day-first is no format here.
    assert sorted(rows, key=repr) == sorted(
        [
            ("2025-03-07", dt.datetime(2025, 3, 7)),
            ("2025/3/7 9:05", dt.datetime(2025, 3, 7, 9, 5)),
            ("2025-02-30", None),
            ("07/03/25", None),
        ],
        key=repr,
    )


def test_strptime_with_an_offset_converted_to_utc(duck, spark):
    # The offsets DuckDB's %z reads (two-digit hours, minutes with or without a colon, seconds after a
    # second colon, none bounded), Z, and what it does not read: one-digit hours, no offset, a zone name.
    cells = [
        "2025-03-01T10:00:00+05:30",
        "2025-03-01 10:00:00.25-0530",
        "2025-03-01T10:00:00+05",
        "2025-03-01T10:00:00Z",
        "2025-03-01T10:00:00+05:30:45",
        "2025-03-01T10:00:00-99:99",
        "2025-3-1T1:2:3+01:00",
        "2025-03-01T10:00:00+5",
        "2025-03-01T10:00:00+0530:00",
        "2025-03-01T10:00:00+05:3",
        "2025-03-01T10:00:00",
        "2025-03-01T10:00:00UTC",
        "2025-02-30T10:00:00+01:00",
        "2025-04-31 10:00:00.5+01:00",
        "2025-02-32T10:00:00+01:00",
        "2025-02-00T10:00:00+01:00",
    ]
    values = ", ".join(f"('{c}')" for c in cells)
    _tables(duck, spark, {"cells": f"select * from (values {values}) as t (x)"})
    formats = "['%Y-%m-%dT%H:%M:%S%z', '%Y-%m-%dT%H:%M:%S.%f%z', '%Y-%m-%d %H:%M:%S%z', '%Y-%m-%d %H:%M:%S.%f%z']"
    rows = _check(
        duck,
        spark,
        f"select x, timezone('UTC', try_strptime(regexp_replace(x, '[Zz]$', '+00:00'), {formats})) as t from cells",
    )
    # Worked by hand: local time minus the offset (east of UTC is ahead of it).
    utc = dt.datetime(2025, 3, 1, 10)
    assert dict(rows) == {
        "2025-03-01T10:00:00+05:30": utc - dt.timedelta(hours=5, minutes=30),
        "2025-03-01 10:00:00.25-0530": utc + dt.timedelta(hours=5, minutes=30, microseconds=250_000),
        "2025-03-01T10:00:00+05": utc - dt.timedelta(hours=5),
        "2025-03-01T10:00:00Z": utc,
        "2025-03-01T10:00:00+05:30:45": utc - dt.timedelta(hours=5, minutes=30, seconds=45),
        "2025-03-01T10:00:00-99:99": utc + dt.timedelta(hours=99, minutes=99),
        "2025-3-1T1:2:3+01:00": dt.datetime(2025, 3, 1, 0, 2, 3),
        "2025-03-01T10:00:00+5": None,
        "2025-03-01T10:00:00+0530:00": None,
        "2025-03-01T10:00:00+05:3": None,
        "2025-03-01T10:00:00": None,
        "2025-03-01T10:00:00UTC": None,
        # DuckDB's list of %z formats carries a day past the month's end into the next month.
        "2025-02-30T10:00:00+01:00": dt.datetime(2025, 3, 2, 9),
        "2025-04-31 10:00:00.5+01:00": dt.datetime(2025, 5, 1, 9, 0, 0, 500_000),
        "2025-02-32T10:00:00+01:00": None,
        "2025-02-00T10:00:00+01:00": None,
    }


def test_strptime_with_an_offset_elsewhere_is_untranslatable():
    with pytest.raises(UntranslatableSql, match="%z"):
        to_spark("select try_strptime(x, '%Y-%m-%d %H:%M:%S%z') from t")
    with pytest.raises(UntranslatableSql, match="%z last"):
        to_spark("select timezone('UTC', try_strptime(x, ['%z %Y-%m-%d', '%Y-%m-%d%z'])) from t")


def test_isfinite(duck, spark):
    _tables(
        duck, spark, {"xs": "select * from (values (1.5::double), ('inf'::double), ('nan'::double), (null)) as t (x)"}
    )
    rows = _check(duck, spark, "select x, isfinite(x) as finite from xs")
    assert {str(x): finite for x, finite in rows} == {"1.5": True, "inf": False, "nan": False, "None": None}


def test_regexp_full_match_ends_at_the_end_of_the_text(duck, spark):
    _tables(duck, spark, {"cells": "select * from (values ('1,200'), ('1,200\n'), ('x1,200'), ('1,20')) as t (x)"})
    rows = _check(duck, spark, r"select x, regexp_full_match(x, '^(\d{1,3}(,\d{3})+|\d+)$') as ok from cells")
    # Only the whole text "1,200" is a number with a thousands separator; a final newline is not allowed.
    assert sorted(rows) == [("1,20", False), ("1,200", True), ("1,200\n", False), ("x1,200", False)]


def test_try_cast_of_text_reads_what_duckdb_reads(duck, spark):
    _tables(
        duck,
        spark,
        {
            "cells": "select * from (values (' 12 '), ('1_000'), ('.5'), ('1.5d'), ('0x1p3'), ('1e5'), ('\u000b7')) as t (x)"
        },
    )
    rows = _check(duck, spark, "select x, try_cast(x as double) as d from cells")
    by_text = dict(rows)
    # Java reads `1.5d` and the hex float `0x1p3`; DuckDB does not. Underscores between digits are DuckDB's.
    assert by_text["1.5d"] is None and by_text["0x1p3"] is None
    assert by_text["1_000"] == 1000.0 and by_text[" 12 "] == 12.0 and by_text[".5"] == 0.5


def test_try_cast_of_whole_number_text_to_bigint(duck, spark):
    # Only whole-number text: DuckDB also rounds `.5` and `1e5` to a bigint, which the translation leaves
    # NULL (the row rules type such a cell through its double, `rules_sql._parse`).
    _tables(duck, spark, {"cells": "select * from (values (' 12 '), ('1_000'), ('-7'), ('7x')) as t (x)"})
    rows = _check(duck, spark, "select x, try_cast(x as bigint) as i from cells")
    assert dict(rows) == {" 12 ": 12, "1_000": 1000, "-7": -7, "7x": None}


def test_double_to_decimal_rounds_as_duckdb(duck, spark):
    _tables(
        duck,
        spark,
        {"xs": "select * from (values (356676348028.79035::double), (-0.00125::double), (2.5::double)) as t (x)"},
    )
    rows = _check(duck, spark, "select x, cast(cast(x as double) as decimal(18, 4)) as d from xs")
    # The double nearest 356676348028.79035 lies just below it, but times 10^4 it is ...903.5 in double,
    # which DuckDB rounds up; rounding the exact binary value gives ...7903.
    assert dict(rows) == {
        356676348028.79035: Decimal("356676348028.7904"),
        -0.00125: Decimal("-0.0013"),
        2.5: Decimal("2.5000"),
    }
