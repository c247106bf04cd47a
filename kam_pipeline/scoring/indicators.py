"""The indicator registry: one declaration per indicator a scoring model may score.

`indicators.yaml` (shipped beside this module) declares each indicator once: where it is
computed (level), which direction is better, its fixed scale where one exists, how the
report prints it, its label in every report language, its column description and the
report's suggested action. The model, the marts' column comments, the data dictionary and
the report read it from here; a mistake in the file is reported as
`<file>: <indicator>.<key>: <problem>`.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Level = Literal["account", "book"]
Format = Literal["percent", "money", "count", "days", "hours", "years", "points", "ratio"]

# libyaml's parser where PyYAML has it (a tenth of the pure-Python parser's time).
_FAST_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Digits after the point when an entry sets no `decimals`: whole units for money, counts and days.
_DECIMALS: dict[str, int] = {"percent": 1, "money": 0, "count": 0, "days": 0}

# The marts table whose columns are the indicators of each level.
LEVEL_TABLES: dict[str, str] = {"account": "account_indicators", "book": "book_indicators"}


class RegistryError(ValueError):
    """An invalid indicator registry; `problems` lists every `<file>: <indicator>.<key>: <message>`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class Labels(BaseModel):
    """An indicator's name in each report language (both are required)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class IndicatorDef(BaseModel):
    """One registry entry (see the comment at the top of indicators.yaml for each key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    levels: tuple[Level, ...] = Field(min_length=1)
    direction: Literal["higher", "lower"]
    scale: tuple[float, float] | None = None
    format: Format
    decimals: int | None = Field(default=None, ge=0, le=6)
    label: Labels
    description: str | dict[Level, str]
    action: str | None = Field(default=None, pattern=r"^[a-z_]+$")
    from_orders: bool = False
    written_by: Literal["sql", "kpi_evaluation"] = "sql"

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorDef:
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(f"levels: listed twice in {list(self.levels)}")
        if self.scale is not None and not self.scale[0] < self.scale[1]:
            raise ValueError(f"scale: lo must be below hi, got {list(self.scale)}")
        if isinstance(self.description, dict) and set(self.description) != set(self.levels):
            raise ValueError(
                f"description: one text per level {list(self.levels)} (or a single text), "
                f"got {sorted(self.description)}"
            )
        return self

    def label_in(self, lang: str) -> str:
        """The indicator's name in report language `lang` ('en' or 'zh')."""
        return getattr(self.label, lang)

    @property
    def digits(self) -> int:
        """Digits after the point the report prints the value with."""
        return self.decimals if self.decimals is not None else _DECIMALS.get(self.format, 1)

    def describe(self, level: str | None = None) -> str:
        """The column description at `level` ('account' or 'book'); other tables take the book text."""
        if isinstance(self.description, str):
            return self.description
        return self.description.get(level) or self.description.get("book") or next(iter(self.description.values()))


def registry_path() -> Path:
    """Return the path of the shipped registry file."""
    return Path(str(resources.files("kam_pipeline") / "scoring" / "indicators.yaml"))


def load_registry(path: Path | None = None) -> dict[str, IndicatorDef]:
    """Read and validate a registry file; return name -> entry in file order, or raise RegistryError."""
    path = path or registry_path()
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_FAST_SAFE)  # noqa: S506 - a SafeLoader
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError([f"{path}: cannot be read: {' '.join(str(exc).split())}"]) from None
    if not isinstance(document, dict) or not document:
        raise RegistryError([f"{path}: must be a mapping of indicator name -> declaration"])
    entries, problems = {}, []
    for name, body in document.items():
        if not isinstance(body, dict):
            problems.append(f"{path}: {name}: must be a mapping of keys (levels, direction, format, label, ...)")
            continue
        try:
            entries[name] = IndicatorDef.model_validate({"name": name, **body})
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"{path}: {name}{'.' + where if where else ''}: {err['msg']}")
    if problems:
        raise RegistryError(problems)
    return entries


@functools.cache
def registry() -> dict[str, IndicatorDef]:
    """The shipped registry, read once."""
    return load_registry()


def indicator(name: str | None) -> IndicatorDef | None:
    """The registry entry of `name`, or None for anything else (e.g. an assessment dimension)."""
    return registry().get(name) if name else None


def names(level: str) -> list[str]:
    """The indicators of `level` ('account' or 'book'), in registry order."""
    return [name for name, entry in registry().items() if level in entry.levels]


def directions(level: str) -> dict[str, str]:
    """name -> 'higher' or 'lower' for the indicators of `level`."""
    return {name: registry()[name].direction for name in names(level)}


def direction_of(name: str, default: str = "higher") -> str:
    """The registry direction of `name`, else `default`."""
    entry = indicator(name)
    return entry.direction if entry else default
