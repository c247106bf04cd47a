"""The indicator registry (scoring/indicators.yaml) against the marts the SQL files write and the model that scores them.

The column lists come from the SQL files themselves, run on a tiny database of the
production staging shape (and the real scoring steps in between), never from a hand list.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kam_pipeline.defs.assets.marts import sql_params
from kam_pipeline.report.i18n import LANGS, STRINGS, indicator_value
from kam_pipeline.scoring.indicators import RegistryError, load_registry, registry, registry_path
from kam_pipeline.scoring.model import ModelError, load_model
from kam_pipeline.scoring.people import score_people
from kam_pipeline.scoring.snapshot import score_snapshot
from kam_pipeline.warehouse.catalog import described_columns
from sql_fixtures import AS_OF, create_mart_like, make_db

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """table -> its columns in order, as the SQL files and scoring steps write them on an empty snapshot."""
    conn = make_db(tmp_path_factory.mktemp("registry"))
    try:
        model = load_model()
        params = sql_params(model, AS_OF)
        for table in ("account_indicators", "account_assessments"):
            create_mart_like(conn, table, params)
        score_snapshot(conn, model, AS_OF)
        for table in ("manager_indicators", "book_indicators"):
            create_mart_like(conn, table, params)
        score_people(conn, model, AS_OF)
        rows = conn.execute(
            "select table_name, list(column_name order by column_index) from duckdb_columns() "
            "where schema_name = 'marts' group by table_name"
        ).fetchall()
    finally:
        conn.close()
    return dict(rows)


def _names(level: str, written_by: str | None = None) -> set[str]:
    return {
        n for n, e in registry().items() if level in e.levels and (written_by is None or e.written_by == written_by)
    }


@pytest.mark.parametrize(("table", "level"), [("account_indicators", "account"), ("book_indicators", "book")])
def test_every_indicator_column_has_one_registry_entry_and_every_entry_a_column(marts, table, level):
    columns = set(marts[table])
    indicators = columns & set(registry())
    # Every column is either an indicator of the table's level or described by catalog.py, never both.
    assert indicators == _names(level, "sql"), f"{table}: registry and SQL output disagree"
    assert columns - indicators <= described_columns(table), f"{table}: columns neither indicator nor described"
    assert not indicators & described_columns(table), f"{table}: described twice"
    # The other columns are evidence (counts, dates, flags), not indicators: none of them is in the registry.
    assert {"survey_count", "is_churned", "last_order_date"} <= set(marts["account_indicators"]) - set(registry())


def test_indicators_from_the_kpi_evaluation_are_columns_of_the_manager_and_team_scores(marts):
    computed = {n for n, e in registry().items() if e.written_by == "kpi_evaluation"}
    assert computed == {"kpi_attainment"}
    assert computed <= set(marts["manager_scores"]) & set(marts["team_scores"])
    assert not computed & set(marts["book_indicators"])


def test_book_columns_of_the_manager_marts_are_described_by_the_registry_or_the_catalog(marts):
    for table in ("manager_indicators", "manager_scores", "team_scores"):
        columns = set(marts[table])
        indicators = columns & _names("book")
        rest = {c for c in columns - indicators if not c.endswith("_score")}  # group sub-scores
        assert rest <= described_columns(table), (table, sorted(rest - described_columns(table)))
        assert not columns & _names("book") & described_columns(table)


def test_the_shipped_model_scores_only_registry_indicators_of_its_level():
    model = load_model()
    scored = {i.id for i in model.indicators if i.spec.source == "indicators"}
    assert scored and scored <= _names("account")
    assert {i.id for i in model.manager_model().indicators} <= _names("book")


def test_a_model_naming_a_column_that_is_not_an_indicator_is_refused(tmp_path):
    text = load_model().path
    model = Path(text).read_text(encoding="utf-8").replace("tenure_years:       {}", "survey_count:       {}", 1)
    model = model.replace("tenure_years: 2}", "survey_count: 2}")
    path = tmp_path / "model.yaml"
    path.write_text(model, encoding="utf-8")
    with pytest.raises(ModelError) as err:
        load_model(path)
    message = str(err.value)
    assert "groups.customer.indicators.survey_count: unknown indicator 'survey_count'" in message
    # The known names listed are exactly the registry's account indicators.
    known = re.search(r"known: ([a-z_, ]+);", message)[1].split(", ")
    assert known == sorted(_names("account"))


def test_every_indicator_has_a_label_in_both_report_languages():
    assert LANGS == ("en", "zh")
    for name, entry in registry().items():
        assert entry.label.en.strip() and not CJK.search(entry.label.en), name
        assert CJK.search(entry.label.zh), f"{name}: the Chinese label has no Chinese character"
        assert entry.label_in("en") == entry.label.en and entry.label_in("zh") == entry.label.zh


def test_every_suggested_action_exists_in_both_languages():
    actions = {e.action for e in registry().values() if e.action}
    assert actions  # the report suggests something per indicator
    for action in actions:
        assert set(STRINGS[f"action_{action}"]) == {"en", "zh"}, action


def test_the_shipped_bounds_are_the_registry_scales_where_a_scale_exists():
    model = load_model()
    checked = 0
    for indicator in model.indicators + model.manager_model().indicators:
        entry = registry().get(indicator.id)
        if entry and entry.scale and indicator.spec.normalization == "bounded":
            assert tuple(indicator.spec.bounds) == entry.scale, indicator.id
            checked += 1
    assert checked >= 10


def test_directions_follow_the_registry_unless_the_model_overrides():
    model = load_model()
    for indicator in model.indicators + model.manager_model().indicators:
        if indicator.spec.source == "indicators" and indicator.spec.direction is None:
            assert indicator.direction == registry()[indicator.id].direction
    lower = {n for n, e in registry().items() if e.direction == "lower"}
    assert lower == {
        "recency_days",
        "complaint_rate",
        "avg_resolution_hours",
        "sla_breach_rate",
        "overdue_ratio",
        "avg_days_late",
        "days_to_first_order",
        "acquisition_cost",
    }


@pytest.mark.parametrize(
    ("indicator", "value", "shown"),
    [
        ("share_of_wallet", 0.153, "15.3 %"),  # percent: a 0-1 share
        ("revenue", 1234.6, "1,235"),  # money: no decimals
        ("order_count", 7.0, "7"),  # count
        ("recency_days", 45.0, "45"),  # days: whole days
        ("avg_days_late", 3.26, "3.3"),  # days with decimals: 1 (a mean)
        ("csat", 87.25, "87.2"),  # points
        ("strategic_importance", 62.04, "62.0"),  # an assessment dimension: not in the registry
    ],
)
def test_the_report_prints_values_in_the_registry_format(indicator, value, shown):
    assert indicator_value(indicator, value) == shown


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = registry_path().read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "indicators.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("  direction: lower\n  format: days\n", "  direction: down\n  format: days\n", "recency_days.direction: "),
        ("label: {en: Tenure, zh: 合作年限}", "label: {en: Tenure}", "tenure_years.label.zh: Field required"),
        ("  scale: [-100, 100]", "  scale: [100, -100]", "nps: Value error, scale: lo must be below hi"),
        ("  format: hours", "  format: minutes", "avg_resolution_hours.format: Input should be"),
        ("    book: Complaints per 100 orders\n", "", "complaint_rate: Value error, description: one text per level"),
        ("  from_orders: true\n\nrecency_days", "  from_order: true\n\nrecency_days", "active_month_ratio.from_order"),
    ],
)
def test_a_broken_registry_names_the_file_the_indicator_and_the_key(tmp_path, old, new, problem):
    path = _broken(tmp_path, old, new)
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert all(p.startswith(f"{path}: ") for p in err.value.problems)
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_the_shipped_registry_reads_cleanly_and_in_file_order():
    entries = load_registry()
    assert list(entries) == list(registry())
    assert list(entries)[:2] == ["revenue", "revenue_growth"]
