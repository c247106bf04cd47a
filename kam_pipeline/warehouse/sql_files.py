"""Read the SQL files shipped under `sql/` and bind their named parameters.

SQL files are plain `select` queries with DuckDB named parameters (`$as_of`, or
`$as_of_dates` for a file that computes several snapshots in one query). Values are
always bound, never pasted into the text.
"""

from __future__ import annotations

import json
import re
import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def _sql_root() -> Path:
    # A wheel carries sql/ inside the package (hatch force-include); an editable
    # install reads it from the repository root.
    packaged = resources.files("kam_pipeline") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "sql"


@cache
def read_sql(name: str) -> str:
    """Return the text of `sql/<name>.sql`, e.g. `read_sql("marts/account_indicators")`."""
    return (_sql_root() / f"{name}.sql").read_text(encoding="utf-8")


def parameters_of(sql: str) -> set[str]:
    """Return the named parameters (`$name`) a query refers to."""
    # Strip line comments so a `$word` in a comment is not taken for a parameter.
    text = re.sub(r"--[^\n]*", "", sql)
    return set(_PARAM.findall(text))


def takes_date_range(name: str, layer: str = "marts") -> bool:
    """True when `sql/<layer>/<name>.sql` computes every date of `$as_of_dates` at once (not only `$as_of`)."""
    return "as_of_dates" in parameters_of(read_sql(f"{layer}/{name}"))


def mart_files() -> list[str]:
    """Return the names of the SQL marts, one per `sql/marts/<name>.sql`, sorted."""
    return sorted(path.stem for path in (_sql_root() / "marts").glob("*.sql"))


def intermediate_files() -> list[str]:
    """Return the names of the intermediate models, one per `sql/intermediate/<name>.sql`, sorted.

    Each computes one source's figures per account and as-of date into `intermediate.<name>`,
    which the marts join; they are working tables, not part of the published database.
    """
    return sorted(path.stem for path in (_sql_root() / "intermediate").glob("*.sql"))


# One in-memory database parses every file: opening one per file cost about 0.1 s each, paid by
# every run at import time (the asset graph is built from the parsed files).
_PARSER_LOCK = threading.Lock()


@cache
def _parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@cache
def tables_read(name: str) -> frozenset[tuple[str, str]]:
    """Return the (schema, table) pairs `sql/<name>.sql` reads, e.g. ("staging", "orders").

    DuckDB's own parser reads the query (json_serialize_sql parses without binding), so
    comments, strings and the query's CTE names (tables without a schema) never count.
    """
    with _PARSER_LOCK:
        text = _parser().execute("select json_serialize_sql(?)", [read_sql(name)]).fetchone()[0]
    tree = json.loads(text)
    if tree.get("error"):
        raise ValueError(f"sql/{name}.sql does not parse: {tree.get('error_message')}")
    found: set[tuple[str, str]] = set()
    nodes = [tree]
    while nodes:
        node = nodes.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
                found.add((node["schema_name"], node["table_name"]))
            nodes.extend(node.values())
        elif isinstance(node, list):
            nodes.extend(node)
    return frozenset(found)


def bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return the subset of `params` the query uses; raise if one it needs is missing."""
    needed = parameters_of(sql)
    missing = needed - params.keys()
    if missing:
        raise KeyError(f"SQL parameters not provided: {', '.join(sorted(missing))}")
    return {k: params[k] for k in needed}


def query(conn: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """Execute `sql/<name>.sql` with its parameters bound; return the connection (fetch from it)."""
    sql = read_sql(name)
    return conn.execute(sql, bind(sql, params))
