"""Column descriptions (warehouse/catalog.py): indicator columns read the registry, every other column catalog.py."""

from __future__ import annotations

import re
from pathlib import Path

from kam_pipeline.scoring.indicators import registry
from kam_pipeline.warehouse.catalog import column_comment, described_columns, tables

DICTIONARY = Path(__file__).resolve().parents[2] / "docs" / "data_dictionary.md"


def _committed() -> dict[tuple[str, str], str]:
    """(table, column) -> description, read from the committed docs/data_dictionary.md."""
    found, table = {}, None
    for line in DICTIONARY.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            table = line.removeprefix("## marts.") if line.startswith("## marts.") else None
        row = re.match(r"^\| `(\w+)` \| [^|]+ \| (.*) \|$", line)
        if row and table:
            found[table, row[1]] = row[2].replace("\\|", "|")
    return found


def test_no_indicator_is_described_in_catalog_py_as_well():
    shadowed = {t: sorted(described_columns(t) & set(registry())) for t in tables()}
    assert all(not names for names in shadowed.values()), shadowed


def test_indicator_columns_take_the_registry_text_of_their_level():
    csat = registry()["csat"]
    assert isinstance(csat.description, dict)
    assert column_comment("account_indicators", "csat") == csat.description["account"]
    for table in ("book_indicators", "manager_scores", "team_scores"):
        assert column_comment(table, "csat") == csat.description["book"]
    # One text for every level: the same on the portfolio table.
    assert (
        column_comment("portfolio_kpis", "nrr")
        == column_comment("book_indicators", "nrr")
        == registry()["nrr"].description
    )
    # A catalog.py column keeps its own text, and an unknown column has none.
    assert column_comment("account_indicators", "survey_count") == "Survey responses in C"
    assert column_comment("account_indicators", "no_such_column") == ""


def test_the_committed_data_dictionary_has_the_texts_the_catalog_and_registry_give():
    committed = _committed()
    # The index at the top gives each table's column count: every column row was parsed.
    index = re.findall(r"^\| \[`marts\.\w+`\]\(#marts\w+\) \| .* \| (\d+) \|$", DICTIONARY.read_text("utf-8"), re.M)
    assert len(committed) == sum(int(n) for n in index) > 250
    assert len([t for t, _ in committed if t == "account_indicators"]) == 50  # 43 + 7 lifecycle columns
    differ = {key: (text, column_comment(*key)) for key, text in committed.items() if column_comment(*key) != text}
    assert differ == {}


def test_the_data_dictionary_lists_every_registry_indicator_once():
    text = DICTIONARY.read_text(encoding="utf-8")
    section = text[text.index("\n## Indicators\n") :]
    rows = re.findall(r"^\| `(\w+)` \| ", section, flags=re.M)
    assert rows == list(registry())
