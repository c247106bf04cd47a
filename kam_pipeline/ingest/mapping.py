"""`sources.yaml`: a customer's own header names and category values, mapped to the contract.

Per source, `columns` maps delivered header names to contract columns and `values`
maps delivered cell values of a text column to contract values:

    orders:
      columns: {订单号: order_id, 客户编号: account_id, 金额: net_amount, 状态: status}
      values:
        status: {已完成: completed, 已取消: cancelled, 退货: returned}

Per source, instead of files in the data folder, the input may also be a Parquet dataset at a
path (`parquet:`, a file or a folder of files, Hive-partitioned folders such as `year=2025/`
included; a relative path is relative to the mapping file's folder) or a table in the Spark
session's catalog (`table:`, `name`, `db.name` or `catalog.db.name`; the Spark engine only):

    orders:
      parquet: /lake/sales/order_lines
    invoices:
      table: finance.invoices
      columns: {invoice_no: invoice_id}

The file is validated as a whole before any data is read; every problem names the
file and the key (`data/sources.yaml: orders.columns.金额: unknown contract column ...`).

Matching, chosen to be as lenient as the contract's own names and no more: a delivered
header matches a `columns` key when both are equal after trimming, ignoring case; a
cell of a categorical column (one with a closed vocabulary) matches a `values` key
after trimming, ignoring case, as the column's contract values do; a cell of any other
text column matches its key exactly after trimming. Value maps apply to text columns
only (a date or a number has no vocabulary to translate).

Every scalar of the file is read as text (YAML's `yes`, `1.0` or `2024` stay what was
written), so a header or value is never changed by the YAML parser.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kam_pipeline.ingest.contract import SOURCES

FILE_NAME = "sources.yaml"
# The keys of a source's part of the file; `parquet` and `table` name an input other than the data folder.
SOURCE_KEYS = ("columns", "values", "parquet", "table")
# A table name Spark's catalog resolves: `name`, `db.name` or `catalog.db.name`, unquoted identifiers.
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")


class MappingError(ValueError):
    """An invalid mapping file; `problems` lists every `<file>: <key>: <message>`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class SourceMapping:
    """The mapping of one source: header keys (trimmed, lower-case) -> contract column, and value maps.

    `headers` keeps the keys as written (trimmed), by contract column; `values` maps a
    contract column to {delivered value key: contract value}, keys already in the form
    a cell is compared in (lower-case for categorical columns).
    """

    source: str
    columns: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    # The input when not the data folder's files: a Parquet dataset (absolute path) or a catalog table.
    parquet: Path | None = None
    table: str | None = None
    # The mapping file it came from (messages name it).
    origin: str = ""

    @property
    def dataset(self) -> str | None:
        """The input named instead of the data folder's files (`parquet:<path>`, `table:<name>`), or None."""
        if self.parquet is not None:
            return f"parquet:{self.parquet}"
        return f"table:{self.table}" if self.table else None

    def contract_name(self, header: str) -> str | None:
        """The contract column a delivered header cell is mapped to, or None."""
        return self.columns.get(header_key(header))

    @property
    def digest(self) -> str:
        """A short hash of what the mapping does; '' for a source without one (files load as before)."""
        if not self.columns and not self.values:
            return ""
        canonical = json.dumps(
            [sorted(self.columns.items()), sorted((c, sorted(v.items())) for c, v in self.values.items())],
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def header_key(header: str) -> str:
    """A header cell in the form mapping keys are compared in: without BOM, trimmed, lower-case."""
    return header.lstrip("\ufeff").strip().lower()


def mapping_path(data_dir: Path, explicit: Path | None = None) -> Path | None:
    """The mapping file in force: `explicit` (--sources, or KAM_SOURCES through Settings), else
    `<data_dir>/sources.yaml` if present, else None (every file uses the contract's names)."""
    if explicit is not None:
        return Path(explicit)
    found = Path(data_dir) / FILE_NAME
    return found if found.is_file() else None


def load_for(data_dir: Path, explicit: Path | None = None) -> dict[str, SourceMapping]:
    """The validated mappings in force for a data folder, by source; raise MappingError."""
    return load_mappings(mapping_path(data_dir, explicit))


def load_mappings(path: Path | None) -> dict[str, SourceMapping]:
    """Read and validate a mapping file (None: no mapping); raise MappingError naming the file and the key."""
    if path is None:
        return {}
    label = str(path)
    try:
        document = yaml.load(Path(path).read_text(encoding="utf-8-sig"), Loader=_TextLoader)  # noqa: S506
    except FileNotFoundError:
        raise MappingError([f"{label}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError([f"{label}: cannot be read: {exc}"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(str(exc.problem or exc.context or "unreadable").split())
        raise MappingError([f"{label}: {where}not valid YAML: {what}"]) from None
    except yaml.YAMLError as exc:
        raise MappingError([f"{label}: not valid YAML: {' '.join(str(exc).split())}"]) from None
    if document is None or document == "":
        return {}
    if not isinstance(document, dict):
        raise MappingError([f"{label}: must be a mapping of source names (e.g. 'orders:') to their columns and values"])
    problems: list[str] = []
    mappings = {}
    for source, body in document.items():
        mapping = _source_mapping(source, body, problems, Path(path).parent, label)
        if mapping is not None:
            mappings[source] = mapping
    if problems:
        raise MappingError([f"{label}: {p}" for p in problems])
    return mappings


def _show(key: object) -> str:
    """A key as a message shows it: as written, or quoted when it holds a line break or other control character."""
    text = str(key)
    return repr(text) if any(unicodedata.category(ch) == "Cc" for ch in text) else text


def _hint(word: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(word, allowed, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _bad_text(text: str) -> str | None:
    if not text.strip():
        return "is empty"
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return "contains a control character"
    return None


def check_engine(mappings: dict[str, SourceMapping], engine: str) -> None:
    """Raise MappingError when an input of `mappings` needs another engine (a catalog table needs Spark's)."""
    problems = [
        f"{m.origin}: {source}.table: a table of Spark's catalog is read by the Spark engine only "
        "(--engine spark or KAM_ENGINE=spark; the DuckDB engine reads a Parquet dataset with 'parquet:')"
        for source, m in mappings.items()
        if m.table and engine != "spark"
    ]
    if problems:
        raise MappingError(problems)


def _hidden(name: str) -> bool:
    """Whether Spark's file listing leaves out a file or folder of this name below a dataset's path: one
    starting with `.`, or with `_` and holding no `=` (`_SUCCESS`, `.part-0.parquet.crc`, `_delta_log/`,
    `_temporary/`; a Hive folder `_x=1/` is read). What a lakehouse writes beside its data is not data."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name)


def parquet_files(path: Path) -> list[Path]:
    """The files of a `parquet:` dataset, as Spark lists them, in the order DuckDB reads them (sorted paths):
    every `.parquet` file below the path but those under a name Spark leaves out (`_hidden`)."""
    if path.is_file():
        return [path]
    found = sorted(path.rglob("*.parquet"), key=str)
    return [file for file in found if not any(_hidden(part) for part in file.relative_to(path).parts)]


def _dataset(source: str, body: dict, base: Path, problems: list[str]) -> tuple[Path | None, str | None]:
    """The `parquet` path (absolute, existing, holding Parquet files) and `table` name of a source's part."""
    parquet, table = body.get("parquet"), body.get("table")
    if parquet is not None and table is not None:
        problems.append(f"{source}: 'parquet' and 'table' name two inputs of one source (give one)")
        return None, None
    path = None
    if parquet is not None:
        if not isinstance(parquet, str) or _bad_text(parquet):
            problems.append(f"{source}.parquet: must be the path of a Parquet file or folder")
        else:
            path = (base / parquet.strip()).resolve()
            if not path.exists():
                problems.append(f"{source}.parquet: {path}: no such file or folder")
                path = None
            elif path.is_dir() and not parquet_files(path):
                problems.append(
                    f"{source}.parquet: {path}: the folder holds no .parquet file (none under a name starting with _ or .)"
                )
                path = None
            elif path.is_file() and path.suffix.lower() != ".parquet":
                problems.append(f"{source}.parquet: {path}: not a .parquet file")
                path = None
    if table is not None:
        if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table.strip()):
            problems.append(f"{source}.table: {_show(table)!r} is not a table name (name, db.name or catalog.db.name)")
            table = None
        else:
            table = table.strip()
    return path, table


def _source_mapping(
    source: object, body: object, problems: list[str], base: Path | None = None, label: str = ""
) -> SourceMapping | None:
    if not isinstance(source, str) or source not in SOURCES:
        allowed = list(SOURCES)
        problems.append(f"{_show(source)}: unknown source ({_hint(str(source), allowed)}sources: {', '.join(allowed)})")
        return None
    if body is None or body == "":
        return SourceMapping(source)
    if not isinstance(body, dict):
        problems.append(f"{source}: must be a mapping with 'columns', 'values', 'parquet' or 'table'")
        return None
    for key in body:
        if key not in SOURCE_KEYS:
            problems.append(
                f"{source}.{_show(key)}: unknown key ({_hint(str(key), list(SOURCE_KEYS))}allowed: "
                f"{', '.join(SOURCE_KEYS)})"
            )
    columns, headers = _columns(source, body.get("columns"), problems)
    values = _values(source, body.get("values"), problems)
    parquet, table = _dataset(source, body, base or Path.cwd(), problems)
    return SourceMapping(source, columns, headers, values, parquet, table, label)


def _columns(source: str, body: object, problems: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """{header key: contract column} and {contract column: header as written} of `<source>.columns`."""
    spec = SOURCES[source]
    where = f"{source}.columns"
    if body is None or body == "":
        return {}, {}
    if not isinstance(body, dict):
        problems.append(f"{where}: must be a mapping of delivered header -> contract column")
        return {}, {}
    columns: dict[str, str] = {}
    headers: dict[str, str] = {}
    for header, target in body.items():
        if not isinstance(header, str) or not isinstance(target, str):
            problems.append(f"{where}.{_show(header)}: must map one header name to one contract column name")
            continue
        bad = _bad_text(header)
        if bad:
            problems.append(f"{where}.{header!r}: the header name {bad}")
            continue
        written = header.strip()
        target = target.strip()
        if target not in spec.column_names:
            problems.append(
                f"{where}.{written}: unknown contract column '{_show(target)}' "
                f"({_hint(target, spec.column_names)}columns of {source}: {', '.join(spec.column_names)})"
            )
            continue
        key = header_key(written)
        if key in columns:
            other = next(h for c, h in headers.items() if header_key(h) == key)
            problems.append(f"{where}.{written}: the same header as '{other}' (headers match ignoring case)")
            continue
        if target in headers:
            problems.append(
                f"{where}.{written}: '{headers[target]}' is already mapped to '{target}' "
                "(one header per contract column)"
            )
            continue
        columns[key] = target
        headers[target] = written
    return columns, headers


def _values(source: str, body: object, problems: list[str]) -> dict[str, dict[str, str]]:
    """{contract column: {value key: contract value}} of `<source>.values`."""
    spec = SOURCES[source]
    where = f"{source}.values"
    if body is None or body == "":
        return {}
    if not isinstance(body, dict):
        problems.append(f"{where}: must be a mapping of contract column -> {{delivered value: contract value}}")
        return {}
    text_columns = [c.name for c in spec.columns if c.sql_type == "VARCHAR"]
    values: dict[str, dict[str, str]] = {}
    for column, pairs in body.items():
        if not isinstance(column, str) or column not in spec.column_names:
            problems.append(
                f"{where}.{_show(column)}: unknown contract column '{_show(column)}' "
                f"({_hint(str(column), spec.column_names)}columns of {source}: "
                f"{', '.join(spec.column_names)})"
            )
            continue
        col = spec.column(column)
        if col.sql_type != "VARCHAR":
            problems.append(
                f"{where}.{column}: not a text column (value maps apply to the text columns of "
                f"{source}: {', '.join(text_columns)})"
            )
            continue
        if not isinstance(pairs, dict):
            problems.append(f"{where}.{column}: must be a mapping of delivered value -> contract value")
            continue
        mapped: dict[str, str] = {}
        for value, target in pairs.items():
            if not isinstance(value, str) or not isinstance(target, str):
                problems.append(f"{where}.{column}.{_show(value)}: must map one value to one value")
                continue
            bad = _bad_text(value) or _bad_text(target)
            if bad:
                problems.append(f"{where}.{column}.{_show(value.strip()) or repr(value)}: the value {bad}")
                continue
            # Categorical cells are compared lower-case (as the contract's own values are).
            key = value.strip().lower() if col.choices else value.strip()
            target = target.strip().lower() if col.choices else target.strip()
            if col.choices and target not in col.choices:
                problems.append(
                    f"{where}.{column}.{value.strip()}: '{target}' is not a value of {column} "
                    f"({_hint(target, list(col.choices))}values: {', '.join(col.choices)})"
                )
                continue
            if key in mapped and mapped[key] != target:
                problems.append(
                    f"{where}.{column}.{value.strip()}: mapped twice, to '{mapped[key]}' and "
                    f"'{target}'{' (values match ignoring case)' if col.choices else ''}"
                )
                continue
            mapped[key] = target
        values[column] = mapped
    return values


class _TextLoader(yaml.BaseLoader):
    """Reads every scalar as text, and refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                continue  # PyYAML names an unhashable key itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
