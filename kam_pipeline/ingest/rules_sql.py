"""The contract's typing and row rules as DuckDB SQL, generated from `contract.py` and the pandera models.

Typing and row validation run inside DuckDB, over the raw rows of one file, so a
file of any size is checked at DuckDB's speed without passing through Python. The
rules are not written twice: each column's type comes from the contract, and every
check of the source's pandera model — column checks (`ge`, `le`, `isin`, ...) and the
checks across columns (`schemas.not_before`) — is read from the model and translated
here. A model check without a translation stops the import with ContractError naming
the model and the check, so no rule is silently left out of the SQL. The staged rows
are validated by pandera itself too (the blocking `satisfies_contract` check, inside
DuckDB), and a test runs both on a corpus of edge values.

Leniency (people type these files by hand or export them from spreadsheets, and
none of it can change what a value means): cells are trimmed (numbers, dates and
timestamps of any Unicode white space; text cells of leading white space of any
kind and of trailing ASCII white space, no-break and ideographic spaces); an empty
cell is null, or the column's default (line_no = 1); categorical columns are
lower-cased; timestamps may carry an offset (`+08:00`, `Z`) and are converted to UTC.
Spreadsheet forms load too, where they are unambiguous: year-first dates and timestamps
with `-`, `/` or `.`, one or two digits for month, day and hour (`2025/3/7`,
`2026/7/13 14:05`); numbers with comma thousands separators in groups of three, a dot
decimal and a leading currency sign (`"104,664.47"`, `-¥1,200`). Day-first or
month-first dates (`03/07/2025`) and decimal commas (`1,2345`, `1.234,56`) stay errors.
A sources.yaml value map translates a text column's values after trimming (`_text`).
"""

from __future__ import annotations

from kam_pipeline.ingest.contract import AMOUNT, AMOUNT_LIMIT, SOURCES, Column
from kam_pipeline.ingest.schemas import MODELS, NOT_BEFORE
from kam_pipeline.warehouse.database import ident

# Unicode White_Space (what polars' and Python's strip remove), as a SQL literal.
_WHITESPACE = (
    "'"
    + "".join(
        chr(c)
        for c in (
            9,
            10,
            11,
            12,
            13,
            32,
            0x85,
            0xA0,
            0x1680,
            *range(0x2000, 0x200B),
            0x2028,
            0x2029,
            0x202F,
            0x205F,
            0x3000,
        )
    )
    + "'"
)
_TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_OFFSET_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z")
# The date part of a timestamp in one of the offset forms (all begin with a date with a four-digit
# year, then `T` or a blank).
_OFFSET_DATE = "^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2})[T ]"
# Year-first dates with `/` or `.` (as spreadsheets write them), tried only for a cell that failed
# the ISO forms. DuckDB's %m, %d and %H accept one digit or two, so `2025/3/7` and `9:05` need no
# forms of their own; the year must have four digits (`%Y` alone would read `07/03/25` as year 7).
_SLASH_DATE = r"^\d{4}(/\d{1,2}/|\.\d{1,2}\.)\d{1,2}"
_DATE_FORMATS = ("%Y/%m/%d", "%Y.%m.%d")
_SLASH_TIMESTAMP_FORMATS = (
    tuple(
        f"{date}{sep}{time}"
        for date in _DATE_FORMATS
        for sep in (" ", "T")
        for time in ("%H:%M:%S", "%H:%M:%S.%f", "%H:%M")
    )
    + _DATE_FORMATS
)
# A number as spreadsheets and ERP exports write it: comma thousands separators in groups of three,
# a dot decimal, a leading currency sign with the minus before or after it (`-$3,000.50`, `¥-1,200`).
# `1,2345` and `1.234,56` do not match: a comma is only ever a thousands separator.
_CURRENCY = "¥￥$€£"
_LENIENT_NUMBER = rf"^(-|-?[{_CURRENCY}]|[{_CURRENCY}]-)?(\d{{1,3}}(,\d{{3}})+|\d+)(\.\d+)?$"
_TYPE_WORDS = {
    "DATE": "a date (year first: YYYY-MM-DD, YYYY/M/D or YYYY.M.D)",
    "TIMESTAMP": "a timestamp (year first: YYYY-MM-DD HH:MM[:SS] or ISO 8601, also YYYY/M/D H:MM[:SS])",
    "BIGINT": "a whole number",
    "INTEGER": "a whole number",
}
OUT_OF_RANGE = f"amount out of range (magnitude must be below {AMOUNT_LIMIT:.0e})"


def lit(value: object) -> str:
    """A SQL literal for a string or number."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"no SQL literal for {value!r}")
    return repr(value)


# A cell needing a trim is rare, and testing for it is much cheaper than trimming every
# cell: a first character outside printable ASCII (white space of any kind, or a non-ASCII
# letter, which is then trimmed to no effect), or one of the trailing blanks met in practice.
_TRAILING_BLANKS = (" ", "\t", "\r", "\n", "\v", "\f", "\u00a0", "\u3000")


def _may_need_trim(x: str) -> str:
    # Both ends printable ASCII (nearly every cell) rules a trim out with two comparisons; only
    # the other cells are tested for the trailing blanks (eight suffix tests on every cell cost
    # about a third of typing a text column).
    trailing = " or ".join(f"{x} like {lit('%' + c)}" for c in _TRAILING_BLANKS)
    ends = f"not ({x} between '!' and '~') or not (right({x}, 1) between '!' and '~')"
    return f"({ends}) and (not ({x} between '!' and '~') or {trailing})"


def _clean(col: Column) -> str:
    """The cell's trimmed text, null when empty (before any default)."""
    return f"nullif(trim({ident(col.name)}, {_WHITESPACE}), '')"


def _text(col: Column, values: dict[str, str] | None = None) -> str:
    """A text column's value: trimmed, null when empty; lower-case for categories; then `values` mapped.

    `values` (from sources.yaml) maps a customer's value to the contract's; its keys are
    compared with the trimmed (for categories: lower-case) cell. Every key and value is a
    SQL literal (`lit`): the file comes from users.
    """
    x = ident(col.name)
    text = f"case when {_may_need_trim(x)} then {_clean(col)} else {x} end"
    if col.choices:
        text = f"lower({text})"
    if values:
        pairs = " ".join(f"when {lit(key)} then {lit(value)}" for key, value in sorted(values.items()))
        text = f"case {text} {pairs} else {text} end"
    return text


def _parse(col: Column, text: str) -> str:
    """The typed value of the text expression `text`, null when it does not parse."""
    if col.sql_type == "DATE":
        return _four_digit_year(text, f"cast(try_strptime({text}, '%Y-%m-%d') as date)")
    if col.sql_type == "TIMESTAMP":
        plain = ", ".join(lit(f) for f in _TIMESTAMP_FORMATS)
        return _four_digit_year(text, f"try_strptime({text}, [{plain}])")
    number = _number(text)
    if col.sql_type in ("BIGINT", "INTEGER"):
        # Digits exactly (beyond 2**53), or a whole number such as "2.0" that a float export writes.
        return (
            f"case when isfinite({number}) and {number} = floor({number}) "
            f"then coalesce(try_cast({text} as bigint), try_cast({number} as bigint)) end"
        )
    if col.sql_type == AMOUNT:
        return f"case when isfinite({number}) and abs({number}) < {AMOUNT_LIMIT:.0e} then {number} end"
    return f"case when isfinite({number}) then {number} end"


def _four_digit_year(text: str, parsed: str) -> str:
    """`parsed` when the text `text` starts with four characters and a dash (strptime's %Y then read
    four digits), else null.

    DuckDB's %Y takes a year of any length: without this `25-03-07` would be staged as 7 March of
    the year 25, outside every window. A character test, not a regular expression: it runs for
    every delivered date."""
    return f"case when strpos({text}, '-') = 5 then {parsed} end"


def _number(text: str) -> str:
    return f"try_cast({text} as double)"


def _spreadsheet_number(text: str) -> str:
    """The sign, digits and decimal of a number with thousands separators or a currency sign; else null."""
    return (
        f"case when regexp_full_match({text}, {lit(_LENIENT_NUMBER)}) "
        f"then regexp_replace({text}, {lit(f'[,{_CURRENCY}]')}, '', 'g') end"
    )


def _retry_text(col: Column) -> str:
    """The cell trimmed of any Unicode white space, null when empty (`_clean`), for a cell that failed to parse.

    Trimming by a 30-character set costs more than a parse, and the retry text is used in
    several places of the retry; the trim runs only when the first or the last character
    is white space, the only case in which it changes anything.
    """
    x = ident(col.name)
    may_need = f"contains({_WHITESPACE}, left({x}, 1)) or contains({_WHITESPACE}, right({x}, 1))"
    return f"case when {may_need} then {_clean(col)} else nullif({x}, '') end"


def _parse_again(col: Column, text: str) -> str:
    """The typed value of the trimmed text `text`, in every accepted form; null when it does not parse.

    A cheap regular expression tells the spreadsheet forms from the ISO ones, so each cell
    is parsed in the forms that can match it only (a failing strptime is costly).
    """
    if col.sql_type in ("DATE", "TIMESTAMP"):
        iso = _parse(col, text)
        if col.sql_type == "DATE":
            # A date with a time of day, as ERP and spreadsheet exports write date cells
            # (`2025-01-31 00:00:00`, `2026/7/13 14:05`): the date is unambiguous, the time is dropped.
            iso = _four_digit_year(
                text, f"cast(try_strptime({text}, [{', '.join(lit(f) for f in _TIMESTAMP_FORMATS)}]) as date)"
            )
        if col.sql_type == "TIMESTAMP":
            # An offset (Z, +08:00) is converted to UTC so all timestamps compare on one clock.
            # DuckDB's try_strptime with a list of %z formats takes day 1-31 in any month and carries
            # the surplus into the next (2026-02-30 -> 2 March): the date part must be a date itself.
            offset = ", ".join(lit(f) for f in _OFFSET_FORMATS)
            day = f"try_strptime(regexp_extract({text}, {lit(_OFFSET_DATE)}, 1), '%Y-%m-%d')"
            utc = f"timezone('UTC', try_strptime(regexp_replace({text}, '[Zz]$', '+00:00'), [{offset}]))"
            iso = f"coalesce({iso}, case when {day} is not null then {utc} end)"
        formats = _SLASH_TIMESTAMP_FORMATS
        slashed = f"try_strptime({text}, [{', '.join(lit(f) for f in formats)}])"
        slashed = f"cast({slashed} as date)" if col.sql_type == "DATE" else slashed
        return f"case when regexp_matches({text}, {lit(_SLASH_DATE)}) then {slashed} else {iso} end"
    spreadsheet = f"regexp_replace({text}, {lit(f'[,{_CURRENCY}]')}, '', 'g')"
    return (
        f"case when regexp_full_match({text}, {lit(_LENIENT_NUMBER)}) then {_parse(col, spreadsheet)} "
        f"else {_parse(col, text)} end"
    )


def _typed(col: Column, values: dict[str, str] | None = None) -> str:
    """The typed value of the delivered cell; null when it is empty or does not parse.

    The delivered text is parsed as it is first; only a cell that fails is trimmed and
    parsed again, in the ISO forms and then in the spreadsheet forms (a CASE branch is
    evaluated only for the rows that take it, so a plain ISO value costs one parse).
    `values` maps a text column's values (sources.yaml).
    """
    if col.sql_type == "VARCHAR":
        return _text(col, values)
    retry = _retry_text(col)
    fallback = retry if col.default is None else f"coalesce({retry}, {lit(col.default)})"
    again = _parse_again(col, fallback)
    first = _parse(col, ident(col.name))
    return f"case when {first} is not null then {first} else {again} end"


def _cast_rule(col: Column, text: str) -> str:
    not_a = lit(f"not {_TYPE_WORDS.get(col.sql_type, 'a number')}")
    if col.sql_type == AMOUNT:
        number = f"coalesce({_number(text)}, {_number(_spreadsheet_number(text))})"
        return f"case when isfinite({number}) then {lit(OUT_OF_RANGE)} else {not_a} end"
    return not_a


def _as_text(col: Column, value: str) -> str:
    """A typed value as text, as a quarantine reason shows it."""
    if col.sql_type == "TIMESTAMP":
        return f"strftime({value}, '%Y-%m-%d %H:%M:%S')"
    if col.sql_type == AMOUNT:
        # As the number reads ('-0.01'), not with the staged decimal's four places.
        return f"cast(cast({value} as double) as varchar)"
    return f"cast({value} as varchar)"


_CHECKS = {
    # pandera check name -> the SQL condition under which a non-null value FAILS it.
    "greater_than_or_equal_to": lambda v, s: f"{v} < {lit(s['min_value'])}",
    "less_than_or_equal_to": lambda v, s: f"{v} > {lit(s['max_value'])}",
    "greater_than": lambda v, s: f"{v} <= {lit(s['min_value'])}",
    "less_than": lambda v, s: f"{v} >= {lit(s['max_value'])}",
    "isin": lambda v, s: f"{v} not in ({', '.join(lit(x) for x in s['allowed_values'])})",
    "notin": lambda v, s: f"{v} in ({', '.join(lit(x) for x in s['forbidden_values'])})",
}


# pandera dataframe checks (`statistics['rule']`) -> the SQL condition under which a row FAILS, over
# the typed `y_` columns; a null side fails nothing (its own column rule reports it).
_ROW_CHECKS = {
    NOT_BEFORE: lambda s: f"{ident('y_' + s['later'])} < {ident('y_' + s['earlier'])}",
}


class ContractError(Exception):
    """A pandera model holds a check the SQL translation does not know: the rule would go unchecked."""


def untranslated_checks() -> list[str]:
    """`model.column: check` of every check in the pandera models that has no SQL here (none when all do)."""
    missing = []
    for source, model in MODELS.items():
        schema = model.to_schema()
        for name, column in schema.columns.items():
            missing += [f"{model.__name__}.{name}: {c.name}" for c in column.checks if c.name not in _CHECKS]
        for check in schema.checks:
            stats = check.statistics or {}
            known = stats.get("rule") in _ROW_CHECKS and stats.get("later") in SOURCES[source].column_names
            if not known:
                missing.append(f"{model.__name__}: {check.name}")
    return missing


def row_check_column(check) -> str:
    """The column a quarantine reason names for a check across columns (its `later` side)."""
    return check.statistics["later"]


def _failure(column: str, rule: str, value: str) -> str:
    return f"{{'column': {lit(column)}, 'rule': {rule}, 'value': {value}}}"


def _violations(source: str) -> list[tuple[str, str]]:
    """Per rule of `source`: (condition, expression) — the expression is a struct (column, rule, value)
    when the row breaks the rule, else null, and can only be non-null where the condition, which
    reads typed values only, holds.

    Expressions read `y_<col>` (the typed value) and the delivered text under the
    column's own name.
    """
    spec = SOURCES[source]
    schema = MODELS[source].to_schema()
    cases = []
    for col in spec.columns:
        y = ident(f"y_{col.name}")
        # Only a non-empty cell can fail to parse; an empty cell of a required column fails not_nullable.
        empty = _failure(col.name, lit("not_nullable"), "null") if not col.nullable else "null"
        if col.sql_type != "VARCHAR":
            text = _clean(col)
            unparsed = _failure(col.name, _cast_rule(col, text), ident(col.name))
            cases.append(
                (
                    f"{y} is null",
                    f"case when {y} is null then case when {text} is not null then {unparsed} else {empty} end end",
                )
            )
        elif not col.nullable:
            cases.append((f"{y} is null", f"case when {y} is null then {empty} end"))
        for check in schema.columns[col.name].checks:
            fails = _CHECKS[check.name]
            if col.sql_type == AMOUNT:
                # The staged decimal is rounded to 4 places; the rule judges the delivered number,
                # so rows within rounding distance of a limit are judged on their text.
                exact = f"({_typed(col)})"
                suspect = " or ".join(fails(v, check.statistics) for v in (y, f"({y} + 0.0001)", f"({y} - 0.0001)"))
                cases.append(
                    (
                        suspect,
                        f"case when {fails(exact, check.statistics)} "
                        f"then {_failure(col.name, lit(check.error), _as_text(col, exact))} end",
                    )
                )
                continue
            cases.append(
                (
                    fails(y, check.statistics),
                    f"case when {fails(y, check.statistics)} "
                    f"then {_failure(col.name, lit(check.error), _as_text(col, y))} end",
                )
            )
    for check in schema.checks:
        named = spec.column(row_check_column(check))
        fails = _ROW_CHECKS[check.statistics["rule"]](check.statistics)
        value = _as_text(named, ident(f"y_{named.name}"))
        cases.append((fails, f"case when {fails} then {_failure(named.name, lit(check.name), value)} end"))
    return cases


def _staged_cast(col: Column, typed: str) -> str:
    """The typed value cast to the column's staging type. An amount is a double cast to DECIMAL; the
    double is spelt out so the Spark translation rounds it as DuckDB does (`engines/spark_sql.py`)."""
    if col.sql_type == AMOUNT:
        return f"cast(cast({typed} as double) as {col.sql_type})"
    return f"cast({typed} as {col.sql_type})"


# The row rules a staged row broke, kept with it in staging.<source>_typed (null for a row that
# broke none): what quarantine.rule_violations records for its file.
VIOLATIONS_TYPE = 'struct("column" varchar, rule varchar, value varchar)[]'


def stage_query(source: str, rows: str, values: dict[str, dict[str, str]] | None = None) -> str:
    """A query of staging.<source>_typed's columns from the text rows `rows` (raw.<source>'s columns), in one pass.

    Every cell is typed (`values` maps contract column -> {delivered value: contract value},
    from sources.yaml) and cast to its staging type; the row rules are then judged on those
    stored values, and `_violations` lists those a row broke, quoting the delivered text. Only
    a row with a null or suspect value evaluates the list (a CASE branch runs for its rows only).
    """
    spec = SOURCES[source]
    values = values or {}
    rules = _violations(source)
    listed = ",\n        ".join(expression for _, expression in rules)
    suspect = " or ".join(f"({condition})" for condition, _ in rules) or "false"
    typed = ", ".join(
        f"{_staged_cast(c, _typed(c, values.get(c.name)))} as {ident('y_' + c.name)}" for c in spec.columns
    )
    delivered = ", ".join(ident(c) for c in spec.column_names)
    staged = ", ".join(f"{ident('y_' + c)} as {ident(c)}" for c in spec.column_names)
    return f"""
    select {staged}, _source_file, _row_number,
           case when {suspect} then list_filter([
        {listed}
        ], lambda x: x is not null) end::{VIOLATIONS_TYPE} as _violations
    from (select {delivered}, _source_file, _row_number, {typed} from ({rows}))
    """


_MISSING = untranslated_checks()
if _MISSING:
    raise ContractError(
        "the pandera models hold checks with no SQL translation in rules_sql.py (add one, or the rule "
        "would not be applied at ingestion): " + "; ".join(_MISSING)
    )
