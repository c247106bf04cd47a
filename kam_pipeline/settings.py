"""Where the pipeline reads and writes, from flags or the KAM_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "data/demo"
DEFAULT_DB_PATH = "data/kam.duckdb"


@dataclass(frozen=True)
class Settings:
    """The data folder, the published DuckDB file, the scoring model file (None = shipped default)
    and the mapping file of the customer's headers and values (None = `<data_dir>/sources.yaml` if present)."""

    data_dir: Path
    db_path: Path
    model_path: Path | None
    sources_path: Path | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Read KAM_DATA_DIR, KAM_DB_PATH, KAM_MODEL and KAM_SOURCES, falling back to the demo defaults."""
        model = os.environ.get("KAM_MODEL")
        sources = os.environ.get("KAM_SOURCES")
        return cls(
            data_dir=Path(os.environ.get("KAM_DATA_DIR", DEFAULT_DATA_DIR)),
            db_path=Path(os.environ.get("KAM_DB_PATH", DEFAULT_DB_PATH)),
            model_path=Path(model) if model else None,
            sources_path=Path(sources) if sources else None,
        )
