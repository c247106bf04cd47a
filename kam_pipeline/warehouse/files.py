"""Atomic file writes: a reader sees the old file or the new one, never half of one.

`atomic_path` is the one helper the published catalog, the Parquet export and the HTML
report write through: the body writes a temporary file next to the target, which is
flushed to disk and renamed over the target only when the body returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: Path) -> Path:
    """`dir/.name.<pid>.tmp`: hidden, in the target's folder (a rename within one file system is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files a killed writer of `path` left behind (any pid)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path for the body to write; rename it over `path` when the body returns.

    The file and its folder are fsynced, so after a crash or power loss `path` is the old file
    or the whole new one. When the body raises, the temporary file is removed and `path` is
    left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    """Flush a written file's content to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename or a new file) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
