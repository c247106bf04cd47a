"""The DuckDB SQL of `sql/` as Spark SQL: sqlglot's duckdb -> spark transpiler plus the fixes it lacks.

There is one SQL source of truth, the DuckDB files; Spark runs a translation made when it is needed.
sqlglot transpiles every file without a warning, yet some of its output means something else on Spark
(or does not run). Each fix below rewrites one such construct of the parsed DuckDB query into the Spark
spelling that computes the same thing, and each has a test that runs the construct on both engines on
data where the plain transpilation would differ (tests/engines/test_spark_sql.py):

- several `unnest()` in one SELECT: DuckDB zips them, Spark's `explode` does not (one generator per
  SELECT, or a cross product) -> `inline(arrays_zip(...)) as (a, b)`;
- `date_diff('month' | 'year', a, b)`: DuckDB counts calendar boundaries, Spark whole months ->
  the difference of year * 12 + month;
- `format('{:.1f}', x)`: Python-style fields (literal text in Spark's format_string) -> `%.1f`, and a
  NULL argument makes the whole result NULL as in DuckDB (Spark writes 'null');
- `as [not] materialized` CTEs: a DuckDB planner hint, dropped;
- `generate_series(a, b)` joined as a table -> `lateral view explode(sequence(a, b))`;
- `epoch(t1 - t2)` (an interval) -> microseconds between them / 1e6;
- `list_position(list, x)`: NULL when absent in DuckDB, 0 from Spark's array_position -> nullif(.., 0);
- `union all by name` -> each side's columns in the first side's order (NULL for a missing one);
- `/`: DuckDB divides in DOUBLE whatever the operands (decimals included), Spark keeps DECIMAL (and
  rounds to 6 places) -> both operands cast to double;
- `avg()` of a decimal: DOUBLE in DuckDB, DECIMAL(38, 16) in Spark -> cast to double;
- `asof left join`: no such join in Spark -> a lateral subquery ordered by the inequality's column, limit 1.

And for the typing of delivered text (the row rules of ingestion, `ingest/rules_sql.py`):

- `try_strptime(x, fmt | [fmt, ...])`: no such function -> the first of `try_to_timestamp(x, pattern)`
  that parses, each strftime format as a Spark datetime pattern (one or two digits for month, day,
  hour, minute and second, as DuckDB accepts);
- `timezone('UTC', try_strptime(x, [fmt%z, ...]))`: Spark parses an offset into TIMESTAMP_NTZ by dropping
  it -> the text split into its local part and its offset (the forms DuckDB's `%z` reads: `+05`,
  `+0530`, `+05:30`, `+05:30:45`, any two digits each), the local part parsed as above and the offset's
  seconds subtracted;
- `isfinite(x)` -> `abs(x) < Infinity` (false for NaN and infinities, NULL for NULL, as in DuckDB);
- `regexp_full_match(x, p)` -> `x rlike '^(?:p)\\z'` (Java's `$` also matches before a final newline);
- `cast(cast(x as double) as decimal(p, s))`: DuckDB rounds x * 10^s (a double) half away from zero,
  Spark the double's exact binary value -> `round(x * 10^s)` as decimal(p, 0) times 10^-s;
- `try_cast(text as double | bigint)`: Spark's cast also takes `1.5d`, hex floats and trims any control
  character -> cast only text of the form DuckDB reads (ASCII blanks around, digits with `_`); to bigint
  only whole-number text (DuckDB also rounds `.5` and `1e5`; the row rules read those through a double).

Parameters (`$name`) are bound as literals, since Spark SQL has no array parameters in every version
Spark Connect serves; tables `<schema>.<name>` are renamed to the views the caller registered.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

# Spark session settings the translation relies on (engines/spark.py sets them on every session):
# exact decimal products and sums (no rounding to 6 places), timestamps without a zone as DuckDB's.
SESSION_CONF: dict[str, str] = {
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
}


class UntranslatableSql(ValueError):
    """A DuckDB construct with no translation here: raised rather than run with another meaning."""


def literal(value: Any) -> exp.Expression:
    """The Spark literal of a bound parameter value (date, number, text, bool, None or a list of them)."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("timestamp_ntz"))
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        # A bare 240.0 is a DECIMAL literal in Spark; the Python value is a double.
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.build("double"))
    if isinstance(value, Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(v) for v in value])
    raise UntranslatableSql(f"no Spark literal for a parameter of type {type(value).__name__}")


def _bind(params: Mapping[str, Any]) -> Callable[[exp.Expression], exp.Expression]:
    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            if node.name not in params:
                raise KeyError(f"SQL parameter not provided: {node.name}")
            return literal(params[node.name])
        return node

    return fix


def _rename_tables(tables: Mapping[tuple[str, str], str]) -> Callable[[exp.Expression], exp.Expression]:
    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.args.get("db") and isinstance(node.this, exp.Identifier):
            key = (node.db, node.name)
            if key not in tables:
                raise UntranslatableSql(f"table {node.db}.{node.name} has no Spark view")
            renamed = exp.to_table(tables[key])
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            renamed.set("alias", alias)
            return renamed
        return node

    return fix


def _drop_materialized(node: exp.Expression) -> exp.Expression:
    """`x as not materialized (...)`: a DuckDB planner hint Spark's grammar lacks; the meaning is the same."""
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def _zip_unnests(node: exp.Expression) -> exp.Expression:
    """Two or more unnest() in one SELECT: DuckDB walks the lists side by side (padding the shorter with
    NULL), which is Spark's `inline(arrays_zip(...))`, one row per position."""
    if not isinstance(node, exp.Select):
        return node
    projections = node.expressions
    positions = [i for i, p in enumerate(projections) if isinstance(p.unalias(), exp.Explode)]
    if len(positions) < 2:
        return node
    if positions != list(range(positions[0], positions[0] + len(positions))):
        raise UntranslatableSql("unnest() columns of one SELECT must be next to each other to be zipped")
    names = []
    for i in positions:
        if not projections[i].alias:
            raise UntranslatableSql("each of several unnest() in one SELECT needs a column alias")
        names.append(exp.to_identifier(projections[i].alias))
    lists = [projections[i].unalias().this for i in positions]
    zipped = exp.Aliases(
        this=exp.Anonymous(this="inline", expressions=[exp.Anonymous(this="arrays_zip", expressions=lists)]),
        expressions=names,
    )
    node.set("expressions", [*projections[: positions[0]], zipped, *projections[positions[-1] + 1 :]])
    return node


def _calendar_diff(node: exp.Expression) -> exp.Expression:
    """date_diff('month' | 'year', a, b) in DuckDB counts the month (year) boundaries between a and b;
    Spark's counts whole months. Spelt out on the calendar fields, it means DuckDB's on both."""
    if not isinstance(node, exp.DateDiff):
        return node
    unit = node.text("unit").lower()
    if unit not in ("month", "year"):
        return node
    later, earlier = node.this, node.expression
    years = exp.Sub(this=exp.Year(this=later.copy()), expression=exp.Year(this=earlier.copy()))
    if unit == "year":
        return exp.paren(years)
    months = exp.Sub(this=exp.Month(this=later.copy()), expression=exp.Month(this=earlier.copy()))
    return exp.paren(exp.Add(this=exp.Mul(this=exp.paren(years), expression=exp.Literal.number(12)), expression=months))


# A DuckDB (fmt) replacement field this translation knows: {} or {:[+][.N]f}, {:d}.
_FIELD = re.compile(r"\{\{|\}\}|\{(:(\+)?(\.\d+)?([fd])?)?\}|%")


def _printf(template: str) -> str:
    """The printf form (Spark's format_string) of a DuckDB format() template."""

    def field(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0]
        if text == "%":
            return "%%"
        if not match.group(1):
            return "%s"
        sign, precision, kind = match.group(2) or "", match.group(3) or "", match.group(4)
        if kind is None:
            raise UntranslatableSql(f"format field {text!r} has no Spark translation")
        return f"%{sign}{precision}{kind}"

    pieces, last = [], 0
    for match in _FIELD.finditer(template):
        pieces.append(template[last : match.start()])
        pieces.append(field(match))
        last = match.end()
    rest = template[last:]
    if "{" in rest or "}" in rest:
        raise UntranslatableSql(f"format template {template!r} has a field with no Spark translation")
    return "".join(pieces) + rest


def _format(node: exp.Expression) -> exp.Expression:
    """DuckDB's format() takes Python-style fields and is NULL when an argument is; Spark's
    format_string takes printf fields and writes 'null'."""
    if not isinstance(node, exp.Format):
        return node
    template = node.this
    if not (isinstance(template, exp.Literal) and template.is_string):
        raise UntranslatableSql("format() needs a literal template to be translated")
    args = node.expressions
    formatted = exp.Format(this=exp.Literal.string(_printf(template.this)), expressions=args)
    if not args:
        return formatted
    any_null = exp.or_(*(exp.Is(this=a.copy(), expression=exp.Null()) for a in args))
    return exp.Case(ifs=[exp.If(this=any_null, true=exp.null())], default=formatted)


def _series_join(node: exp.Expression) -> exp.Expression:
    """`cross join generate_series(a, b) as t (x)` (correlated to the rows before it): Spark has no
    such table function, but `lateral view explode(sequence(a, b)) t as x` gives the same rows
    (both ends included, as in DuckDB)."""
    if not isinstance(node, exp.Select) or not node.args.get("joins"):
        return node
    kept = []
    for join in node.args["joins"]:
        table = join.this
        if isinstance(table, exp.Table) and isinstance(table.this, exp.GenerateSeries):
            if join.args.get("on") or join.side or join.kind not in ("CROSS", ""):
                raise UntranslatableSql("generate_series() is translated only as a cross join")
            series = table.this
            alias = table.args.get("alias")
            if not alias or not alias.columns:
                raise UntranslatableSql("generate_series() joined as a table needs an alias with a column name")
            bounds = [series.args["start"], series.args["end"]]
            if series.args.get("step"):
                bounds.append(series.args["step"])
            node.append(
                "laterals",
                exp.Lateral(
                    this=exp.Explode(this=exp.Anonymous(this="sequence", expressions=bounds)),
                    view=True,
                    alias=exp.TableAlias(this=alias.this, columns=alias.columns),
                ),
            )
        else:
            kept.append(join)
    node.set("joins", kept)
    return node


def _epoch(node: exp.Expression) -> exp.Expression:
    """epoch(t1 - t2) is the seconds of an interval in DuckDB; Spark cannot take the epoch of one, so
    it is the microseconds from t2 to t1 over 1e6 (a timestamp's epoch: its microseconds over 1e6)."""
    if not isinstance(node, exp.TimeToUnix):
        return node
    inner = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    million = exp.cast(exp.Literal.number(1_000_000), exp.DataType.build("double"))
    if isinstance(inner, exp.Sub):
        micros = exp.Anonymous(this="timestampdiff", expressions=[exp.var("MICROSECOND"), inner.expression, inner.this])
    else:
        micros = exp.Anonymous(this="unix_micros", expressions=[exp.cast(inner, exp.DataType.build("timestamp_ltz"))])
    return exp.paren(exp.Div(this=micros, expression=million))


def _list_position(node: exp.Expression) -> exp.Expression:
    """list_position is NULL for a value not in the list in DuckDB; Spark's array_position says 0."""
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("list_position", "list_indexof", "array_position"):
        position = exp.Anonymous(this="array_position", expressions=node.expressions)
        return exp.Nullif(this=position, expression=exp.Literal.number(0))
    if isinstance(node, exp.ArrayPosition):
        return exp.Nullif(this=node, expression=exp.Literal.number(0))
    return node


def _names(select: exp.Expression) -> list[str]:
    if isinstance(select, exp.Union):
        return _names(select.this)
    if not isinstance(select, exp.Select) or any(isinstance(p, exp.Star) for p in select.expressions):
        raise UntranslatableSql("union by name is translated only between SELECTs that name every column")
    return select.named_selects


def _project(select: exp.Expression, names: list[str]) -> exp.Expression:
    """`select` with its columns in the order of `names`, NULL for the ones it lacks."""
    by_name = {p.alias_or_name: p for p in select.expressions}
    select.set("expressions", [by_name[n] if n in by_name else exp.alias_(exp.null(), n, quoted=False) for n in names])
    return select


def _union_by_name(node: exp.Expression) -> exp.Expression:
    """`a union all by name b`: Spark SQL unions by position, so both sides list the columns of both
    in the first side's order (then the second's new ones), NULL where a side lacks one."""
    if not (isinstance(node, exp.Union) and node.args.get("by_name")):
        return node
    left, right = node.this, node.expression
    if isinstance(right, exp.Union):
        raise UntranslatableSql("union by name is translated only as a left-deep chain")
    left_names, right_names = _names(left), _names(right)
    names = left_names + [n for n in right_names if n not in left_names]
    if isinstance(left, exp.Union):
        # Its own sides were aligned already (the transform runs bottom up): extend both.
        for side in (left.this, left.expression):
            _project(side, names)
    else:
        _project(left, names)
    _project(right, names)
    node.set("by_name", None)
    return node


def _double_division(node: exp.Expression) -> exp.Expression:
    """DuckDB's `/` divides in DOUBLE whatever the operands (integers and decimals too), Spark's keeps
    decimals DECIMAL (rounded to a scale it chooses): both operands as double mean DuckDB's division."""
    if not isinstance(node, exp.Div):
        return node
    double = exp.DataType.build("double")
    for side in ("this", "expression"):
        operand = node.args[side]
        if not (isinstance(operand, exp.Cast) and operand.to.is_type("double")):
            node.set(side, exp.cast(operand, double))
    return node


def _asof_join(node: exp.Expression) -> exp.Expression:
    """`a asof [left] join b on <equalities> and a.x > b.y`: for each row of a, the one row of b with
    the greatest y below a.x (the least above it for `<`). Spark has no ASOF join; a lateral subquery
    ordered by y and limited to one row is the same row (NULLs when none, for the left join)."""
    if not (isinstance(node, exp.Join) and (node.args.get("method") or "").upper() == "ASOF"):
        return node
    table = node.this
    if not isinstance(table, exp.Table) or node.side not in ("LEFT", ""):
        raise UntranslatableSql("asof join is translated only as an [left] asof join of a table")
    alias = table.alias_or_name
    conjuncts = list(node.args["on"].flatten()) if isinstance(node.args.get("on"), exp.And) else [node.args.get("on")]
    order = None
    for condition in conjuncts:
        if isinstance(condition, exp.GT | exp.GTE | exp.LT | exp.LTE):
            inner_is_right = isinstance(condition.expression, exp.Column) and condition.expression.table == alias
            inner = condition.expression if inner_is_right else condition.this
            if not (isinstance(inner, exp.Column) and inner.table == alias):
                raise UntranslatableSql("the asof join's inequality must compare a column of the joined table")
            # outer > inner (or inner < outer): the greatest inner value below the outer one comes first.
            below = isinstance(condition, exp.GT | exp.GTE) == inner_is_right
            order = exp.Ordered(this=inner.copy(), desc=below)
    if order is None:
        raise UntranslatableSql("an asof join needs an inequality")
    subquery = (
        exp.select("*").from_(table.copy()).where(node.args["on"].copy()).order_by(order).limit(1).subquery(alias)
    )
    return exp.Join(this=exp.Lateral(this=subquery), side="LEFT", on=exp.true())


def _avg_double(node: exp.Expression) -> exp.Expression:
    """avg() of a decimal is DOUBLE in DuckDB, DECIMAL(38, 16) in Spark: cast, so what follows it is
    computed in double on both (the sum itself stays exact)."""
    if isinstance(node, exp.Avg) and not isinstance(node.parent, exp.Cast):
        return exp.cast(node, exp.DataType.build("double"))
    return node


# strftime fields -> Spark datetime pattern letters; one letter parses one or two digits (DuckDB's
# %m, %d, %H, %M and %S accept both), `yyyy` four or more.
_PATTERN_FIELDS = {"%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s", "%f": "SSSSSS", "%%": "%"}


def spark_pattern(fmt: str) -> str:
    """The Spark datetime pattern of a DuckDB strptime format (letters between fields quoted)."""
    pieces = []
    for token in re.split(r"(%.)", fmt):
        if not token:
            continue
        if token.startswith("%") and len(token) == 2:
            if token not in _PATTERN_FIELDS:
                raise UntranslatableSql(f"strptime field {token} has no Spark translation")
            pieces.append(_PATTERN_FIELDS[token])
        else:
            pieces.append("".join(f"'{c}'" if c.isalpha() else c for c in token.replace("'", "''")))
    return "".join(pieces)


def _strptime(node: exp.Expression) -> exp.Expression:
    """try_strptime(x, formats): the value of the first format that parses x, NULL when none does."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime"):
        return node
    text, formats = node.expressions
    listed = formats.expressions if isinstance(formats, exp.Array) else [formats]
    if not all(isinstance(f, exp.Literal) and f.is_string for f in listed):
        raise UntranslatableSql("try_strptime() needs literal formats to be translated")
    parses = [
        exp.Anonymous(this="try_to_timestamp", expressions=[text.copy(), exp.Literal.string(spark_pattern(f.this))])
        for f in listed
    ]
    return parses[0] if len(parses) == 1 else exp.Coalesce(this=parses[0], expressions=parses[1:])


# A text of a local time and an offset as DuckDB's %z reads it: a sign and two digits of hours, then
# optionally two of minutes (`+0530`), or a colon and two of minutes with optionally a colon and two of
# seconds (`+05:30`, `+05:30:45`); DuckDB bounds none of them (`+99:99` is 100 h 39 min).
# Groups: 1 local part, 2 sign, 3 hours, 4 minutes after a colon, 5 seconds, 6 minutes without a colon.
_OFFSET_TEXT = r"^(.*?)([+-])([0-9]{2})(?::([0-9]{2})(?::([0-9]{2}))?|([0-9]{2}))?\z"


def _extract(text: exp.Expression, pattern: str) -> exp.Expression:
    """regexp_extract(text, pattern, 1): the first group's text, '' when the pattern does not match."""
    return exp.Anonymous(
        this="regexp_extract", expressions=[text.copy(), exp.Literal.string(pattern), exp.Literal.number(1)]
    )


def _local_time(text: exp.Expression, formats: list[str], listed: bool) -> exp.Expression:
    """The local part of a time with an offset, parsed in `formats` (no %z) as DuckDB parses it.

    DuckDB's try_strptime with a *list* of formats ending in %z takes any day from 1 to 31 in any month
    and carries the days past the month's end into the next (`2025-02-30T10:00:00+01:00` is 2 March;
    a single format, or a list without %z, rejects it). For the same rows on both engines, a list whose
    formats all begin with a year-month-day date is parsed here with day 1 and the day's other days added.
    """
    plain = exp.Array(expressions=[exp.Literal.string(f) for f in formats])
    if not (listed and all(f.startswith("%Y-%m-%d") and f[8:9] in ("T", " ") for f in formats)):
        return _strptime(exp.Anonymous(this="try_strptime", expressions=[text, plain]))
    # The day: one or two digits after the date's second `-`, before the `T` or blank of the time.
    day_text = _extract(text, "^[0-9]+-[0-9]{1,2}-([0-9]{1,2})[T ]")
    day = exp.cast(exp.Nullif(this=day_text, expression=exp.Literal.string("")), exp.DataType.build("int"))
    # The same text with day 1 (no regexp_replace: Spark SQL would substitute `${...}` in its replacement).
    first = exp.Concat(
        expressions=[
            _extract(text, "^([0-9]+-[0-9]{1,2}-)[0-9]{1,2}[T ]"),
            exp.Literal.string("01"),
            _extract(text, "^[0-9]+-[0-9]{1,2}-[0-9]{1,2}([T ].*)$"),
        ]
    )
    parsed = _strptime(exp.Anonymous(this="try_strptime", expressions=[first, plain]))
    later = exp.Anonymous(
        this="timestampadd", expressions=[exp.var("DAY"), exp.Sub(this=day, expression=exp.Literal.number(1)), parsed]
    )
    valid = exp.Between(this=day.copy(), low=exp.Literal.number(1), high=exp.Literal.number(31))
    return exp.Case(ifs=[exp.If(this=valid, true=later)])


def _offset_strptime(node: exp.Expression) -> exp.Expression:
    """timezone('UTC', try_strptime(x, formats ending in %z)): x's local time minus its offset, as a
    timestamp without a zone; NULL when x has no offset or its local part parses in no format.

    Spark's try_to_timestamp into TIMESTAMP_NTZ drops an offset instead of converting it, so the
    offset is cut off the text (regexp_extract) and its seconds subtracted (timestampadd)."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "timezone" and len(node.expressions) == 2):
        return node
    zone, inner = node.expressions
    if not (isinstance(inner, exp.Anonymous) and inner.name.lower() == "try_strptime"):
        return node
    text, formats = inner.expressions
    listed = formats.expressions if isinstance(formats, exp.Array) else [formats]
    if not all(isinstance(f, exp.Literal) and f.is_string and f.this.endswith("%z") for f in listed):
        if any(isinstance(f, exp.Literal) and "%z" in f.this for f in listed):
            raise UntranslatableSql("try_strptime() with %z is translated only with %z last in every format")
        return node
    if not (isinstance(zone, exp.Literal) and zone.is_string and zone.this.upper() == "UTC"):
        raise UntranslatableSql("try_strptime() with %z is translated only inside timezone('UTC', ...)")
    pattern = exp.Literal.string(_OFFSET_TEXT)

    def group(index: int) -> exp.Expression:
        return exp.Anonymous(
            this="regexp_extract", expressions=[text.copy(), pattern.copy(), exp.Literal.number(index)]
        )

    def number(index: int) -> exp.Expression:
        # regexp_extract gives '' for a group that did not take part: no minutes or seconds is 0.
        digits = exp.Nullif(this=group(index), expression=exp.Literal.string(""))
        return exp.cast(digits, exp.DataType.build("int"))

    minutes = exp.Coalesce(this=number(4), expressions=[number(6), exp.Literal.number(0)])
    seconds = exp.Coalesce(this=number(5), expressions=[exp.Literal.number(0)])
    offset = exp.Add(
        this=exp.Add(
            this=exp.Mul(this=number(3), expression=exp.Literal.number(3600)),
            expression=exp.Mul(this=minutes, expression=exp.Literal.number(60)),
        ),
        expression=seconds,
    )
    # A zone east of UTC is ahead of it: its offset is subtracted.
    east = exp.EQ(this=group(2), expression=exp.Literal.string("+"))
    sign = exp.Case(ifs=[exp.If(this=east, true=exp.Literal.number(-1))], default=exp.Literal.number(1))
    shift = exp.Mul(this=exp.paren(offset), expression=sign)
    local = _local_time(group(1), [f.this[:-2] for f in listed], isinstance(formats, exp.Array))
    moved = exp.Anonymous(this="timestampadd", expressions=[exp.var("SECOND"), shift, local])
    return exp.Case(ifs=[exp.If(this=exp.RegexpLike(this=text.copy(), expression=pattern.copy()), true=moved)])


def _isfinite(node: exp.Expression) -> exp.Expression:
    """isfinite(x): Spark has no such function; |x| below infinity means the same (NaN is above it)."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite"):
        return node
    infinity = exp.cast(exp.Literal.string("Infinity"), exp.DataType.build("double"))
    return exp.paren(exp.LT(this=exp.Abs(this=node.expressions[0]), expression=infinity))


def _full_match(node: exp.Expression) -> exp.Expression:
    """regexp_full_match(x, p): the whole text matches; `\\z` is the end of the text in Java's regex."""
    if not isinstance(node, exp.RegexpFullMatch):
        return node
    pattern = node.expression
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise UntranslatableSql("regexp_full_match() needs a literal pattern to be translated")
    return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{pattern.this})\\z"))


# The text DuckDB casts to a number: ASCII blanks around, a sign, digits (`_` between them), a decimal
# part, an exponent; infinities and NaN are left out (every caller treats a non-finite number as none).
_BLANKS = r"[ \t\n\r\x0B\f]*"
_DIGITS = r"\d+(_\d+)*"
_DOUBLE_TEXT = rf"^{_BLANKS}[+-]?({_DIGITS}(\.({_DIGITS})?)?|\.{_DIGITS})([eE][+-]?\d+)?{_BLANKS}\z"
_WHOLE_TEXT = rf"^{_BLANKS}[+-]?{_DIGITS}{_BLANKS}\z"
_NUMBER_TYPES = {"double": _DOUBLE_TEXT, "bigint": _WHOLE_TEXT, "int": _WHOLE_TEXT}


def _lenient_cast(node: exp.Expression) -> exp.Expression:
    """try_cast(text as double | bigint | integer) of text: only of the forms DuckDB reads (Spark's cast
    also reads `1.5d`, `0x1p3` and trims control characters), underscores removed first."""
    if not isinstance(node, exp.TryCast | exp.Cast) or not (node.args.get("safe") or isinstance(node, exp.TryCast)):
        return node
    kind = node.to.sql(dialect="spark").lower()
    operand = node.this
    if kind not in _NUMBER_TYPES or node.meta.get("lenient"):
        return node
    if isinstance(operand, exp.Cast | exp.TryCast) and not operand.to.is_type("text", "varchar"):
        return node  # a number already: Spark and DuckDB cast it alike
    if isinstance(operand, exp.Literal) and not operand.is_string:
        return node
    plain = exp.Anonymous(
        this="regexp_replace", expressions=[operand.copy(), exp.Literal.string("_"), exp.Literal.string("")]
    )
    cast = exp.TryCast(this=plain, to=node.to.copy())
    cast.meta["lenient"] = True
    matches = exp.RegexpLike(this=operand.copy(), expression=exp.Literal.string(_NUMBER_TYPES[kind]))
    return exp.Case(ifs=[exp.If(this=matches, true=cast)])


def _double_to_decimal(node: exp.Expression) -> exp.Expression:
    """cast(cast(x as double) as decimal(p, s)): DuckDB multiplies the double by 10^s (in double) and rounds
    half away from zero; Spark rounds the double's exact value, which differs when x * 10^s is inexact."""
    if not (isinstance(node, exp.Cast) and node.to.is_type("decimal")):
        return node
    operand = node.this
    if not (isinstance(operand, exp.Cast) and operand.to.is_type("double")):
        return node
    params = node.to.expressions
    if len(params) != 2:
        raise UntranslatableSql("a cast of a double to decimal needs its precision and scale to be translated")
    precision, scale = (int(p.this.this if isinstance(p, exp.DataTypeParam) else p.this) for p in params)
    double = exp.DataType.build("double")
    scaled = exp.Mul(this=operand, expression=exp.cast(exp.Literal.number(10**scale), double))
    whole = exp.cast(exp.Round(this=scaled), exp.DataType.build(f"decimal({precision}, 0)"))
    unit = exp.Literal.number(f"{Decimal(1).scaleb(-scale):f}" if scale else "1")
    return exp.cast(exp.Mul(this=whole, expression=unit), node.to.copy())


# In the order they run, each over the whole tree (bottom up).
FIXES: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _drop_materialized,
    _asof_join,
    _zip_unnests,
    _calendar_diff,
    _format,
    _series_join,
    _epoch,
    _list_position,
    _union_by_name,
    _avg_double,
    _double_division,
    _offset_strptime,
    _strptime,
    _isfinite,
    _full_match,
    _lenient_cast,
    _double_to_decimal,
)


def to_spark(
    sql: str,
    params: Mapping[str, Any] | None = None,
    tables: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """Return the Spark SQL of the DuckDB query `sql`, its `$parameters` bound from `params` and its
    `<schema>.<table>` names replaced by the views of `tables` ((schema, table) -> view name).

    Raises UntranslatableSql for a construct this module cannot translate without changing its meaning.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    if params is not None:
        tree = tree.transform(_bind(params), copy=False)
    if tables is not None:
        tree = tree.transform(_rename_tables(tables), copy=False)
    for fix in FIXES:
        tree = tree.transform(fix, copy=False)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE, comments=False)
