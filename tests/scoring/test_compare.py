"""`kam compare` and model_version: another model's scores of a stored date, checked against a real
pipeline run with that model; Spearman's rho recomputed here from average ranks."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import AS_OF, run_pipeline
from kam_pipeline.scoring.compare import compare
from kam_pipeline.scoring.model import default_model_path, load_model, model_version

DEFAULT = default_model_path().read_text(encoding="utf-8")


def _other_model(path: Path) -> Path:
    """The shipped model with equal group weights and a lower B band: ranks and grades move."""
    text = DEFAULT.replace("- [1,   2,   3,   4]", "- [1,   1,   1,   1]", 1)
    text = text.replace("- [1/2, 1,   2,   3]", "- [1,   1,   1,   1]", 1)
    text = text.replace("- [1/3, 1/2, 1,   2]", "- [1,   1,   1,   1]", 1)
    text = text.replace("- [1/4, 1/3, 1/2, 1]", "- [1,   1,   1,   1]", 1)
    text = text.replace("{grade: B, min: 65}", "{grade: B, min: 58}")
    assert text != DEFAULT
    path.write_text(text, encoding="utf-8")
    return path


def _average_ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _spearman(a: list[float], b: list[float]) -> float:
    ra, rb = _average_ranks(a), _average_ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def _scores(db: Path, as_of: dt.date) -> dict[str, tuple]:
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "select account_id, profile, score, grade, model_version from marts.account_scores where as_of_date = ?",
            [as_of],
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_model_version_is_the_canonical_content_not_the_file(tmp_path: Path):
    version = model_version(load_model(default_model_path()))
    assert len(version) == 12 and int(version, 16) >= 0
    # Comments, blank lines and a spelled-out default do not change the version...
    same = tmp_path / "same.yaml"
    same.write_text(
        "# another comment\n\n" + DEFAULT.replace("min_peers: 10", "min_peers: 10  # spelled out"), encoding="utf-8"
    )
    assert model_version(load_model(same)) == version
    # ...one judgement does.
    other = _other_model(tmp_path / "other.yaml")
    assert model_version(load_model(other)) != version


@pytest.mark.integration
def test_compare_scores_a_stored_date_with_another_model_and_writes_nothing(
    pipeline_db: Path, generated_data: Path, tmp_path: Path
):
    other_path = _other_model(tmp_path / "other.yaml")
    other = load_model(other_path)
    # The reference: a real run of the other model on the same data and date.
    reference_db = tmp_path / "reference.duckdb"
    assert run_pipeline(generated_data, reference_db, AS_OF, other_path).success
    stored, reference = _scores(pipeline_db, AS_OF), _scores(reference_db, AS_OF)
    assert {v[3] for v in stored.values()} == {model_version(load_model(default_model_path()))}
    assert {v[3] for v in reference.values()} == {model_version(other)}
    with duckdb.connect(str(pipeline_db), read_only=True) as conn:
        weights_versions = conn.execute("select distinct model_version from marts.indicator_weights").fetchall()
        manager_versions = conn.execute("select distinct model_version from marts.manager_scores").fetchall()
    assert weights_versions == manager_versions == [(model_version(load_model(default_model_path())),)]

    before = hashlib.sha256(pipeline_db.read_bytes()).hexdigest()
    result = compare(pipeline_db, other, AS_OF)
    assert hashlib.sha256(pipeline_db.read_bytes()).hexdigest() == before
    assert result.other_version == model_version(other)
    profiles = {p.profile: p for p in result.profiles}
    assert set(profiles) == {v[0] for v in stored.values()}
    changed_somewhere = False
    for name, p in profiles.items():
        ids = sorted(a for a, v in stored.items() if v[0] == name and v[1] is not None and reference[a][1] is not None)
        assert p.accounts == sum(1 for v in stored.values() if v[0] == name)
        if len(ids) >= 2:
            expected = _spearman([stored[a][1] for a in ids], [reference[a][1] for a in ids])
            assert p.spearman == pytest.approx(expected, abs=1e-9)
        grade_changes = {a for a, v in stored.items() if v[0] == name and v[2] != reference[a][2]}
        assert set(p.grade_changes.get_column("account_id").to_list()) == grade_changes
        changed_somewhere |= bool(grade_changes) or p.movers.height > 0
    assert changed_somewhere

    cli = subprocess.run(
        [sys.executable, "-m", "kam_pipeline.cli", "compare", "--db", str(pipeline_db), "--model", str(other_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert f"(model {model_version(other)})" in cli.stdout and "Spearman rank correlation" in cli.stdout
    assert hashlib.sha256(pipeline_db.read_bytes()).hexdigest() == before


@pytest.mark.integration
def test_compare_names_a_broken_model_and_an_unknown_date(pipeline_db: Path, tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(DEFAULT.replace("method: ahp", "method: magic", 1), encoding="utf-8")
    run = [sys.executable, "-m", "kam_pipeline.cli", "compare", "--db", str(pipeline_db), "--model"]
    bad = subprocess.run([*run, str(broken)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "invalid scoring model" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run(
        [*run, str(default_model_path()), "--as-of", "2020-01-01"], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 1 and "no snapshot for 2020-01-01" in missing.stderr
