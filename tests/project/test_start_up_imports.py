"""What a run imports before its first step: only what building the definitions needs (checked in a
fresh interpreter, as `kam run` starts); and what only a run with large new files imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import AS_OF

# Imported later, where they are used: the report's renderer (matplotlib's figures, about a second)
# by a background thread while the run works, pandera's Ibis backend by the check of a large new file,
# pyarrow.parquet by the optional Parquet export.
DEFERRED = ("matplotlib.figure", "kam_pipeline.report.render", "pandera.ibis", "ibis", "pyarrow.parquet")


def test_building_the_definitions_imports_none_of_the_deferred_modules():
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import kam_pipeline.cli, kam_pipeline.definitions\n"
        f"print(','.join(m for m in {DEFERRED!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_report_package_reads_data_without_importing_the_renderer():
    code = (
        "import sys\n"
        "from kam_pipeline.report import build_report, default_report_path\n"
        "from kam_pipeline.report.data import load\n"
        "print('matplotlib.figure' in sys.modules, 'kam_pipeline.report.render' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# A run in a fresh interpreter, as `kam run` starts: whether Ibis was imported by its end.
_RUN = (
    "import sys, warnings\n"
    "warnings.simplefilter('ignore')\n"
    "from kam_pipeline import cli\n"
    "code = cli.console(['run', '--data', sys.argv[1], '--db', sys.argv[2], '--as-of', sys.argv[3], '--quiet'])\n"
    "print(code, 'ibis' in sys.modules, 'pandera.ibis' in sys.modules)\n"
)


@pytest.mark.integration
def test_only_a_run_with_new_files_too_large_to_validate_in_memory_imports_ibis(generated_data, tmp_path):
    args = [sys.executable, "-c", _RUN, str(generated_data), str(tmp_path / "a" / "kam.duckdb"), AS_OF.isoformat()]
    # The generated files are small: their staged rows are validated as polars frames.
    small = subprocess.run(args, capture_output=True, text=True)
    assert small.stdout.split() == ["0", "False", "False"], small.stderr[-2000:]
    # Validated inside DuckDB once they are more rows than KAM_CONTRACT_MEMORY_ROWS.
    args[4] = str(tmp_path / "b" / "kam.duckdb")
    in_duckdb = {**os.environ, "KAM_CONTRACT_MEMORY_ROWS": "10"}
    first = subprocess.run(args, capture_output=True, text=True, env=in_duckdb)
    assert first.stdout.split() == ["0", "True", "True"], first.stderr[-2000:]
    # Every file is known now: the same run again reads none, and Ibis is never imported.
    again = subprocess.run(args, capture_output=True, text=True, env=in_duckdb)
    assert again.stdout.split() == ["0", "False", "False"], again.stderr[-2000:]
