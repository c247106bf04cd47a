"""Every setting the pipeline reads from the environment, declared and read in this one module.

`ENVIRONMENT` lists each `KAM_*` variable with its default and meaning (docs/operations.md has
the same table for users); `env()` is the only reader, so a misspelt name fails loudly instead
of silently falling back. `Settings` gathers where a run reads and writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "data/demo"
DEFAULT_DB_PATH = "data/kam.duckdb"

# polars' allocator (jemalloc) returns freed pages to the system after half a second, but only when
# it next allocates or frees: what a step freed stayed resident through the steps that followed
# (hundreds of MB at 440,000 accounts). A background thread of jemalloc's returns them on time.
# polars adds this variable to its own settings when it is first imported (the package's
# __init__ imports this module first); a caller's value is kept.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true")


@dataclass(frozen=True)
class EnvSetting:
    """One environment variable: its name, the value used when it is unset or blank, what it sets."""

    name: str
    default: str | None
    meaning: str


ENVIRONMENT: dict[str, EnvSetting] = {
    s.name: s
    for s in (
        EnvSetting("KAM_DATA_DIR", DEFAULT_DATA_DIR, "data folder the runs read (kam --data)"),
        EnvSetting("KAM_DB_PATH", DEFAULT_DB_PATH, "published DuckDB file (kam --db)"),
        EnvSetting("KAM_MODEL", None, "scoring model YAML (kam --model); unset: the shipped model"),
        EnvSetting("KAM_SOURCES", None, "header/value mapping file (kam --sources); unset: <data>/sources.yaml"),
        EnvSetting("KAM_RUN_WAIT", "600", "seconds a run waits for another run on the same database (0: fail at once)"),
        EnvSetting("KAM_DUCKDB_MEMORY", "1GB", "DuckDB memory limit of a run; larger work spills to disk"),
        EnvSetting("KAM_PARTITION_START", "2000-01-01", "first daily partition in Dagster (YYYY-MM-DD)"),
        EnvSetting("KAM_SCHEDULE_HOUR", "6", "hour (UTC) of the daily schedule"),
        EnvSetting("KAM_SENSOR_SETTLE_SECONDS", "30", "age a new file must reach before the sensor reacts"),
        EnvSetting("KAM_PARQUET_DIR", None, "when set, the parquet_export asset writes the marts there"),
        EnvSetting("KAM_ROW_COUNT_BAND", "0.5", "row-count check: allowed relative change from the last run"),
        EnvSetting(
            "KAM_CONTRACT_MEMORY_ROWS",
            "200000",
            "contract check: up to this many new staged rows are validated in memory, more inside DuckDB",
        ),
        EnvSetting("KAM_ALERT_WEBHOOK", None, "run-failure alerts: http(s) URL receiving a JSON POST"),
        EnvSetting("KAM_ALERT_TIMEOUT", "10", "run-failure alerts: seconds allowed per delivery"),
        EnvSetting("KAM_DAGSTER_URL", None, "run-failure alerts: webserver URL, to link the failed run"),
        EnvSetting("KAM_SMTP_HOST", None, "run-failure e-mail: SMTP server"),
        EnvSetting("KAM_SMTP_PORT", "587", "run-failure e-mail: SMTP port"),
        EnvSetting("KAM_SMTP_USER", None, "run-failure e-mail: login"),
        EnvSetting("KAM_SMTP_PASSWORD", None, "run-failure e-mail: password"),
        EnvSetting("KAM_SMTP_FROM", "kam-pipeline@localhost", "run-failure e-mail: sender"),
        EnvSetting("KAM_SMTP_TO", None, "run-failure e-mail: recipients, comma-separated"),
        EnvSetting("KAM_SMTP_STARTTLS", "true", "run-failure e-mail: STARTTLS (false/0/no to turn off)"),
        EnvSetting("KAM_DEBUG", None, "kam prints the traceback of an internal error"),
        EnvSetting("KAM_ENGINE", "duckdb", "engine of the per-account figures: duckdb or spark (kam run --engine)"),
        EnvSetting(
            "KAM_SPARK_MASTER",
            "local[2]",
            "Spark engine: local[N], spark://host:port or sc://host:port (Spark Connect) (kam run --spark-master)",
        ),
    )
}


def env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the value of the declared variable `name` in `environ` (default os.environ), else its default.

    A blank value counts as unset. An undeclared name raises KeyError: every variable the
    product reads is in ENVIRONMENT, and so in the documented table.
    """
    setting = ENVIRONMENT[name]
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or setting.default


@dataclass(frozen=True)
class Settings:
    """The data folder, the published DuckDB file, the scoring model file (None = shipped default)
    and the mapping file of the customer's headers and values (None = `<data_dir>/sources.yaml` if present)."""

    data_dir: Path
    db_path: Path
    model_path: Path | None
    sources_path: Path | None = None
    # Where the per-account figures are computed (docs/spark.md): the embedded DuckDB, or Spark at spark_master.
    engine: str = "duckdb"
    spark_master: str = "local[2]"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read KAM_DATA_DIR, KAM_DB_PATH, KAM_MODEL, KAM_SOURCES, KAM_ENGINE and KAM_SPARK_MASTER,
        falling back to the demo defaults."""
        model = env("KAM_MODEL", environ)
        sources = env("KAM_SOURCES", environ)
        return cls(
            data_dir=Path(env("KAM_DATA_DIR", environ)),
            db_path=Path(env("KAM_DB_PATH", environ)),
            model_path=Path(model) if model else None,
            sources_path=Path(sources) if sources else None,
            engine=env("KAM_ENGINE", environ),
            spark_master=env("KAM_SPARK_MASTER", environ),
        )
