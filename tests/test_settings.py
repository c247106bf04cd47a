"""Settings: every KAM_* variable is read by kam_pipeline/settings.py alone and documented for users."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kam_pipeline.defs.run_failure_alerts import AlertSettings
from kam_pipeline.settings import ENVIRONMENT, Settings, env

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kam_pipeline"


def _environment_reads(path: Path) -> list[int]:
    """Return the line numbers in `path` that touch os.environ or os.getenv."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_kam_variables() -> None:
    # DAGSTER_HOME (cli.py) is Dagster's own variable, not a setting of this product.
    allowed = {PACKAGE / "settings.py": None, PACKAGE / "cli.py": {"DAGSTER_HOME"}}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8").splitlines()
        for line in _environment_reads(path):
            if path in allowed and (allowed[path] is None or any(n in text[line - 1] for n in allowed[path])):
                continue
            offenders.append(f"{path.relative_to(REPO)}:{line}: {text[line - 1].strip()}")
    assert offenders == []


def test_every_kam_name_in_the_code_and_docs_is_declared_and_every_declared_one_documented() -> None:
    used = set()
    for path in [*PACKAGE.rglob("*.py"), REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        used |= set(re.findall(r"\bKAM_[A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
    # KAM_SMTP_* and KAM_ALERT_* are families written with a wildcard in prose.
    undeclared = sorted(n for n in used - set(ENVIRONMENT) if n not in {"KAM_SMTP", "KAM_ALERT"})
    assert undeclared == []
    table = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert sorted(n for n in ENVIRONMENT if f"| `{n}` |" not in table) == []


def test_a_blank_value_counts_as_unset_and_a_misspelt_name_fails() -> None:
    assert env("KAM_DUCKDB_MEMORY", {"KAM_DUCKDB_MEMORY": "  "}) == "1GB"
    assert env("KAM_DUCKDB_MEMORY", {"KAM_DUCKDB_MEMORY": " 4GB "}) == "4GB"
    assert env("KAM_MODEL", {}) is None
    with pytest.raises(KeyError):
        env("KAM_DB_PAHT", {})


def test_settings_and_alert_settings_read_the_given_environment() -> None:
    settings = Settings.from_env({"KAM_DATA_DIR": "/drops", "KAM_MODEL": "", "KAM_SOURCES": "/m.yaml"})
    assert settings == Settings(Path("/drops"), Path("data/kam.duckdb"), None, Path("/m.yaml"))
    alerts = AlertSettings.from_env({"KAM_SMTP_TO": "a@x.org, b@x.org", "KAM_SMTP_STARTTLS": "No"})
    assert (alerts.smtp_to, alerts.smtp_starttls, alerts.smtp_port, alerts.timeout_seconds) == (
        ("a@x.org", "b@x.org"),
        False,
        587,
        10.0,
    )
    assert AlertSettings.from_env({"KAM_DAGSTER_URL": "http://h:3000/"}).run_url("r1") == "http://h:3000/runs/r1"
