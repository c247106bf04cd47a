"""Dagster resources: the pipeline's settings and the DuckDB working database."""

from __future__ import annotations

import importlib
import threading
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from kam_pipeline.ingest.mapping import SourceMapping, load_mappings, mapping_path
from kam_pipeline.quality.suites import preload
from kam_pipeline.scoring.model import ScoringModel, default_model_path, load_model
from kam_pipeline.settings import Settings
from kam_pipeline.warehouse.database import bounded_memory, work_path_for
from kam_pipeline.warehouse.runlock import run_lock

# The last validated model, by (path, size, mtime): a ScoringModel is never modified after loading.
_MODELS: dict[tuple[str, int, int], ScoringModel] = {}


class KamResource(dg.ConfigurableResource):
    """Data folder, published DuckDB file, scoring model and header/value mapping file of a deployment."""

    data_dir: str
    db_path: str
    model_path: str | None = None
    # None: `<data_dir>/sources.yaml` when the folder has one.
    sources_path: str | None = None
    # Seconds a run waits for another run on the same database (None: KAM_RUN_WAIT, default 600).
    run_wait_seconds: float | None = None
    # Where the intermediate models run: "duckdb" (the working database) or "spark" (docs/spark.md).
    engine: str = "duckdb"
    spark_master: str = "local[2]"
    _lock: ExitStack | None = PrivateAttr(default=None)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def published_path(self) -> Path:
        return Path(self.db_path)

    @property
    def work_path(self) -> Path:
        return work_path_for(self.db_path)

    def model(self) -> ScoringModel:
        """Return the validated scoring model (raises ModelError naming file, path and problem).

        Every asset of a run asks for it; the file is parsed once per content (path, size and
        modification time), so an edited model is still picked up by the next run.
        """
        path = Path(self.model_path) if self.model_path else default_model_path()
        try:
            stat = path.stat()
            key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        except OSError:
            return load_model(path)  # raises the ModelError that names the problem
        if key not in _MODELS:
            _MODELS.clear()
            _MODELS[key] = load_model(path)
        return _MODELS[key]

    def mapping_file(self) -> Path | None:
        """The mapping file in force (--sources / KAM_SOURCES, else the data folder's sources.yaml), or None."""
        return mapping_path(self.data_path, Path(self.sources_path) if self.sources_path else None)

    def mappings(self) -> dict[str, SourceMapping]:
        """Return the validated sources.yaml mappings by source (raises MappingError naming file and key).

        Read at every call (a small file): an edited mapping is picked up by the next run.
        """
        return load_mappings(self.mapping_file())

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A broken model must stop the run before any asset touches data, and so must an unknown engine.
        if self.engine not in ("duckdb", "spark"):
            raise dg.Failure(f"unknown engine {self.engine!r} (KAM_ENGINE): duckdb or spark")
        self.model()
        preload()
        # The report's renderer (matplotlib's figures) is imported meanwhile too, for the last step.
        threading.Thread(target=importlib.import_module, args=("kam_pipeline.report.render",), daemon=True).start()
        # One run at a time per database: held until the run's last step (teardown below). Taken
        # last, so a setup that fails never leaves it held; not by a sensor tick (no run).
        if context.run is None:
            return
        stack = ExitStack()
        stack.enter_context(run_lock(self.db_path, self.run_wait_seconds, context.log.warning))
        self._lock = stack

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def build_resources(settings: Settings) -> dict[str, object]:
    """Return the resource dict for a deployment with these settings."""
    kam = KamResource(
        data_dir=str(settings.data_dir),
        db_path=str(settings.db_path),
        model_path=str(settings.model_path) if settings.model_path else None,
        sources_path=str(settings.sources_path) if settings.sources_path else None,
        engine=settings.engine,
        spark_master=settings.spark_master,
    )
    settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    # Files are written in the v1.5 storage format, which DuckDB 2.0 reads and writes as well:
    # BI drivers and shells that embed DuckDB 1.5 (the newest CLI on PyPI among them) can then
    # open the published file. Applies when the working database is first created.
    # DuckDB's buffer pool defaults to 80 % of RAM; a daily job shares its machine, so it is
    # capped (bounded_memory: KAM_DUCKDB_MEMORY, default 1GB) and larger work spills to disk.
    # DuckDB checkpoints the write-ahead log into the file whenever it passes 16 MB: at 10M order
    # lines that was a 1-1.7 s pause every few snapshot writes. The log may grow to 1 GB instead;
    # closing each step's connection and publishing checkpoint it anyway.
    config = {**bounded_memory(), "storage_compatibility_version": "v1.5.0", "checkpoint_threshold": "1GB"}
    return {"kam": kam, "duckdb": DuckDBResource(database=str(kam.work_path), connection_config=config)}
