"""The model's inputs, declared once.

Each feature is declared here and only here: its name (in requests, responses, the prediction
log and `train --features`), its kind, its bounds or categories, its column in the data set
CSV and in PostgreSQL, and how people see it. Request schemas, CSV validation, training, the
fast scorer, the log writer, `/model`, the web page and the benchmark derive from this list.
Adding a numeric input is one more entry here plus a migration adding its columns (and the
data set's column in the CSV); tests/e2e/test_new_input.py proves it for a required one.

Core features are required in every request and used by every version trained from then on
(versions trained before one was added keep serving without it). The others are optional in a
request, required when the served version uses them, and logged when given.
"""

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Double, Integer, SmallInteger, String
from sqlalchemy.types import TypeEngine

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Categories go into PostgreSQL array literals and JSON as they are: keep them plain words.
CATEGORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,30}$")


@dataclass(frozen=True)
class NumericFeature:
    name: str
    label: str  # for people: form labels, error messages, plot axes
    unit: str  # shown after the label in the form, e.g. "years"
    csv_header: str
    dataset_column: str
    dataset_type: TypeEngine[Any]  # how the data set stores it (the log stores float8)
    low: float
    high: float
    example: float  # the form's default, OpenAPI's example and the benchmark's centre
    whole: bool = True  # the data set's values are whole numbers
    core: bool = False
    kind: Literal["numeric"] = field(default="numeric", init=False)

    @property
    def log_type(self) -> TypeEngine[Any]:
        return Double()

    @property
    def array_type(self) -> str:
        return "float8[]"


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    label: str
    csv_header: str
    dataset_column: str
    categories: tuple[str, ...]
    example: str
    core: bool = False
    kind: Literal["categorical"] = field(default="categorical", init=False)

    @property
    def dataset_type(self) -> TypeEngine[Any]:
        return String(16)

    @property
    def log_type(self) -> TypeEngine[Any]:
        return String(16)

    @property
    def array_type(self) -> str:
        return "text[]"


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class FeatureSet:
    """Every feature the service knows (the catalogue), in a fixed order."""

    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"feature names repeat: {names}")
        for feature in self.features:
            for identifier in (feature.name, feature.dataset_column):
                if not IDENTIFIER.match(identifier):
                    raise ValueError(f"{identifier!r} is not a plain SQL identifier")
            if isinstance(feature, CategoricalFeature):
                if not feature.categories or not all(map(CATEGORY.match, feature.categories)):
                    raise ValueError(f"{feature.name}: categories must be plain words")
                if feature.example not in feature.categories:
                    raise ValueError(f"{feature.name}: example must be a category")
            elif not feature.low <= feature.example <= feature.high:
                raise ValueError(f"{feature.name}: example must be within its bounds")

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __getitem__(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def core(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.core)

    def select(self, names: Iterable[str]) -> tuple[Feature, ...]:
        """The features a new version is to use, validated (every core one among them), in
        the catalogue's order."""
        chosen = self.stored(names)
        missing = [name for name in self.core if name not in {f.name for f in chosen}]
        if missing:
            raise ValueError(f"every version uses {', '.join(missing)}")
        return chosen

    def stored(self, names: Iterable[str]) -> tuple[Feature, ...]:
        """The features a stored version uses, in the catalogue's order (one trained before a
        core input was added lacks it, and is served all the same)."""
        wanted = [name.strip() for name in names if name.strip()]
        unknown = sorted(set(wanted) - set(self.names))
        if unknown:
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}; "
                             f"known: {', '.join(self.names)}")
        return tuple(f for f in self.features if f.name in wanted)

    def with_feature(self, feature: Feature) -> "FeatureSet":
        return FeatureSet((*self.features, feature))


FEATURES = FeatureSet((
    NumericFeature(
        name="age", label="Age", unit="years", csv_header="Age", dataset_column="age",
        dataset_type=SmallInteger(), low=0, high=120, example=30, core=True,
    ),
    NumericFeature(
        name="salary", label="Salary", unit="estimated, per year", csv_header="EstimatedSalary",
        dataset_column="estimated_salary", dataset_type=Integer(), low=0, high=10_000_000,
        example=87_000, core=True,
    ),
    CategoricalFeature(
        name="gender", label="Gender", csv_header="Gender", dataset_column="gender",
        categories=("Female", "Male"), example="Male",
    ),
))

# The workshop's model: what the first start trains and `train` uses by default.
DEFAULT_FEATURES: tuple[str, ...] = ("age", "salary")


def describe(features: Sequence[Feature], used: Iterable[str]) -> list[dict[str, Any]]:
    """The features as JSON for /model and the page: bounds, categories, whether required
    (a core input always; another when the served version uses it)."""
    in_use = set(used)
    described: list[dict[str, Any]] = []
    for f in features:
        item: dict[str, Any] = {"name": f.name, "kind": f.kind, "label": f.label,
                                "required": f.core or f.name in in_use, "example": f.example}
        if isinstance(f, NumericFeature):
            item.update(unit=f.unit, min=f.low, max=f.high)
        else:
            item.update(categories=list(f.categories))
        described.append(item)
    return described
