"""The `spark` extra must not change what the DuckDB engine's imports do.

With pyspark installed but not its Spark Connect packages, importing pyspark's connect modules from
a process whose `__main__` has no file (`python -c`, a pytest-xdist worker) ends the process with
`sys.exit(0)` and a "Skipping doctests" line; great-expectations imports those modules whenever
pyspark is installed, so a quality check would end its step silently.
"""

import subprocess
import sys


def test_the_stack_imports_in_a_process_without_a_main_file():
    code = "import great_expectations.expectations, pandera.polars; print('imported')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("imported"), done.stderr[-2000:]
    assert "Skipping doctests" not in done.stderr
