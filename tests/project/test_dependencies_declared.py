"""Every third-party package the code imports is declared in pyproject.toml.

The package's imports must be runtime dependencies (a wheel user has nothing else); the tests'
may also come from the dev extra. A package that arrives only through another one's
dependencies would break the day that one drops it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Modules of this repository: the package, and the test helpers imported by name from tests/.
LOCAL = {"kam_pipeline"} | {p.stem for p in (REPO / "tests").rglob("*.py")}


def _normalise(name: str) -> str:
    """Return a distribution name in its PEP 503 normal form (PyYAML -> pyyaml)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*extras: str) -> set[str]:
    """Return the normalised distribution names of the runtime dependencies and of `extras`."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {_normalise(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements}


def _third_party_imports(folder: Path) -> dict[str, str]:
    """Return each top-level module imported under `folder` that is neither stdlib nor local, with a file importing it."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL:
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


def _undeclared(folder: str, declared: set[str]) -> list[str]:
    """Return one line per imported module of `folder` that no declared distribution provides."""
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, where in sorted(_third_party_imports(REPO / folder).items()):
        dists = {_normalise(d) for d in providers.get(module, [])}
        if not dists & declared:
            got = ", ".join(sorted(dists)) or "no installed distribution"
            problems.append(f"{where}: imports {module!r} ({got}), not declared in pyproject.toml")
    return problems


def test_the_package_imports_only_declared_runtime_dependencies():
    # The `spark` extra is the one optional part: pyspark, imported only when the Spark engine runs
    # (checked below), so a plain install never needs it.
    assert _undeclared("kam_pipeline", _declared("spark")) == []
    assert _third_party_imports(REPO / "kam_pipeline").get("pyspark") == "kam_pipeline/engines/spark.py"


def test_pyspark_is_imported_only_inside_functions():
    """A plain install (no `spark` extra) imports every module: pyspark only inside the functions
    that start a Spark session, or for type checkers."""
    tree = ast.parse((REPO / "kam_pipeline" / "engines" / "spark.py").read_text(encoding="utf-8"))
    top_level = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any("pyspark" in (getattr(node, "module", None) or a.name) for a in node.names)
    ]
    assert top_level == []
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    assert any(
        isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("pyspark")
        for function in functions
        for inner in ast.walk(function)
    )


def test_the_tests_import_only_declared_runtime_or_dev_dependencies():
    assert _undeclared("tests", _declared("dev")) == []


def test_the_scan_sees_third_party_imports():
    """Guards the test itself: the scan finds known imports of each folder, and none of the stdlib."""
    package = _third_party_imports(REPO / "kam_pipeline")
    assert {"dagster", "duckdb", "polars", "yaml"} <= package.keys()
    assert "json" not in package and "kam_pipeline" not in package
    assert {"pytest", "xlsxwriter"} <= _third_party_imports(REPO / "tests").keys()
