"""The Spark engine: the intermediate models and account_lifecycle (the work that grows with order lines) run on Apache Spark.

What Spark computes is O(accounts x dates): the per-account figures of each as-of date. They come back
into the working DuckDB database as `intermediate.<name>`, with the types DuckDB itself gives the same
query, and everything after them (marts, scoring, checks, publishing, the report) runs there as on
the DuckDB engine.

Spark reads `staging.<source>` as Parquet: the staged rows of each source the models read, written
under `<working database>.spark/staging/<source>.parquet` at every run and registered as the temporary
view `staging_<source>`. pyspark is imported lazily: the DuckDB engine never needs it.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import time
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
    from pyspark.sql.connect.client import DefaultChannelBuilder

# Debug lines with the seconds of each Spark step (benchmarks/spark_engine.py reads them).
log = logging.getLogger(__name__)

ENGINES = ("duckdb", "spark")
DEFAULT_MASTER = "local[2]"

# Few shuffle partitions: the per-account results are small; a cluster's own default applies to
# a session it configures (spark-defaults), this one to the sessions started here.
# No web UI or console progress bars: a run's output is kam's own summary.
_LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


class SparkUnavailable(RuntimeError):
    """pyspark (the `spark` extra) or Java is missing: a message saying what to install."""


_MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|spark://\S+|sc://\S+|yarn|k8s://\S+")


def check_master(master: str) -> str:
    """Return `master` when it is a Spark master URL this engine accepts, else raise ValueError."""
    if _MASTER.fullmatch(master):
        return master
    raise ValueError(
        f"not a Spark master: {master!r} (local[N], spark://host:port, sc://host:port for Spark Connect, yarn, k8s://...)"
    )


def shown(master: str) -> str:
    """`master` as messages and logs show it: a Spark Connect URL's `token=` parameter hidden."""
    return re.sub(r"(?i)(;token=)[^;]*", r"\1...", master)


# How long a Spark Connect server may take to accept a connection, and then to complete the channel's
# handshake (TLS, HTTP/2), at the start of a run. pyspark's client retries an unreachable server for
# ten minutes or more (a server restarting mid-run), and waits as long for a handshake that never
# completes; at the start, either is a wrong URL or a server not up, which a run says at once.
CONNECT_TIMEOUT_S = 10.0


def _why_no_handshake(channel: DefaultChannelBuilder) -> str:
    """Why a server that accepts connections did not complete the handshake of the channel pyspark builds
    for the URL: pyspark's client speaks TLS with `use_ssl=true`, and with a token (`token=` or
    SPARK_CONNECT_AUTHENTICATE_TOKEN) to any host but the literal `localhost`."""
    if channel.use_ssl:
        return "use_ssl=true: the client speaks TLS, and the server did not complete a TLS handshake"
    if channel.secure and channel.host != "localhost":
        return (
            "with a token, pyspark's client speaks TLS to any host but localhost, and the server did not "
            "complete a TLS handshake; a server without TLS takes a token only at sc://localhost:PORT"
        )
    return "the server did not complete a gRPC (HTTP/2) handshake"


def _check_connect_server(master: str) -> None:
    """Raise SparkUnavailable, naming the URL, unless a server at the Spark Connect URL's host and port
    (15002 when it names none) accepts connections and completes the handshake of pyspark's channel."""
    import grpc
    from pyspark.sql.connect.client import DefaultChannelBuilder

    try:
        builder = DefaultChannelBuilder(master)
    except Exception as exc:  # pyspark's INVALID_CONNECT_URL
        raise SparkUnavailable(f"not a Spark Connect URL: {shown(master)}: {exc}") from None
    host, port = builder.host.strip("[]"), int(builder.endpoint.rsplit(":", 1)[1])
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SparkUnavailable(
            f"cannot start Spark at {shown(master)}: no Spark Connect server at {builder.endpoint} ({reason})"
        ) from None
    channel = builder.toChannel()
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise SparkUnavailable(
            f"cannot start Spark at {shown(master)}: no handshake with {builder.endpoint} in "
            f"{CONNECT_TIMEOUT_S:.0f} s ({_why_no_handshake(builder)})"
        ) from None
    finally:
        channel.close()


def error_line(exc: Exception) -> str:
    """One line saying why `exc` was raised: a gRPC error's status and details (its text starts with
    `<_InactiveRpcError of RPC that terminated with:`), else the first line of its text."""
    text = str(exc).strip()
    grpc = re.search(r'status = StatusCode\.(\w+)\s+details = "([^"]*)"', text)
    if grpc:
        return f"{grpc[1]}: {grpc[2]}"
    return text.splitlines()[0] if text else type(exc).__name__


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
    connect = master.startswith("sc://")
    if connect:
        _check_connect_server(master)
        builder = SparkSession.builder.remote(master)
    else:
        builder = SparkSession.builder.master(master).appName("kam_pipeline")
        for key, value in _LOCAL_CONF.items():
            builder = builder.config(key, value)
    started = time.perf_counter()
    try:
        session = builder.getOrCreate()
        # On Spark Connect this is the first call that reaches the server (a wrong token fails here).
        for key, value in SESSION_CONF.items():
            session.conf.set(key, value)
    except Exception as exc:  # py4j, Spark Connect and the JVM launcher raise unrelated types
        hint = (
            ""
            if connect or shutil.which("java")
            else " (no `java` on PATH: install Java 17 or newer, e.g. openjdk-17-jre-headless)"
        )
        raise SparkUnavailable(f"cannot start Spark at {shown(master)}: {error_line(exc)}{hint}") from None
    if not connect:
        # Warnings about plan sizes and native libraries would bury kam's own output. (The JVM's few
        # start-up lines come before any setting can reach it: a driver's Java options are fixed
        # when pyspark launches it.)
        session.sparkContext.setLogLevel("ERROR")
        # A stage whose generated Java code is too large for the JVM (64 KB a method: the generated row
        # rules of a wide source) is logged as an error with its whole code and a stack trace, tens of KB,
        # and then runs without generated code, with the same result: nothing a run's reader can act on.
        jvm = session.sparkContext._jvm  # noqa: SLF001 - the driver's log4j, classic pyspark only
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            "org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator", jvm.org.apache.logging.log4j.Level.OFF
        )
    log.debug("spark session at %s: started in %.2f s", shown(master), time.perf_counter() - started)
    return session


def spark_phases(frame: DataFrame) -> str:
    """The seconds Spark's own tracker recorded per phase of the frame's last query (analysis,
    optimization, planning), as ` (analysis 1.20 s, ...)`; empty on Spark Connect (no JVM handle)."""
    try:
        phases = frame._jdf.queryExecution().tracker().phases()  # noqa: SLF001 - classic pyspark only
        seconds = {key: phases.get(key).durationMs() / 1000 for key in phases.keySet().toArray()}
    except Exception:  # Spark Connect frames have no _jdf; this is diagnostics only
        return ""
    return " (" + ", ".join(f"{key} {value:.2f} s" for key, value in sorted(seconds.items())) + ")"


def staging_dir(work_path: Path) -> Path:
    """Where a run writes the staged rows Spark reads: `<working database>.spark/staging`."""
    return work_path.with_name(work_path.name + ".spark") / "staging"


def view_name(schema: str, table: str) -> str:
    """The Spark view of DuckDB's `<schema>.<table>` (`staging_orders`, `intermediate_window_years`)."""
    return f"{schema}_{table}"


def export_tables(
    conn: duckdb.DuckDBPyConnection, tables: Iterable[tuple[str, str]], folder: Path
) -> dict[tuple[str, str], Path]:
    """Write each DuckDB table `<schema>.<table>` as one Parquet file `folder/<schema>_<table>.parquet`;
    return them by (schema, table)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for schema, table in sorted(set(tables)):
        path = folder / f"{view_name(schema, table)}.parquet"
        started = time.perf_counter()
        conn.execute(f"copy (select * from {schema}.{table}) to '{path}' (format parquet)")
        log.debug(
            "spark input %s.%s written as Parquet by DuckDB in %.2f s", schema, table, time.perf_counter() - started
        )
        written[(schema, table)] = path
    return written


def register_parquet(spark: SparkSession, files: dict[tuple[str, str], Path]) -> None:
    """Register each Parquet file as the Spark view of its table (`staging_orders`)."""
    for (schema, table), path in files.items():
        spark.read.parquet(str(path.resolve())).createOrReplaceTempView(view_name(schema, table))


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
    started = time.perf_counter()
    frame = spark_frame(spark, layer, name, params)
    analysed = time.perf_counter()
    rows = frame.toArrow()
    log.debug(
        "spark %s.%s: translated and analysed %.2f s, planned, ran and returned %d rows %.2f s%s",
        layer, name, analysed - started, rows.num_rows, time.perf_counter() - analysed, spark_phases(frame),
    )  # fmt: skip
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


def intermediate_on_spark(
    conn: duckdb.DuckDBPyConnection, master: str, work_path: Path, names: list[str], batches: list[dict[str, Any]]
) -> dict[str, int]:
    """Compute the intermediate models `names` (in that order: each after those it reads) on Spark, one
    query per model and batch of dates (`params["as_of_dates"]` of each of `batches`), and write them
    into DuckDB; return the row count of each (of the last date).

    Spark reads the staged rows, and any intermediate table it does not compute here, from Parquet
    written by DuckDB under `<working database>.spark/staging`. The batches are those DuckDB would
    use (marts.date_batches): what comes back per query fits DuckDB's memory limit.
    """
    single = [name for name in names if not takes_date_range(name, "intermediate")]
    if single:
        # Every model takes $as_of_dates today; one that does not would need a query per date.
        raise ValueError(f"the Spark engine runs only models that take $as_of_dates: {', '.join(single)}")
    spark = spark_session(master)
    computed = set(names)
    inputs = {
        key
        for name in names
        for key in tables_read(f"intermediate/{name}")
        if key[0] == "staging" or (key[0] == "intermediate" and key[1] not in computed)
    }
    register_parquet(spark, export_tables(conn, inputs, staging_dir(work_path)))
    counts = {}
    for params in batches:
        for name in names:
            counts[name] = write_from_spark(conn, spark, name, params)
    return counts


# The marts computed on Spark too: account_lifecycle (it reads the running order totals DuckDB keeps,
# state.account_order_days; its result is per account and date).
SPARK_MARTS = frozenset({"account_lifecycle"})


def mart_on_spark(
    conn: duckdb.DuckDBPyConnection, master: str, work_path: Path, table: str, params: dict[str, Any]
) -> int:
    """Compute `sql/marts/<table>.sql` on Spark for the dates of `params` and write it into DuckDB's
    `marts.<table>` (see write_from_spark); return the row count of the last date."""
    spark = spark_session(master)
    register_parquet(spark, export_tables(conn, tables_read(f"marts/{table}"), staging_dir(work_path)))
    return write_from_spark(conn, spark, table, params, layer="marts")
