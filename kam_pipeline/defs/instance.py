"""The throwaway Dagster instance of a `kam run` without DAGSTER_HOME: in memory, one connection per store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.instance import InstanceType
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage


class _Reused:
    """One SQLAlchemy connection per thread for every call instead of a new one each time.

    Dagster's in-memory stores open a connection and set two pragmas for each event and
    query: several hundred per run, about a second of CPU for five accounts.
    """

    def _init_reused(self) -> None:
        self._reused = threading.local()
        self._reused_lock = threading.Lock()
        self._opened: list[Any] = []  # SQLAlchemy connections

    @contextmanager
    def _reused_connection(self) -> Iterator[Any]:
        with self._reused_lock:
            conn = getattr(self._reused, "conn", None)
            if conn is None:
                conn = self._reused.conn = self._engine.connect()
                self._opened.append(conn)
                conn.exec_driver_sql("PRAGMA foreign_keys=ON;").close()
                conn.commit()
            with conn.begin():
                yield conn

    def _close_reused(self) -> None:
        for conn in self._opened:
            conn.close()
        self._opened.clear()


class _EventLog(_Reused, InMemoryEventLogStorage):
    def __init__(self) -> None:
        super().__init__()
        self._init_reused()

    def _connect(self):  # noqa: D102 (Dagster's hook)
        return self._reused_connection()

    def dispose(self) -> None:
        self._close_reused()
        super().dispose()


class _Runs(_Reused, InMemoryRunStorage):
    def __init__(self) -> None:
        super().__init__()
        self._init_reused()

    def connect(self):  # noqa: D102 (Dagster's hook)
        return self._reused_connection()

    def dispose(self) -> None:
        self._close_reused()
        super().dispose()


def throwaway_instance() -> dg.DagsterInstance:
    """Return an in-memory Dagster instance, as `DagsterInstance.ephemeral()` builds it, whose event
    and run stores keep their connection for the whole run."""
    return dg.DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=_Runs(),
        event_storage=_EventLog(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )
