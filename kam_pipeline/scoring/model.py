"""The scoring model file (CONTRACT §4): parse, validate, and resolve per-segment profiles.

A model is validated completely before any data is read: structure (pydantic),
indicator names, weights, AHP matrices and their consistency ratio. Every problem
is reported as `<file>: <path inside the file>: <what is wrong>`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import types
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Union, get_args, get_origin

import numpy as np
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from kam_pipeline.ingest.contract import REVIEWER_ROLES
from kam_pipeline.scoring.indicators import direction_of, directions, registry
from kam_pipeline.scoring.weights import (
    WeightError,
    aggregate_judgements,
    ahp_weights,
    check_pairwise,
    expert_weights,
)
from kam_pipeline.warehouse.catalog import LIFECYCLE_STAGES

# The indicators a model may score, with their natural direction, from the indicator registry
# (scoring/indicators.yaml): account indicators are columns of marts.account_indicators
# (assessment dimensions are added by name), book indicators those of managers and teams
# (marts.book_indicators, and kpi_attainment from the KPI evaluation).
ACCOUNT_INDICATORS: dict[str, str] = directions("account")
BOOK_INDICATORS: dict[str, str] = directions("book")

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class ModelError(ValueError):
    """An invalid scoring model; `problems` lists every `<file>: <path>: <message>`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _number(value: object) -> object:
    # AHP cells are naturally written as fractions ("1/3", "1 / 3"); YAML reads them as text.
    if isinstance(value, str):
        try:
            return float(Fraction(re.sub(r"\s*/\s*", "/", value.strip())))
        except (ValueError, ZeroDivisionError):
            return value
    return value


Number = Annotated[float, BeforeValidator(_number)]


class _Strict(BaseModel):
    # allow_inf_nan=False: a NaN weight would pass every "sums to 1" comparison.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class IndicatorSpec(_Strict):
    direction: Literal["higher", "lower"] | None = None
    normalization: Literal["minmax", "percentile", "zscore", "log_minmax", "target", "bounded"] = "minmax"
    bounds: list[Number] | None = None  # bounded: the fixed scale [lo, hi] of the indicator
    target: Number | None = None
    cap: Number = Field(default=1.0, gt=0)
    missing: Literal["reweight", "neutral", "worst", "best"] = "reweight"
    source: Literal["indicators", "assessments"] = "indicators"
    dimension: str | None = None
    label: dict[str, str] = Field(default_factory=dict)


class GroupSpec(_Strict):
    label: dict[str, str] = Field(default_factory=dict)
    indicators: dict[str, IndicatorSpec]


class WeightSpec(_Strict):
    method: Literal["fixed", "expert", "ahp", "entropy", "critic", "combined"]
    weights: dict[str, Number] | None = None  # fixed
    experts: dict[str, dict[str, Number]] | None = None  # expert: expert -> item -> importance
    trim: Number = Field(default=0.0, ge=0, lt=0.5)
    matrix: list[list[Number]] | None = None  # ahp, rows/columns in item order
    matrices: dict[str, list[list[Number]]] | None = None  # ahp with several experts: expert -> matrix
    order: list[str] | None = None  # ahp: the item order of the matrix rows (default: model order)
    eigen: Literal["eigenvector", "geometric"] = "eigenvector"
    allow_inconsistent: bool = False
    subjective: WeightSpec | None = None  # combined
    objective: WeightSpec | None = None  # combined
    alpha: Number = Field(default=0.5, ge=0, le=1)
    combination: Literal["linear", "multiplicative", "game_theory"] = "linear"


# The keys each weight method reads (besides `method`); any other key set is reported.
_METHOD_KEYS: dict[str, set[str]] = {
    "fixed": {"weights"},
    "expert": {"experts", "trim"},
    "ahp": {"matrix", "matrices", "order", "eigen", "allow_inconsistent"},
    "entropy": set(),
    "critic": set(),
    "combined": {"subjective", "objective", "alpha", "combination"},
}


class ProfileSpec(_Strict):
    segments: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list)  # lifecycle stages (LIFECYCLE_STAGES); empty: any stage
    group_weights: WeightSpec | None = None
    indicator_weights: dict[str, WeightSpec] = Field(default_factory=dict)
    targets: dict[str, Number] = Field(default_factory=dict)


class GradeBand(_Strict):
    grade: str
    min: Number = Field(ge=0, le=100)


class KeyAccountRule(_Strict):
    name: str
    segments: list[str] | None = None
    min_revenue: Number | None = None


class KeyAccountSpec(_Strict):
    pareto_share: Number = Field(default=0.8, gt=0, le=1)
    rules: list[KeyAccountRule] = Field(default_factory=list)


class AlertSpec(_Strict):
    """When a score change becomes an alert in marts.score_alerts."""

    score_drop_points: Number = Field(default=10.0, gt=0)  # score fell by more than this since the last snapshot
    grade_drop: bool = True  # the grade fell (e.g. B -> C)
    became_churned: bool = True  # is_churned flipped to 1
    key_accounts_only: bool = True  # alert on key accounts only


class EvaluationSpec(_Strict):
    window_days: int = Field(default=365, ge=28, le=3660)
    churn_days: int = Field(default=180, ge=1, le=3660)
    retention_cap: Number = Field(default=2.0, gt=0)
    min_completeness: Number = Field(default=0.5, ge=0, le=1)
    # A profile with fewer scored accounts (or fewer scored managers) is compared with the whole portfolio.
    min_peers: int = Field(default=10, ge=1)
    sla_hours: dict[Literal["low", "medium", "high", "critical"], Number] = Field(
        default_factory=lambda: {"critical": 24.0, "high": 72.0, "medium": 120.0, "low": 240.0}
    )


class ManagerModelSpec(_Strict):
    """The balanced scorecard of account managers (teams aggregate their managers)."""

    feedback_role_weights: dict[Literal["self", "supervisor", "peer", "subordinate", "customer"], Number] = Field(
        default_factory=lambda: {r: 1.0 for r in REVIEWER_ROLES}
    )
    groups: dict[str, GroupSpec]
    group_weights: WeightSpec
    indicator_weights: dict[str, WeightSpec]
    targets: dict[str, Number] = Field(default_factory=dict)  # KPI targets for books (default: the model's)


class MethodsSpec(_Strict):
    """Settings of the ranking methods compared with the weighted sum (marts.method_comparison)."""

    gra_rho: Number = Field(default=0.5, gt=0, le=1)  # Deng's distinguishing coefficient ρ


class BacktestSpec(_Strict):
    """How marts.score_backtest tests the score against later churn."""

    # Days after a snapshot D at which churn is looked up (the first snapshot on or after D + h).
    horizons_days: list[Annotated[int, Field(ge=1, le=3660)]] = Field(default_factory=lambda: [90, 180], min_length=1)


class StabilitySpec(_Strict):
    """The bootstrap of marts.weight_stability and marts.rank_stability."""

    # Resamples of each profile's accounts; 0 turns the bootstrap (and both marts' rows) off.
    draws: int = Field(default=200, ge=0, le=10000)
    seed: int = Field(default=7, ge=0)  # the same seed and data give the same bands


class ModelSpec(_Strict):
    name: str = "scoring model"
    label: dict[str, str] = Field(default_factory=dict)  # the name per report language (default: name)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    groups: dict[str, GroupSpec]
    profiles: dict[str, ProfileSpec]
    targets: dict[str, Number] = Field(default_factory=dict)
    grades: list[GradeBand] = Field(
        default_factory=lambda: [
            GradeBand(grade="A", min=80),
            GradeBand(grade="B", min=65),
            GradeBand(grade="C", min=50),
            GradeBand(grade="D", min=0),
        ]
    )
    key_accounts: KeyAccountSpec = Field(default_factory=KeyAccountSpec)
    alerts: AlertSpec = Field(default_factory=AlertSpec)
    kpi_cap: Number = Field(default=1.0, gt=0)  # attainment above this counts as this in summaries
    managers: ManagerModelSpec | None = None
    methods: MethodsSpec = Field(default_factory=MethodsSpec)
    backtest: BacktestSpec = Field(default_factory=BacktestSpec)
    stability: StabilitySpec = Field(default_factory=StabilitySpec)


@dataclass(frozen=True)
class Indicator:
    """A resolved indicator: id, group, direction and how to normalise and treat missing values."""

    id: str
    group: str
    spec: IndicatorSpec

    @property
    def direction(self) -> str:
        return self.spec.direction or direction_of(self.id)


@dataclass(frozen=True)
class Profile:
    """Weights and targets for the accounts of some segments and/or lifecycle stages (the `default`
    profile takes every account no other profile selects)."""

    name: str
    segments: tuple[str, ...]
    group_weights: WeightSpec
    indicator_weights: dict[str, WeightSpec]
    targets: dict[str, float]
    stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoringModel:
    """A validated scoring model, ready for the engine."""

    path: str
    spec: ModelSpec

    @property
    def groups(self) -> list[str]:
        return list(self.spec.groups)

    @property
    def indicators(self) -> list[Indicator]:
        return [Indicator(i, g, s) for g, grp in self.spec.groups.items() for i, s in grp.indicators.items()]

    def indicators_of(self, group: str) -> list[Indicator]:
        return [i for i in self.indicators if i.group == group]

    @property
    def profiles(self) -> list[Profile]:
        return [self.profile(name) for name in self.spec.profiles]

    def profile(self, name: str) -> Profile:
        base = self.spec.profiles["default"]
        own = self.spec.profiles[name]
        return Profile(
            name=name,
            segments=tuple(own.segments),
            group_weights=own.group_weights or base.group_weights,
            indicator_weights={**base.indicator_weights, **own.indicator_weights},
            targets={**self.spec.targets, **base.targets, **own.targets},
            stages=tuple(own.stages),
        )

    def kpi_targets(self, profile: str | None = None) -> dict[str, float]:
        """KPI targets of an account profile, or of manager/team books when `profile` is None."""
        if profile is None:
            books = self.spec.managers.targets if self.spec.managers else {}
            return {**self.spec.targets, **books}
        return self.profile(profile).targets

    def manager_model(self) -> ScoringModel:
        """The manager scorecard as a one-profile model the engine can score (the shipped one if not set)."""
        managers = self.spec.managers or load_model(default_model_path()).spec.managers
        spec = _manager_model_spec(managers, self.spec)
        return ScoringModel(f"{self.path}#managers", spec)

    def profile_for_segment(self, segment: str) -> str:
        """Return the name of the profile that scores accounts of `segment` (whatever their stage)."""
        return self.profile_for(segment, None)

    def profile_for(self, segment: str, stage: str | None) -> str:
        """Return the name of the profile that scores an account of `segment` in lifecycle `stage`.

        The most specific selection wins: a profile naming both the segment and the stage, then one
        naming only the stage (a new account's tenure and retention say nothing, whatever its segment),
        then one naming only the segment, then `default`. Validation rejects two profiles of the same
        kind that both select an account, so the answer never depends on the order of the file.
        """
        for rank in _selection_ranks(self.spec.profiles):
            for name in rank:
                prof = self.spec.profiles[name]
                if (not prof.segments or segment in prof.segments) and (not prof.stages or stage in prof.stages):
                    return name
        return "default"


def _selection_ranks(profiles: dict[str, ProfileSpec]) -> list[list[str]]:
    """Profile names by how specifically they select accounts: segments and stages, stages only, segments only."""
    return [
        [n for n, p in profiles.items() if p.segments and p.stages],
        [n for n, p in profiles.items() if p.stages and not p.segments],
        [n for n, p in profiles.items() if p.segments and not p.stages],
    ]


def _manager_model_spec(managers: ManagerModelSpec, parent: ModelSpec) -> ModelSpec:
    return ModelSpec(
        name=f"{parent.name}: managers",
        evaluation=parent.evaluation,
        groups=managers.groups,
        profiles={
            "default": ProfileSpec(group_weights=managers.group_weights, indicator_weights=managers.indicator_weights)
        },
        grades=parent.grades,
        targets={**parent.targets, **managers.targets},
    )


def default_model_path() -> Path:
    """Return the path of the shipped default model (a balanced scorecard)."""
    return Path(str(resources.files("kam_pipeline") / "models" / "default.yaml"))


class _UniqueKeys:
    """A safe_load that refuses a key repeated in one mapping (YAML would silently keep the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
    """PyYAML's own parser: its messages name a problem best."""


# libyaml's parser where PyYAML has it: a tenth of the time (0.03 s for the default model).
_FastUniqueKeyLoader = type("_FastUniqueKeyLoader", (_UniqueKeys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)), {})


def _read_yaml(text: str) -> object:
    """Parse a model's YAML with libyaml's parser; a text it refuses is parsed again with PyYAML's own,
    whose error (the one raised) names the problem as the model's messages always have."""
    try:
        return yaml.load(text, Loader=_FastUniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader


def load_model(path: str | Path | None = None) -> ScoringModel:
    """Read and validate a model file; raise ModelError naming the file, the path inside it and the problem."""
    path = Path(path) if path else default_model_path()
    label = str(path)
    try:
        document = _read_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError([f"{label}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError([f"{label}: cannot be read: {exc}"]) from None
    except yaml.MarkedYAMLError as exc:
        raise ModelError([f"{label}: {_yaml_problem(exc)}"]) from None
    except yaml.YAMLError as exc:
        raise ModelError([f"{label}: not valid YAML: {' '.join(str(exc).split())}"]) from None
    if not isinstance(document, dict):
        raise ModelError([f"{label}: the model must be a YAML mapping"])
    try:
        spec = ModelSpec.model_validate(document)
    except ValidationError as exc:
        raise ModelError([f"{label}: {_describe(err)}" for err in exc.errors()]) from None
    problems = [f"{label}: {p}" for p in _semantic_problems(spec)]
    if problems:
        raise ModelError(problems)
    return ScoringModel(label, spec)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """`line L, column C: not valid YAML: <problem> (<context> started at line K)`, without PyYAML's excerpt."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    what = exc.problem or exc.context or "unreadable"
    context = ""
    if exc.context and exc.problem:
        context = f" ({exc.context}"
        context += f" started at line {exc.context_mark.line + 1})" if exc.context_mark else ")"
    return f"{where}not valid YAML: {what}{context}"


def _describe(err: dict) -> str:
    """`<path>: <problem>` for one pydantic error, with the allowed keys for a typo'd one."""
    loc = err["loc"]
    where = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _keys_at(loc[:-1])
        key = str(loc[-1])
        hint = ""
        if allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?" if close else " ("
            hint += f"{' ' if close else ''}allowed: {', '.join(allowed)})"
        return f"{where}: unknown key '{key}'{hint}"
    if err["type"] == "missing":
        return f"{where}: required but missing"
    given = err.get("input")
    if isinstance(given, (str, int, float, bool)) or given is None:
        return f"{where}: {err['msg']} (got {given!r})"
    return f"{where}: {err['msg']}"


def _unwrap(tp: object) -> object:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _keys_at(loc: tuple) -> list[str]:
    """The keys the model allows at `loc` (a pydantic error location), or [] if unknown."""
    tp: object = ModelSpec
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return []
            tp = tp.model_fields[part].annotation
        elif get_origin(tp) in (dict, list):
            tp = get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _semantic_problems(spec: ModelSpec, known: dict[str, str] = ACCOUNT_INDICATORS) -> list[str]:
    problems: list[str] = []
    if spec.managers is not None:
        problems += _manager_problems(spec)
    for gid, group in spec.groups.items():
        if not IDENTIFIER.match(gid):
            problems.append(f"groups.{gid}: group ids must match {IDENTIFIER.pattern}")
        if not group.indicators:
            problems.append(f"groups.{gid}.indicators: a group needs at least one indicator")
        for iid, ind in group.indicators.items():
            where = f"groups.{gid}.indicators.{iid}"
            if not IDENTIFIER.match(iid):
                problems.append(f"{where}: indicator ids must match {IDENTIFIER.pattern}")
            if ind.source == "indicators" and iid not in known:
                problems.append(
                    f"{where}: unknown indicator '{iid}' (known: {', '.join(sorted(known))}; "
                    "or set source: assessments)"
                )
            if ind.target is not None and ind.target <= 0:
                problems.append(f"{where}.target: must be > 0, got {ind.target:g}")
            problems += _bounds_problems(ind, f"{where}.bounds")
    seen = [i for g in spec.groups.values() for i in g.indicators]
    for dup in sorted({i for i in seen if seen.count(i) > 1}):
        problems.append(f"groups: indicator '{dup}' appears in more than one group")
    if "default" not in spec.profiles:
        problems.append("profiles: a 'default' profile is required (it scores every segment not named elsewhere)")
        return problems
    default = spec.profiles["default"]
    if default.group_weights is None:
        problems.append("profiles.default.group_weights: required")
    for gid in spec.groups:
        if gid not in default.indicator_weights:
            problems.append(f"profiles.default.indicator_weights.{gid}: required (one weight spec per group)")
    owners: dict[str, str] = {}
    # Profiles of the same kind (segments only, stages only, both) must not select the same accounts.
    stage_owners: dict[str, str] = {}
    pair_owners: dict[tuple[str, str], str] = {}
    for pname, prof in spec.profiles.items():
        if not IDENTIFIER.match(pname):
            problems.append(f"profiles.{pname}: profile names must match {IDENTIFIER.pattern}")
        for stage in prof.stages:
            if stage not in LIFECYCLE_STAGES:
                problems.append(
                    f"profiles.{pname}.stages: unknown lifecycle stage '{stage}' (known: {', '.join(LIFECYCLE_STAGES)})"
                )
        if prof.segments and prof.stages:
            for pair in ((seg, stage) for seg in prof.segments for stage in prof.stages):
                if pair in pair_owners:
                    problems.append(
                        f"profiles.{pname}: segment '{pair[0]}' in stage '{pair[1]}' is already selected by "
                        f"profile '{pair_owners[pair]}'"
                    )
                pair_owners[pair] = pname
        for stage in prof.stages if not prof.segments else ():
            if stage in stage_owners:
                problems.append(f"profiles.{pname}.stages: '{stage}' is already in profile '{stage_owners[stage]}'")
            stage_owners[stage] = pname
        for seg in prof.segments if not prof.stages else ():
            if seg in owners:
                problems.append(f"profiles.{pname}.segments: '{seg}' is already in profile '{owners[seg]}'")
            owners[seg] = pname
        if prof.group_weights is not None:
            problems += _weight_problems(
                prof.group_weights, list(spec.groups), f"profiles.{pname}.group_weights", pname
            )
        for gid, ws in prof.indicator_weights.items():
            where = f"profiles.{pname}.indicator_weights.{gid}"
            if gid not in spec.groups:
                problems.append(f"{where}: unknown group '{gid}'")
                continue
            problems += _weight_problems(ws, list(spec.groups[gid].indicators), where, pname)
    problems += _target_problems(spec)
    mins = [b.min for b in spec.grades]
    if not mins:
        problems.append("grades: at least one band (with min 0) is required")
    grades = [b.grade for b in spec.grades]
    for dup in sorted({g for g in grades if grades.count(g) > 1}):
        problems.append(f"grades: grade '{dup}' is listed more than once")
    if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
        problems.append("grades: bands must be listed from the highest min to the lowest, without repeats")
    if mins and mins[-1] != 0:
        problems.append("grades: the last band must have min 0 so every score gets a grade")
    return problems


def _manager_problems(spec: ModelSpec) -> list[str]:
    """Validate the managers section with the same rules, reporting paths under `managers.`."""
    managers = spec.managers
    problems = []
    for role, weight in managers.feedback_role_weights.items():
        if weight < 0:
            problems.append(f"managers.feedback_role_weights.{role}: must not be negative, got {weight:g}")
    if managers.feedback_role_weights and not any(w > 0 for w in managers.feedback_role_weights.values()):
        problems.append("managers.feedback_role_weights: at least one role needs a positive weight")
    for iid, value in managers.targets.items():
        if iid not in BOOK_INDICATORS:
            problems.append(f"managers.targets.{iid}: unknown book indicator '{iid}'")
        if value <= 0:
            problems.append(f"managers.targets.{iid}: a target must be > 0, got {value:g}")
    for group in managers.groups.values():
        for iid, ind in group.indicators.items():
            if ind.source == "assessments":
                problems.append(f"managers.groups: indicator '{iid}': assessments are account indicators")
    inner = _manager_model_spec(managers, spec.model_copy(update={"managers": None}))
    for problem in _semantic_problems(inner, BOOK_INDICATORS):
        if problem.startswith("profiles.default."):
            problem = "managers." + problem.removeprefix("profiles.default.")
        elif problem.startswith("groups"):
            problem = "managers." + problem
        elif problem.startswith("grades"):
            continue  # reported for the model itself
        problems.append(problem)
    return problems


def _bounds_problems(ind: IndicatorSpec, where: str) -> list[str]:
    """`bounded` needs bounds [lo, hi] with lo < hi (finiteness is checked by the parser); others take none."""
    if ind.normalization != "bounded":
        if ind.bounds is not None:
            return [f"{where}: only used by normalization 'bounded' (this indicator uses '{ind.normalization}')"]
        return []
    if ind.bounds is None:
        return [f"{where}: required for normalization 'bounded' (the fixed scale [lo, hi], e.g. [0, 100])"]
    if len(ind.bounds) != 2:
        return [f"{where}: must be two numbers [lo, hi], got {len(ind.bounds)}"]
    lo, hi = ind.bounds
    if not lo < hi:
        return [f"{where}: lo must be below hi, got [{lo:g}, {hi:g}]"]
    return []


def _target_problems(spec: ModelSpec) -> list[str]:
    """Targets must be > 0, name a known indicator, and exist for every 'target'-normalised indicator."""
    problems: list[str] = []
    known = set(registry()) | {i for g in spec.groups.values() for i in g.indicators}
    places = [("targets", spec.targets)] + [
        (f"profiles.{p}.targets", prof.targets) for p, prof in spec.profiles.items()
    ]
    for where, targets in places:
        for iid, value in targets.items():
            if iid not in known:
                problems.append(f"{where}.{iid}: unknown indicator '{iid}'")
            if value <= 0:
                problems.append(f"{where}.{iid}: a target must be > 0, got {value:g}")
    for gid, group in spec.groups.items():
        for iid, ind in group.indicators.items():
            if ind.normalization != "target" or ind.target is not None:
                continue
            # The engine falls back to the profile's targets (own, then default's, then the model's).
            lacking = [
                p
                for p, prof in spec.profiles.items()
                if iid not in {**spec.targets, **spec.profiles["default"].targets, **prof.targets}
            ]
            if lacking:
                problems.append(
                    f"groups.{gid}.indicators.{iid}.target: normalization 'target' needs a target, set here "
                    f"or under targets.{iid} (missing for profile(s) {', '.join(lacking)})"
                )
    return problems


def _weight_problems(ws: WeightSpec, items: list[str], where: str, profile: str) -> list[str]:
    problems: list[str] = [
        f"{where}.{key}: not used by method '{ws.method}' (it reads: {', '.join(sorted(_METHOD_KEYS[ws.method])) or 'nothing else'})"
        for key in sorted(ws.model_fields_set - _METHOD_KEYS[ws.method] - {"method"})
    ]
    if ws.method == "fixed":
        if not ws.weights:
            return problems + [f"{where}.weights: required for method 'fixed'"]
        problems += _item_problems(set(ws.weights), items, f"{where}.weights")
        problems += [
            f"{where}.weights.{item}: a weight must not be negative, got {v:g}"
            for item, v in ws.weights.items()
            if v < 0
        ]
        total = sum(ws.weights.values())
        if abs(total - 1) > 1e-6:
            problems.append(f"{where}.weights: weights sum to {total:.6g}, not 1")
    elif ws.method == "expert":
        if not ws.experts:
            return problems + [f"{where}.experts: required for method 'expert'"]
        own: list[str] = []
        for expert, scores in ws.experts.items():
            own += _item_problems(set(scores), items, f"{where}.experts.{expert}")
            negative = [
                f"{where}.experts.{expert}.{item}: an importance score must not be negative, got {v:g}"
                for item, v in scores.items()
                if v < 0
            ]
            own += negative
            if not negative and not any(v > 0 for v in scores.values()):
                own.append(f"{where}.experts.{expert}: at least one importance score must be positive")
        if not own:
            try:
                expert_weights([[s[i] for i in items] for s in ws.experts.values()], trim=ws.trim)
            except WeightError as exc:
                own.append(f"{where}.experts: {exc}")
        problems += own
    elif ws.method == "ahp":
        problems += _ahp_problems(ws, items, where)
    elif ws.method == "combined":
        if ws.subjective is None or ws.objective is None:
            return problems + [f"{where}: method 'combined' needs both 'subjective' and 'objective'"]
        if ws.subjective.method not in ("fixed", "expert", "ahp"):
            problems.append(
                f"{where}.subjective.method: must be fixed, expert or ahp for 'combined', got '{ws.subjective.method}'"
            )
        else:
            problems += _weight_problems(ws.subjective, items, f"{where}.subjective", profile)
        if ws.objective.method not in ("entropy", "critic"):
            problems.append(
                f"{where}.objective.method: must be entropy or critic for 'combined', got '{ws.objective.method}'"
            )
        else:
            problems += _weight_problems(ws.objective, items, f"{where}.objective", profile)
    return problems


def _item_problems(given: set[str], items: list[str], where: str) -> list[str]:
    problems = []
    if unknown := given - set(items):
        problems.append(f"{where}: unknown item(s) {', '.join(sorted(unknown))} (expected {', '.join(items)})")
    if missing := set(items) - given:
        problems.append(f"{where}: missing item(s) {', '.join(sorted(missing))}")
    return problems


def _name_cells(message: str, order: list[str]) -> str:
    """Add item names to the `(row i, col j)` cells check_pairwise reports."""
    return re.sub(
        r"\(row (\d+), col (\d+)\)",
        lambda m: f"(row {m[1]} '{order[int(m[1]) - 1]}', col {m[2]} '{order[int(m[2]) - 1]}')",
        message,
    )


def _ahp_problems(ws: WeightSpec, items: list[str], where: str) -> list[str]:
    if ws.matrix is None and ws.matrices is None:
        return [f"{where}.matrix: required for method 'ahp' (or matrices: one matrix per expert)"]
    if ws.matrix is not None and ws.matrices is not None:
        return [f"{where}: give either matrix (one judgement) or matrices (one per expert), not both"]
    order = ws.order or items
    if ws.order is not None:
        if problems := _item_problems(set(ws.order), items, f"{where}.order"):
            return problems
    if ws.matrices is not None:
        return _expert_matrix_problems(ws, order, where)
    return _matrix_problems(ws.matrix, ws, order, f"{where}.matrix")


def _matrix_problems(
    cells: list[list[float]], ws: WeightSpec, order: list[str], where: str, who: str = ""
) -> list[str]:
    """Shape, pairwise rules and CR <= 0.10 (unless allow_inconsistent) of one matrix; `who` names an expert."""
    n = len(order)
    if len(cells) != n or any(len(row) != n for row in cells):
        return [f"{where}: must be {n}×{n} (one row and column per item: {', '.join(order)})"]
    matrix = np.array(cells, dtype=float)
    if issues := check_pairwise(matrix):
        return [f"{where}: {_name_cells(issue, order)}" for issue in issues]
    try:
        result = ahp_weights(matrix, method=ws.eigen)
    except WeightError as exc:
        return [f"{where}: {exc}"]
    if not result.accepted and not ws.allow_inconsistent:
        return [
            f"{where}: inconsistent pairwise comparisons{who}: CR = {result.cr:.3f} > 0.10 "
            f"(λmax = {result.lambda_max:.4f}, CI = {result.ci:.4f}); revise the judgements "
            "or set allow_inconsistent: true"
        ]
    return []


def _expert_matrix_problems(ws: WeightSpec, order: list[str], where: str) -> list[str]:
    """Every expert's matrix checked on its own (naming the expert), then their geometric mean."""
    if not ws.matrices:
        return [f"{where}.matrices: at least one expert's matrix is required"]
    problems = []
    for expert, cells in ws.matrices.items():
        if not IDENTIFIER.match(expert):
            problems.append(f"{where}.matrices.{expert}: expert names must match {IDENTIFIER.pattern}")
        problems += _matrix_problems(cells, ws, order, f"{where}.matrices.{expert}", f" of expert '{expert}'")
    if problems:
        return problems
    aggregate = aggregate_judgements([np.array(m, dtype=float) for m in ws.matrices.values()])
    return _matrix_problems(aggregate.tolist(), ws, order, f"{where}.matrices", " of the experts' geometric mean")


def model_version(model: ScoringModel) -> str:
    """Return the model's version: the first 12 hex digits of the SHA-256 of its canonical content.

    The content is the validated model with every default filled in, as JSON with sorted keys, so
    comments, key order, YAML style and the file's path do not change it, and a model that spells
    out a default has the version of one that leaves it out.
    """
    canonical = json.dumps(model.spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
