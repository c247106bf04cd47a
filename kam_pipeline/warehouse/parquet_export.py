"""Parquet copies of the marts, one file per table and snapshot, for tools that cannot open DuckDB.

Layout (Hive-style, readable by DuckDB, Spark, Arrow, Power BI and pandas):
`<out>/<table>/as_of_date=<YYYY-MM-DD>/data.parquet`. The as-of date lives in the
path, as Hive partitioning expects, not in the file. Each file is written under a
temporary name and renamed, so a reader never sees half a file; re-exporting a
snapshot replaces its file.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from kam_pipeline.warehouse.database import read_only
from kam_pipeline.warehouse.files import atomic_path

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def export_marts(db_path: Path, out_dir: Path, as_of: dt.date | None = None) -> dict[str, int]:
    """Write every marts table's snapshots (or only `as_of`) as Parquet; return files written per table."""
    written: dict[str, int] = {}
    with read_only(db_path) as conn:
        names = [
            r[0]
            for r in conn.execute(
                # Tables in a working database, views over Parquet in a published one.
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        for table in names:
            if not _IDENTIFIER.match(table):
                continue  # only our own snake_case tables; anything else is not ours to quote
            dates = [
                r[0]
                for r in conn.execute(
                    f'select distinct as_of_date from marts."{table}" where ? is null or as_of_date = ? order by 1',
                    [as_of, as_of],
                ).fetchall()
            ]
            for date in dates:
                frame = conn.sql(
                    f'select * exclude (as_of_date) from marts."{table}" where as_of_date = ?', params=[date]
                ).to_arrow_table()
                _write_atomically(frame, out_dir / table / f"as_of_date={date.isoformat()}" / "data.parquet")
            written[table] = len(dates)
    return written


def _write_atomically(frame, path: Path) -> None:
    import pyarrow.parquet as pq  # only for a deployment that exports (KAM_PARQUET_DIR)

    with atomic_path(path) as tmp:
        # ZSTD: small files; every Parquet reader of the last years reads it.
        pq.write_table(frame, tmp, compression="zstd")
