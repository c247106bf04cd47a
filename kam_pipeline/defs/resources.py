"""Dagster resources: the pipeline's settings and the DuckDB working database."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from kam_pipeline.ingest.mapping import SourceMapping, load_mappings, mapping_path
from kam_pipeline.quality.suites import preload
from kam_pipeline.scoring.model import ScoringModel, default_model_path, load_model
from kam_pipeline.settings import Settings
from kam_pipeline.warehouse.database import bounded_memory, memory_limit_gib, work_path_for
from kam_pipeline.warehouse.runlock import run_lock

# The last validated model, by (path, size, mtime): a ScoringModel is never modified after loading.
_MODELS: dict[tuple[str, int, int], ScoringModel] = {}


def start_background_imports() -> list[threading.Thread]:
    """Start importing, in background threads, what a run's later steps need, once per process:
    great-expectations (the checks) and the report's renderer (matplotlib's figures); return the threads."""
    with _imports_lock:
        if not _imports:
            render = threading.Thread(
                target=importlib.import_module,
                args=("kam_pipeline.report.render",),
                name="kam-import-report",
                daemon=True,
            )
            render.start()
            _imports.extend([preload(), render])
            _imports_started.set()
        return list(_imports)


def wait_for_background_imports() -> None:
    """Wait until a run has started the background imports (start_background_imports) and they are done."""
    _imports_started.wait()
    for thread in list(_imports):
        thread.join()


_imports_lock = threading.Lock()
_imports: list[threading.Thread] = []
_imports_started = threading.Event()


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
        start_background_imports()
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


# A step whose writes left more than this in the write-ahead log is checkpointed as it ends (WorkDatabase).
STEP_CHECKPOINT_BYTES = 128 * 2**20


class WorkDatabase(DuckDBResource):
    """The working database, held open through a run while its file is smaller than DuckDB's memory cap.

    DuckDB closes a database when its last connection closes, and checkpoints its write-ahead log
    into the file then. With each step's connection the last one, every step reopened the database
    (its catalog read again) and checkpointed on closing. Held open, each step gets a connection of
    its own to the one open database (a cursor of the held connection), and the log is checkpointed
    where it pays: after a step that logged more than STEP_CHECKPOINT_BYTES, and once publishing is
    done, in a background thread while the report renders (`checkpoint_in_background`); the run's
    end closes it. What the database keeps in memory then outlives each step, though, and grows with
    the database: once the file is larger than DuckDB's memory cap (KAM_DUCKDB_MEMORY) a step's end
    closes it, and the next step opens it again, as DuckDBResource does (docs/performance.md,
    "Checkpoints"). A sensor tick or a call outside a run opens and closes it per connection.
    """

    _hold: bool = PrivateAttr(default=False)
    _held: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _opened: ExitStack | None = PrivateAttr(default=None)
    _checkpoint: threading.Thread | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._hold = context.run is not None

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if not self._hold:
            with super().get_connection() as conn:
                yield conn
            return
        if self._held is None:
            opened = ExitStack()
            self._held = opened.enter_context(super().get_connection())
            self._opened = opened
        conn = self._held.cursor()
        try:
            yield conn
        finally:
            conn.close()
        self._after_step()

    def _after_step(self) -> None:
        """Close the held database if it has outgrown the memory cap, else checkpoint a long log."""
        path = Path(self.database)
        if path.stat().st_size > memory_limit_gib(self._held) * 2**30:
            self._release()
            return
        wal = path.with_name(path.name + ".wal")
        if wal.exists() and wal.stat().st_size > STEP_CHECKPOINT_BYTES:
            self._held.execute("checkpoint")

    def _release(self) -> None:
        if self._checkpoint is not None:
            self._checkpoint.join()
            self._checkpoint = None
        if self._opened is not None:
            self._opened.close()  # the database's last connection: DuckDB checkpoints and closes it
            self._held = self._opened = None

    def checkpoint_in_background(self) -> None:
        """Checkpoint the held database in a thread (DuckDB works outside the GIL) while the run goes on."""
        if self._held is None or self._checkpoint is not None:
            return
        conn = self._held.cursor()

        def checkpoint() -> None:
            try:
                conn.execute("checkpoint")
            except duckdb.Error:
                pass  # e.g. a write transaction of a later step: the run's end checkpoints instead
            finally:
                conn.close()

        self._checkpoint = threading.Thread(target=checkpoint, name="kam-checkpoint")
        self._checkpoint.start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._release()


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
    # WorkDatabase checkpoints it between steps.
    config = {**bounded_memory(), "storage_compatibility_version": "v1.5.0", "checkpoint_threshold": "1GB"}
    return {"kam": kam, "duckdb": WorkDatabase(database=str(kam.work_path), connection_config=config)}
