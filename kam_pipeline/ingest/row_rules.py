"""Type one file's text rows into staging.<source>_typed and record the row rules they break.

Both are one SQL statement generated from the contract and the pandera models (`rules_sql.py`).
"""

from __future__ import annotations

import duckdb

from kam_pipeline.ingest.contract import Source
from kam_pipeline.ingest.mapping import SourceMapping
from kam_pipeline.ingest.rules_sql import stage_query
from kam_pipeline.warehouse.database import scalar, setting


def type_and_validate(
    conn: duckdb.DuckDBPyConnection,
    spec: Source,
    file_name: str,
    mapping: SourceMapping,
    rows: str,
    typed: str | None = None,
) -> tuple[int, int]:
    """Type the file's text rows (the query `rows`) and apply the row rules in DuckDB; return (rows, rows rejected).

    Every row goes to staging.<source>_typed in one pass, the row rules it broke with it; those
    are then copied to quarantine.rule_violations (a scan of the new rows' `_violations`).
    `typed`, when given, is a query of rows already typed and checked by the same SQL elsewhere
    (the Spark engine's Parquet): it is inserted instead.
    """
    params = {"source": spec.name, "file": file_name}
    # In file order DuckDB writes the rows in row groups as its reader's batches come, some part
    # full, and the next checkpoint merges and compresses those again (4 CPU-s for the 4.4M invoice
    # rows at 10M order lines). The rows carry their own file and row number, and every query of
    # them that needs an order names it: any order will do. The setting is the database's, not the
    # connection's: with two sources loading at once (schedule.py) the one whose insert ends first
    # would give back the other's `false` as its own previous value, and the database would keep
    # it after the ingest. It is set back to DuckDB's default instead, which the pipeline never
    # changes elsewhere: at worst an insert of the other load then keeps its file order, which
    # costs the next checkpoint a merge of part-full row groups, never a different row.
    with setting(conn, "preserve_insertion_order", False, restore=True):
        staged = scalar(
            conn,
            f"insert into staging.{spec.name}_typed by name {typed or stage_query(spec.name, rows, mapping.values)}",
        )
    conn.execute(
        'insert into quarantine.rule_violations (source, _source_file, _row_number, "column", rule, value, stage) '
        "select $source, _source_file, _row_number, v.column, v.rule, v.value, 'row' "
        f"from (select _source_file, _row_number, unnest(_violations) as v from staging.{spec.name}_typed "
        "where _source_file = $file and _violations is not null)",
        params,
    )
    return staged, scalar(
        conn,
        "select count(distinct _row_number) from quarantine.rule_violations "
        "where source = $source and _source_file = $file and stage = 'row'",
        params,
    )
