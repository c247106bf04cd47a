"""The input format page documents the contract the product validates: every source, column and key."""

from __future__ import annotations

import re
from pathlib import Path

from kam_pipeline.ingest.contract import SOURCES

DOC = Path(__file__).resolve().parents[2] / "docs" / "input_format.md"


def _sections() -> dict[str, tuple[str, str]]:
    """source -> (heading line, body up to the next heading) of the page's per-source sections."""
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    sections = {}
    for part in parts:
        heading, _, body = part.partition("\n")
        name = re.match(r"`(\w+)`", heading)
        if name:
            sections[name.group(1)] = (heading, body.split("\n## ")[0])
    return sections


def test_every_source_has_a_section_with_its_key_and_requirement():
    sections = _sections()
    assert set(sections) == set(SOURCES)
    for name, spec in SOURCES.items():
        heading, _ = sections[name]
        assert ("(required)" in heading) == spec.required, heading
        if spec.key:
            assert "key " + ", ".join(f"`{k}`" for k in spec.key) in heading, heading
        else:
            assert "no key" in heading, heading


def test_every_column_is_documented_with_a_type_matching_the_contract():
    words = {
        "VARCHAR": "text",
        "DATE": "date",
        "TIMESTAMP": "timestamp",
        "BIGINT": "whole number",
        "DOUBLE": "number",
        "DECIMAL(18,4)": "amount",
    }
    for name, (_, body) in _sections().items():
        rows = {}
        for line in body.splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if len(cells) == 3 and cells[0] not in ("column", "---"):
                for column in cells[0].split(","):
                    rows[column.strip()] = cells[1]
        spec = SOURCES[name]
        assert set(rows) == set(spec.column_names), name
        for column in spec.columns:
            assert rows[column.name] == words[column.sql_type], (name, column.name)
            if column.choices:
                _, body_text = _sections()[name]
                assert all(f"`{choice}`" in body_text for choice in column.choices), (name, column.name)


def test_readme_links_resolve_inside_the_repository():
    root = DOC.parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert "docs/input_format.md" in local
    for link in local:
        target = (root / link).resolve()
        assert target.is_relative_to(root), link
        assert target.exists(), link
