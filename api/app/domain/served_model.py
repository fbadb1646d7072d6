"""The one interface serving has to a model version: immutable, loaded by the registry."""

from dataclasses import dataclass
from typing import Any

from app.domain.features import Feature
from app.domain.scorer import Scorer


@dataclass(frozen=True)
class ServedModel:
    """The loaded model version: the only mutable thing a worker holds, and it never changes."""

    version: int
    features: tuple[Feature, ...]  # the inputs this version uses, in the catalogue's order
    scorer: Scorer
    # The training rows' inputs and labels, for the decision-boundary plot and drift.
    training_points: list[dict[str, Any]]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)
