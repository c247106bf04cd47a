"""The scoring model file: the shipped default loads, and every invalid model fails
with a ModelError naming the file, the path inside it and what is wrong."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from kam_pipeline.scoring.model import ModelError, ScoringModel, default_model_path, load_model
from kam_pipeline.scoring.weights import ahp_weights

# Wang & Chin (2011), Information Sciences 181(23): the inconsistent 6x6 matrix of
# tests/scoring/test_weights_ahp.py (CR = 0.229 with Saaty's RI), written the way a person
# types it into a model file: fractions as text.
WANG_CHIN = [
    [1, 4, 3, 1, 3, 4],
    ["1/4", 1, 7, 3, "1/5", 1],
    ["1/3", "1/7", 1, "1/5", "1/5", "1/6"],
    [1, "1/3", 5, 1, 1, "1/3"],
    ["1/3", 5, 5, 1, 1, 3],
    ["1/4", 1, 6, 3, "1/3", 1],
]


def default_document() -> dict:
    """The shipped default model as a plain dict, ready to be broken by a test."""
    return yaml.safe_load(default_model_path().read_text(encoding="utf-8"))


def small_document() -> dict:
    """Two groups, fixed group weights, one fixed and one AHP indicator level."""
    return {
        "name": "small",
        "groups": {
            "financial": {"indicators": {"revenue": {}, "gross_margin": {}}},
            "customer": {"indicators": {"csat": {}, "nps": {}, "complaint_rate": {}}},
        },
        "profiles": {
            "default": {
                "group_weights": {"method": "fixed", "weights": {"financial": 0.6, "customer": 0.4}},
                "indicator_weights": {
                    "financial": {"method": "fixed", "weights": {"revenue": 0.7, "gross_margin": 0.3}},
                    "customer": {"method": "ahp", "matrix": [[1, 2, 4], ["1/2", 1, 2], ["1/4", "1/2", 1]]},
                },
            },
        },
    }


def write(tmp_path: Path, document: dict | str, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, document: dict | str) -> list[str]:
    """Load a model that must be invalid; return its problems (each checked to start with the file)."""
    path = write(tmp_path, document)
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert info.value.problems, "a ModelError must list at least one problem"
    for problem in info.value.problems:
        assert problem.startswith(f"{path}: "), problem
    assert str(info.value) == "; ".join(info.value.problems)
    return info.value.problems


def one_problem(tmp_path: Path, document: dict | str, where: str) -> str:
    """The single problem reported for `where` (the path inside the file), without file and path."""
    found = problems(tmp_path, document)
    prefix = f"{tmp_path / 'model.yaml'}: {where}: "
    at = [p for p in found if p.startswith(prefix)]
    assert len(at) == 1, f"expected one problem at {where}, got {found}"
    return at[0][len(prefix) :]


# -- valid models ------------------------------------------------------------------


def test_shipped_default_loads_with_accepted_ahp_matrices(tmp_path):
    model = load_model(write(tmp_path, default_model_path().read_text(encoding="utf-8")))
    assert isinstance(model, ScoringModel)
    assert model.groups == ["financial", "customer", "internal_process", "learning_growth"]
    assert [p.name for p in model.profiles] == ["default", "multinational", "new_accounts"]
    for profile in model.profiles:
        result = ahp_weights(np.array(profile.group_weights.matrix, dtype=float))
        assert result.accepted and result.cr < 0.10, (profile.name, result.cr)
        assert result.weights.sum() == pytest.approx(1.0)
    # Every indicator scored is either computed by the SQL or an assessment dimension.
    assert {i.spec.source for i in model.indicators} == {"indicators", "assessments"}


def test_load_model_without_a_path_reads_the_shipped_default():
    assert load_model().path == str(default_model_path())
    assert load_model(None).spec == load_model(default_model_path()).spec


def test_small_model_with_fraction_cells_loads(tmp_path):
    model = load_model(write(tmp_path, small_document()))
    matrix = model.profile("default").indicator_weights["customer"].matrix
    assert matrix[1][0] == pytest.approx(1 / 2) and matrix[2][0] == pytest.approx(1 / 4)


def test_fractions_are_accepted_unquoted_and_with_spaces(tmp_path):
    text = yaml.safe_dump(small_document(), sort_keys=False)
    text = text.replace("'1/2'", "1 / 2").replace("'1/4'", "1/4")
    model = load_model(write(tmp_path, text))
    matrix = model.profile("default").indicator_weights["customer"].matrix
    assert matrix[1] == pytest.approx([0.5, 1, 2]) and matrix[2] == pytest.approx([0.25, 0.5, 1])


def test_profile_for_segment_falls_back_to_default():
    model = load_model()
    assert model.profile_for_segment("multinational") == "multinational"
    assert model.profile_for_segment("local_large") == "default"
    assert model.profile_for_segment("") == "default"


def test_profiles_by_stage_the_most_specific_selection_wins(tmp_path):
    doc = default_document()
    doc["profiles"]["new_multinational"] = {"segments": ["multinational"], "stages": ["new"]}
    doc["profiles"]["lapsed"] = {"stages": ["reactivated", "dormant"]}
    model = load_model(write(tmp_path, doc))
    # segment and stage > stage only > segment only > default
    assert model.profile_for("multinational", "new") == "new_multinational"
    assert model.profile_for("local_large", "new") == "new_accounts"  # the shipped stage profile
    assert model.profile_for("multinational", "reactivated") == "lapsed"
    assert model.profile_for("multinational", "retained") == "multinational"
    assert model.profile_for("local_large", "retained") == "default"
    assert model.profile_for("local_large", None) == "default"
    assert model.profile("lapsed").stages == ("reactivated", "dormant")


def test_shipped_model_scores_new_accounts_without_tenure_or_retention():
    model = load_model()
    assert model.profile_for("multinational", "new") == "new_accounts"
    assert model.profile_for("multinational", "retained") == "multinational"
    weights = model.profile("new_accounts").indicator_weights
    for group, dropped in (("financial", ["revenue_retention", "revenue"]), ("customer", ["tenure_years"])):
        experts = weights[group].subjective.experts.values()
        assert all(scores[i] == 0 for scores in experts for i in dropped), group
    growth = weights["learning_growth"].subjective.experts.values()
    assert all(s["days_to_first_order"] > 0 and s["order_frequency_since_first"] > 0 for s in growth)
    # ... and the default profile leaves the new accounts' indicators out.
    default = model.profile("default").indicator_weights
    assert all(s["days_to_first_order"] == 0 for s in default["learning_growth"].subjective.experts.values())
    assert all(s["payback"] == 0 for s in default["financial"].subjective.experts.values())


def test_new_key_accounts_won_may_be_a_managers_kpi(tmp_path):
    doc = default_document()
    doc["managers"]["targets"] = {"new_key_accounts": 2}
    model = load_model(write(tmp_path, doc))
    assert model.kpi_targets(None)["new_key_accounts"] == 2
    doc["managers"]["targets"] = {"new_key_acounts": 2}
    assert problems(tmp_path, doc)


def test_unknown_stage(tmp_path):
    doc = default_document()
    doc["profiles"]["new_accounts"]["stages"] = ["new", "fresh"]
    message = one_problem(tmp_path, doc, "profiles.new_accounts.stages")
    assert message == (
        "unknown lifecycle stage 'fresh' (known: new, reactivated, retained, churned, dormant, prospect)"
    )


def test_stage_in_two_profiles(tmp_path):
    doc = default_document()
    doc["profiles"]["starters"] = {"stages": ["prospect", "new"]}
    message = one_problem(tmp_path, doc, "profiles.starters.stages")
    assert message == "'new' is already in profile 'new_accounts'"


def test_segment_and_stage_pair_in_two_profiles(tmp_path):
    doc = default_document()
    doc["profiles"]["a"] = {"segments": ["multinational", "regional"], "stages": ["new"]}
    doc["profiles"]["b"] = {"segments": ["regional"], "stages": ["churned", "new"]}
    message = one_problem(tmp_path, doc, "profiles.b")
    assert message == "segment 'regional' in stage 'new' is already selected by profile 'a'"


def test_profile_inherits_what_it_does_not_set():
    model = load_model()
    default, multinational = model.profile("default"), model.profile("multinational")
    assert multinational.segments == ("multinational",)
    # Its own group weights ...
    assert multinational.group_weights != default.group_weights
    # ... but no indicator_weights of its own: the default profile's are used.
    assert model.spec.profiles["multinational"].indicator_weights == {}
    assert multinational.indicator_weights == default.indicator_weights
    assert multinational.targets == default.targets == model.spec.targets


def test_profile_overrides_one_group_and_inherits_the_rest(tmp_path):
    doc = small_document()
    doc["targets"] = {"csat": 90}
    doc["profiles"]["export"] = {
        "segments": ["export"],
        "indicator_weights": {"financial": {"method": "fixed", "weights": {"revenue": 0.2, "gross_margin": 0.8}}},
        "targets": {"csat": 80},
    }
    model = load_model(write(tmp_path, doc))
    export, default = model.profile("export"), model.profile("default")
    assert model.profile_for_segment("export") == "export"
    assert export.group_weights == default.group_weights
    assert export.indicator_weights["financial"].weights == {"revenue": 0.2, "gross_margin": 0.8}
    assert export.indicator_weights["customer"] == default.indicator_weights["customer"]
    assert export.targets == {"csat": 80} and default.targets == {"csat": 90}


def test_allow_inconsistent_accepts_wang_chin(tmp_path):
    doc = default_document()
    customer = doc["profiles"]["default"]["indicator_weights"]["customer"]
    customer["subjective"] = {"method": "ahp", "matrix": WANG_CHIN, "allow_inconsistent": True}
    model = load_model(write(tmp_path, doc))
    assert model.profile("default").indicator_weights["customer"].subjective.allow_inconsistent


def test_target_normalisation_may_take_its_target_from_the_targets_section(tmp_path):
    doc = small_document()
    doc["groups"]["customer"]["indicators"]["csat"] = {"normalization": "target"}
    doc["targets"] = {"csat": 90}
    load_model(write(tmp_path, doc))


# -- invalid models ------------------------------------------------------------------


def test_unknown_indicator(tmp_path):
    doc = default_document()
    indicators = doc["groups"]["financial"]["indicators"]
    indicators["revnue"] = indicators.pop("revenue")
    message = one_problem(tmp_path, doc, "groups.financial.indicators.revnue")
    assert "unknown indicator 'revnue'" in message and "revenue" in message


@pytest.mark.parametrize(
    ("where", "mutate"),
    [
        ("grade", lambda d: d.update(grade=d.pop("grades"))),
        ("evaluation.window", lambda d: d["evaluation"].update(window=30)),
        (
            "groups.financial.indicators.revenue.directon",
            lambda d: d["groups"]["financial"]["indicators"]["revenue"].update(directon="higher"),
        ),
        ("groups.customer.lable", lambda d: d["groups"]["customer"].update(lable={"en": "x"})),
        (
            "profiles.default.indicator_weights.financial.apha",
            lambda d: d["profiles"]["default"]["indicator_weights"]["financial"].update(apha=0.3),
        ),
        (
            "profiles.default.indicator_weights.financial.subjective.expert",
            lambda d: d["profiles"]["default"]["indicator_weights"]["financial"]["subjective"].update(expert={}),
        ),
        ("profiles.multinational.segment", lambda d: d["profiles"]["multinational"].update(segment=["x"])),
        ("key_accounts.rules.0.min_revnue", lambda d: d["key_accounts"]["rules"][0].update(min_revnue=1)),
    ],
)
def test_unknown_key_anywhere(tmp_path, where, mutate):
    doc = default_document()
    mutate(doc)
    message = one_problem(tmp_path, doc, where)
    key = where.rsplit(".", 1)[-1]
    assert message.startswith(f"unknown key '{key}'"), message


def test_unknown_key_suggests_the_close_one(tmp_path):
    doc = default_document()
    doc["groups"]["financial"]["indicators"]["revenue"]["directon"] = "higher"
    message = one_problem(tmp_path, doc, "groups.financial.indicators.revenue.directon")
    assert "did you mean 'direction'?" in message


def test_wrong_direction_value(tmp_path):
    doc = default_document()
    doc["groups"]["customer"]["indicators"]["csat"]["direction"] = "up"
    message = one_problem(tmp_path, doc, "groups.customer.indicators.csat.direction")
    assert "'higher' or 'lower'" in message and "'up'" in message


def test_unknown_method(tmp_path):
    doc = small_document()
    doc["profiles"]["default"]["group_weights"]["method"] = "topsis"
    message = one_problem(tmp_path, doc, "profiles.default.group_weights.method")
    assert "'topsis'" in message and "'ahp'" in message


def test_fixed_weights_not_summing_to_one(tmp_path):
    doc = small_document()
    doc["profiles"]["default"]["group_weights"]["weights"] = {"financial": 0.6, "customer": 0.3}
    message = one_problem(tmp_path, doc, "profiles.default.group_weights.weights")
    assert "sum to 0.9, not 1" in message


def test_fixed_weights_naming_an_unknown_item(tmp_path):
    doc = small_document()
    doc["profiles"]["default"]["indicator_weights"]["financial"]["weights"] = {"revenue": 0.7, "margin": 0.3}
    found = problems(tmp_path, doc)
    where = f"{tmp_path / 'model.yaml'}: profiles.default.indicator_weights.financial.weights: "
    assert f"{where}unknown item(s) margin (expected revenue, gross_margin)" in found
    assert f"{where}missing item(s) gross_margin" in found


def test_negative_fixed_weight(tmp_path):
    doc = small_document()
    doc["profiles"]["default"]["group_weights"]["weights"] = {"financial": 1.2, "customer": -0.2}
    message = one_problem(tmp_path, doc, "profiles.default.group_weights.weights.customer")
    assert "must not be negative" in message and "-0.2" in message


def test_nan_weight_is_not_a_number(tmp_path):
    # NaN compares false with everything, so it would slip through "sums to 1".
    doc = small_document()
    doc["profiles"]["default"]["group_weights"]["weights"] = {"financial": ".nan", "customer": 0.4}
    text = yaml.safe_dump(doc, sort_keys=False).replace("'.nan'", ".nan")
    message = one_problem(tmp_path, text, "profiles.default.group_weights.weights.financial")
    assert "finite" in message


def _expert_doc(scores: dict) -> dict:
    doc = default_document()
    experts = doc["profiles"]["default"]["indicator_weights"]["financial"]["subjective"]["experts"]
    # The shipped financial group also holds the new accounts' indicators, which default weighs 0.
    experts["kam_lead"] = {"monthly_revenue_since_first": 0, "acquisition_cost": 0, "payback": 0, **scores}
    return doc


def test_expert_scores_missing_an_item(tmp_path):
    doc = _expert_doc({"revenue": 4, "revenue_growth": 5, "revenue_retention": 5})
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.financial.subjective.experts.kam_lead")
    assert message == "missing item(s) gross_margin"


def test_expert_scores_with_an_unknown_item(tmp_path):
    doc = _expert_doc({"revenue": 4, "revenue_growth": 5, "gross_margin": 2, "revenue_retention": 5, "margin": 1})
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.financial.subjective.experts.kam_lead")
    assert message.startswith("unknown item(s) margin")


def test_expert_score_negative(tmp_path):
    doc = _expert_doc({"revenue": 4, "revenue_growth": 5, "gross_margin": -2, "revenue_retention": 5})
    message = one_problem(
        tmp_path, doc, "profiles.default.indicator_weights.financial.subjective.experts.kam_lead.gross_margin"
    )
    assert "must not be negative" in message and "-2" in message


def test_expert_scores_all_zero(tmp_path):
    doc = _expert_doc({"revenue": 0, "revenue_growth": 0, "gross_margin": 0, "revenue_retention": 0})
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.financial.subjective.experts.kam_lead")
    assert "at least one importance score must be positive" in message


def _group_matrix(doc: dict, matrix) -> dict:
    doc["profiles"]["default"]["group_weights"]["matrix"] = matrix
    return doc


def test_ahp_matrix_of_the_wrong_size(tmp_path):
    doc = _group_matrix(default_document(), [[1, 2, 3], ["1/2", 1, 2], ["1/3", "1/2", 1]])
    message = one_problem(tmp_path, doc, "profiles.default.group_weights.matrix")
    assert message.startswith("must be 4×4")
    assert "financial, customer, internal_process, learning_growth" in message


def test_ahp_matrix_with_a_short_row(tmp_path):
    doc = _group_matrix(
        default_document(), [[1, 2, 3, 4], ["1/2", 1, 2], ["1/3", "1/2", 1, 2], ["1/4", "1/3", "1/2", 1]]
    )
    assert one_problem(tmp_path, doc, "profiles.default.group_weights.matrix").startswith("must be 4×4")


def test_ahp_matrix_not_reciprocal_names_the_cell(tmp_path):
    doc = _group_matrix(
        default_document(), [[1, 2, 3, 4], ["1/2", 1, 2, 3], ["1/3", 2, 1, 2], ["1/4", "1/3", "1/2", 1]]
    )
    message = one_problem(tmp_path, doc, "profiles.default.group_weights.matrix")
    assert "(row 2 'customer', col 3 'internal_process') = 2" in message
    assert "(row 3 'internal_process', col 2 'customer') = 2" in message
    assert "not reciprocal" in message


def test_ahp_matrix_with_a_zero_entry(tmp_path):
    doc = _group_matrix(
        default_document(), [[1, 2, 3, 4], ["1/2", 1, 2, 3], ["1/3", "1/2", 1, 2], [0, "1/3", "1/2", 1]]
    )
    message = one_problem(tmp_path, doc, "profiles.default.group_weights.matrix")
    assert "(row 4 'learning_growth', col 1 'financial') is 0" in message and "must be positive" in message


def test_ahp_matrix_with_text_that_is_not_a_number(tmp_path):
    doc = _group_matrix(
        default_document(), [[1, 2, 3, 4], ["1/2", 1, 2, 3], ["1/3", "1/2", 1, 2], ["1/0", "1/3", "1/2", 1]]
    )
    message = one_problem(tmp_path, doc, "profiles.default.group_weights.matrix.3.0")
    assert "number" in message and "'1/0'" in message


def test_inconsistent_ahp_matrix_shows_its_cr(tmp_path):
    doc = default_document()
    customer = doc["profiles"]["default"]["indicator_weights"]["customer"]
    customer["subjective"] = {"method": "ahp", "matrix": WANG_CHIN}
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.customer.subjective.matrix")
    assert "inconsistent" in message and "CR = 0.229 > 0.10" in message
    assert "allow_inconsistent" in message


def test_missing_default_profile(tmp_path):
    doc = default_document()
    doc["profiles"]["standard"] = doc["profiles"].pop("default")
    message = one_problem(tmp_path, doc, "profiles")
    assert "'default' profile is required" in message


def test_default_profile_must_weigh_every_group(tmp_path):
    doc = default_document()
    del doc["profiles"]["default"]["indicator_weights"]["customer"]
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.customer")
    assert message.startswith("required")


def test_segment_in_two_profiles(tmp_path):
    doc = default_document()
    doc["profiles"]["global"] = {"segments": ["regional", "multinational"]}
    message = one_problem(tmp_path, doc, "profiles.global.segments")
    assert "'multinational' is already in profile 'multinational'" in message


def test_grade_bands_not_descending(tmp_path):
    doc = default_document()
    doc["grades"] = [{"grade": "A", "min": 65}, {"grade": "B", "min": 80}, {"grade": "D", "min": 0}]
    message = one_problem(tmp_path, doc, "grades")
    assert "highest min to the lowest" in message


def test_grade_bands_not_ending_at_zero(tmp_path):
    doc = default_document()
    doc["grades"] = [{"grade": "A", "min": 80}, {"grade": "B", "min": 50}]
    message = one_problem(tmp_path, doc, "grades")
    assert "last band must have min 0" in message


def test_no_grade_bands(tmp_path):
    doc = default_document()
    doc["grades"] = []
    assert "at least one band" in one_problem(tmp_path, doc, "grades")


def test_combined_with_an_expert_objective_is_rejected(tmp_path):
    doc = default_document()
    financial = doc["profiles"]["default"]["indicator_weights"]["financial"]
    financial["objective"] = copy.deepcopy(financial["subjective"])
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.financial.objective.method")
    assert "must be entropy or critic" in message and "'expert'" in message


def test_combined_with_an_entropy_subjective_is_rejected(tmp_path):
    doc = default_document()
    doc["profiles"]["default"]["indicator_weights"]["financial"]["subjective"] = {"method": "entropy"}
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.financial.subjective.method")
    assert "must be fixed, expert or ahp" in message


def test_combined_without_objective(tmp_path):
    doc = default_document()
    del doc["profiles"]["default"]["indicator_weights"]["financial"]["objective"]
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.financial")
    assert "needs both 'subjective' and 'objective'" in message


def test_key_the_method_does_not_read(tmp_path):
    # `alpha` on an expert spec is a misplaced key: it belongs to the 'combined' spec around it.
    doc = default_document()
    doc["profiles"]["default"]["indicator_weights"]["financial"]["subjective"]["alpha"] = 0.7
    message = one_problem(tmp_path, doc, "profiles.default.indicator_weights.financial.subjective.alpha")
    assert "not used by method 'expert'" in message


def test_target_normalisation_without_any_target(tmp_path):
    doc = small_document()
    doc["groups"]["customer"]["indicators"]["nps"] = {"normalization": "target"}
    message = one_problem(tmp_path, doc, "groups.customer.indicators.nps.target")
    assert "needs a target" in message and "targets.nps" in message


def test_target_must_be_positive_and_name_an_indicator(tmp_path):
    doc = small_document()
    doc["targets"] = {"csat": 0, "revenue_grwth": 0.2}
    assert "must be > 0" in one_problem(tmp_path, doc, "targets.csat")
    assert "unknown indicator 'revenue_grwth'" in one_problem(tmp_path, doc, "targets.revenue_grwth")


def test_indicator_in_two_groups(tmp_path):
    doc = small_document()
    doc["groups"]["customer"]["indicators"]["revenue"] = {}
    found = problems(tmp_path, doc)
    assert any("groups: indicator 'revenue' appears in more than one group" in p for p in found)


def test_several_problems_are_reported_together(tmp_path):
    doc = default_document()
    doc["groups"]["customer"]["indicators"]["csat"]["direction"] = "up"
    doc["groups"]["financial"]["indicators"]["revenue"]["normalisation"] = "minmax"
    assert len(problems(tmp_path, doc)) == 2


def test_duplicate_key_in_the_file(tmp_path):
    # YAML itself would keep the second `revenue` silently: a copy-paste slip must not pass.
    doc = small_document()
    doc["profiles"]["default"]["indicator_weights"]["financial"]["weights"] = {"revenue": 0.7, "gross_margin": 0.3}
    text = yaml.safe_dump(doc, sort_keys=False).replace("gross_margin: 0.3", "revenue: 0.3")
    (message,) = problems(tmp_path, text)
    line = text.splitlines().index("          revenue: 0.3") + 1
    assert message.endswith(
        f": line {line}, column 11: not valid YAML: found duplicate key 'revenue' "
        f"(while constructing a mapping started at line {line - 1})"
    ), message


def test_invalid_yaml(tmp_path):
    (message,) = problems(tmp_path, "groups:\n  financial: [revenue\nprofiles: {}\n")
    assert message.endswith(
        ": line 3, column 9: not valid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence started at line 2)"
    ), message


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "42\n"])
def test_model_that_is_not_a_mapping(tmp_path, text):
    (message,) = problems(tmp_path, text)
    assert message.endswith("the model must be a YAML mapping")


def test_missing_required_section(tmp_path):
    doc = small_document()
    del doc["groups"]
    assert one_problem(tmp_path, doc, "groups") == "required but missing"


def test_file_not_found(tmp_path):
    path = tmp_path / "nowhere" / "model.yaml"
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert info.value.problems == [f"{path}: file not found"]


# -- the managers' scorecard ---------------------------------------------------------


def test_manager_scorecard_of_the_default_model():
    model = load_model(None)
    managers = model.manager_model()
    assert managers.groups == ["financial", "customer", "internal_process", "learning_growth", "kpi"]
    assert "kpi_attainment" in [i.id for i in managers.indicators]
    assert model.kpi_targets(None) == {
        "revenue_growth": 0.2,
        "csat": 90,
        "active_month_ratio": 0.8,
        "share_of_wallet": 0.3,
    }


def test_a_model_without_managers_uses_the_shipped_scorecard(tmp_path):
    model = load_model(write(tmp_path, small_document()))
    assert model.manager_model().groups == load_model(None).manager_model().groups


def test_manager_scorecard_unknown_book_indicator(tmp_path):
    doc = default_document()
    doc["managers"]["groups"]["financial"]["indicators"]["gross_margin"] = {}
    message = one_problem(tmp_path, doc, "managers.groups.financial.indicators.gross_margin")
    assert message.startswith("unknown indicator 'gross_margin'")


def test_manager_scorecard_inconsistent_ahp_is_refused_under_managers(tmp_path):
    doc = default_document()
    doc["managers"]["groups"] = {
        f"g{k}": {"indicators": {i: {}}}
        for k, i in enumerate(["revenue_growth", "nrr", "csat", "feedback_score", "logo_retention", "kpi_attainment"])
    }
    doc["managers"]["group_weights"] = {"method": "ahp", "matrix": WANG_CHIN}
    doc["managers"]["indicator_weights"] = {
        f"g{k}": {"method": "fixed", "weights": {i: 1}}
        for k, i in enumerate(["revenue_growth", "nrr", "csat", "feedback_score", "logo_retention", "kpi_attainment"])
    }
    message = one_problem(tmp_path, doc, "managers.group_weights.matrix")
    assert "CR = 0.229" in message


def test_manager_role_weights_and_targets_are_checked(tmp_path):
    doc = default_document()
    doc["managers"]["feedback_role_weights"]["peer"] = -1
    doc["managers"]["targets"] = {"nrr": 0, "gross_margin": 0.3}
    found = problems(tmp_path, doc)
    assert any("managers.feedback_role_weights.peer: must not be negative" in p for p in found)
    assert any("managers.targets.nrr: a target must be > 0" in p for p in found)
    assert any("managers.targets.gross_margin: unknown book indicator" in p for p in found)
