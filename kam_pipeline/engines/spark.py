"""The Spark engine: the intermediate models (the work that grows with order lines) run on Apache Spark.

What Spark computes is O(accounts x dates): the per-account figures of each as-of date. They come back
into the working DuckDB database as `intermediate.<name>`, with the types DuckDB itself gives the same
query, and everything after them (marts, scoring, checks, publishing, the report) runs there as on
the DuckDB engine.

Spark reads `staging.<source>` as Parquet: the staged rows of each source the models read, written
under `<working database>.spark/staging/<source>.parquet` at every run and registered as the temporary
view `staging_<source>`. pyspark is imported lazily: the DuckDB engine never needs it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_pipeline.engines.spark_sql import SESSION_CONF, to_spark
from kam_pipeline.warehouse.database import write_snapshot
from kam_pipeline.warehouse.sql_files import bind, read_sql, tables_read, takes_date_range

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ENGINES = ("duckdb", "spark")
DEFAULT_MASTER = "local[2]"

# Few shuffle partitions: the per-account results are small; a cluster's own default applies to
# a session it configures (spark-defaults), this one to the sessions started here.
_LOCAL_CONF = {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"}


class SparkUnavailable(RuntimeError):
    """pyspark (the `spark` extra) or Java is missing: a message saying what to install."""


def check_master(master: str) -> str:
    """Return `master` when it is a Spark master URL this engine accepts, else raise ValueError."""
    if master.startswith(("local", "spark://", "sc://", "yarn", "k8s://")):
        return master
    raise ValueError(
        f"not a Spark master: {master!r} (local[N], spark://host:port, sc://host:port for Spark Connect, yarn, k8s://...)"
    )


@cache
def spark_session(master: str = DEFAULT_MASTER) -> SparkSession:
    """Return the process's Spark session for `master` (started once: a JVM takes seconds to start).

    `sc://host:port` connects to a Spark Connect server (the session's settings are sent to it);
    any other master starts a driver in this process (local[N], spark://, yarn, k8s://).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(
            "the Spark engine needs pyspark: pip install -e '.[spark]' (and Java 17 or newer, "
            "e.g. Debian's openjdk-17-jre-headless)"
        ) from None
    if master.startswith("sc://"):
        builder = SparkSession.builder.remote(master)
    else:
        if shutil.which("java") is None and not _java_home():
            raise SparkUnavailable("the Spark engine needs Java 17 or newer (e.g. Debian's openjdk-17-jre-headless)")
        builder = SparkSession.builder.master(master).appName("kam_pipeline")
        for key, value in _LOCAL_CONF.items():
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key, value in SESSION_CONF.items():
        session.conf.set(key, value)
    return session


def _java_home() -> bool:
    import os

    return bool(os.environ.get("JAVA_HOME"))


def staging_dir(work_path: Path) -> Path:
    """Where a run writes the staged rows Spark reads: `<working database>.spark/staging`."""
    return work_path.with_name(work_path.name + ".spark") / "staging"


def view_name(schema: str, table: str) -> str:
    """The Spark view of DuckDB's `<schema>.<table>` (`staging_orders`, `intermediate_window_years`)."""
    return f"{schema}_{table}"


def export_staging(conn: duckdb.DuckDBPyConnection, sources: Iterable[str], folder: Path) -> dict[str, Path]:
    """Write `staging.<source>` of each source as one Parquet file under `folder`; return them by source."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for source in sorted(set(sources)):
        path = folder / f"{source}.parquet"
        conn.execute(f"copy (select * from staging.{source}) to '{path}' (format parquet)")
        written[source] = path
    return written


def register_staging(spark: SparkSession, files: dict[str, Path]) -> None:
    """Register each staged Parquet file as the view `staging_<source>`."""
    for source, path in files.items():
        spark.read.parquet(str(path.resolve())).createOrReplaceTempView(view_name("staging", source))


def _duckdb_types(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The columns and DuckDB types of a query's result (DuckDB binds it without running it)."""
    return [
        (name, kind) for name, kind, *_ in conn.execute(f"describe select * from ({sql})", bind(sql, params)).fetchall()
    ]


def spark_frame(spark: SparkSession, layer: str, name: str, params: dict[str, Any]) -> DataFrame:
    """The Spark DataFrame of `sql/<layer>/<name>.sql`, translated, over the registered views."""
    tables = {key: view_name(*key) for key in tables_read(f"{layer}/{name}")}
    return spark.sql(to_spark(read_sql(f"{layer}/{name}"), params, tables))


def write_from_spark(
    conn: duckdb.DuckDBPyConnection, spark: SparkSession, name: str, params: dict[str, Any], layer: str = "intermediate"
) -> int:
    """Compute `sql/<layer>/<name>.sql` on Spark and write its result as the snapshot of `<layer>.<name>` in
    DuckDB, each column cast to the type DuckDB gives the same query; return the row count (of the last date).

    The result is also registered in Spark as `<layer>_<name>`, for the models that read it.
    """
    frame = spark_frame(spark, layer, name, params)
    rows = frame.toArrow()
    # Lazily: a model reading it (wallet and market read window_years) recomputes the small query.
    frame.createOrReplaceTempView(view_name(layer, name))
    sql = read_sql(f"{layer}/{name}")
    columns = _duckdb_types(conn, sql, params)
    select = "select " + ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in columns) + " from spark_rows"
    dates = params["as_of_dates"] if takes_date_range(name, layer) else params["as_of"]
    conn.execute(f"create schema if not exists {layer}")
    conn.register("spark_rows", rows)
    try:
        return write_snapshot(conn, name, select, {}, dates, schema=layer)
    finally:
        conn.unregister("spark_rows")
