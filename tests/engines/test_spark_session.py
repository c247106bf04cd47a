"""The local Spark session a run starts (`engines/spark.spark_session`): what its driver prints.

In a process of its own: the JVM writes its log to the standard error it was started with."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

# A query whose generated code is too large for the JVM (over 64 KB in one method): Spark logs the
# compiler's error with the whole code, then runs the stage without generated code. Run once with the
# session's log settings, then once more (another query) with the code generator's log back on.
SCRIPT = """
import sys
from kam_pipeline.engines.spark import spark_session

spark = spark_session("local[1]")

def count(branches):
    cases = " ".join(f"when id = {i} then 'v{i}'" for i in range(branches))
    return spark.sql(f"select count(distinct case {cases} else 'x' end) from range(100)").collect()[0][0]

print(count(3000), flush=True)
print("-- code generator log on --", file=sys.stderr, flush=True)
jvm = spark.sparkContext._jvm
jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
    "org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator", jvm.org.apache.logging.log4j.Level.ERROR
)
print(count(3001), flush=True)
"""


def test_generated_code_too_large_for_the_jvm_is_not_logged_and_the_query_still_runs():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["100", "100"]
    quiet, logged = proc.stderr.split("-- code generator log on --\n")
    assert "Failed to compile" in logged and "64 KB" in logged  # what the setting keeps out
    assert "CodeGenerator" not in quiet and "64 KB" not in quiet, quiet[-2000:]
    assert len(quiet) < 2000, quiet[-2000:]  # the JVM's few start-up lines
