"""Type one file's raw rows into staging.<source>_typed and record the row rules they break.

Both steps are SQL generated from the contract and the pandera models (`rules_sql.py`).
"""

from __future__ import annotations

import duckdb

from kam_pipeline.ingest.contract import Source
from kam_pipeline.ingest.mapping import SourceMapping
from kam_pipeline.ingest.rules_sql import staged_columns, typed_rows, violations_query
from kam_pipeline.warehouse.database import scalar


def type_and_validate(conn: duckdb.DuckDBPyConnection, spec: Source, file_name: str, mapping: SourceMapping) -> int:
    """Type the file's raw rows and apply the row rules in DuckDB; return the rows rejected.

    Every row goes to staging.<source>_typed in one pass; the rules are then evaluated on
    the stored typed values, and only rows with a null or failing value go back to their
    delivered text for the reason. Broken rules go to quarantine.rule_violations.
    """
    params = {"source": spec.name, "file": file_name}
    this_file = "_source_file = $file"
    conn.execute(
        f"insert into staging.{spec.name}_typed "
        f"select {staged_columns(spec.name)}, _source_file, _row_number "
        f"from ({typed_rows(spec.name, this_file, mapping.values)})",
        {"file": file_name},
    )
    conn.execute(
        'insert into quarantine.rule_violations (source, _source_file, _row_number, "column", rule, value, stage) '
        f"select $source, _source_file, _row_number, \"column\", rule, value, 'row' "
        f"from ({violations_query(spec.name, this_file)})",
        params,
    )
    return scalar(
        conn,
        "select count(distinct _row_number) from quarantine.rule_violations "
        f"where source = $source and {this_file} and stage = 'row'",
        params,
    )
