"""A version's figures, typed: on the workshop's holdout, how it was trained, and live.

Training builds the first two once; the registry stores them as JSONB and hands them back
typed, and `/accuracy`, `/models`, `python -m app versions` and the page read the same fields.
"""

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class HoldoutFigures(BaseModel):
    """On the workshop's 100 held-out rows: the same rows for every version."""

    model_config = ConfigDict(frozen=True)

    accuracy: float
    confusion_matrix: list[list[int]] = Field(description="[[tn, fp], [fn, tp]]")
    roc_auc: float
    n_train: int
    n_test: int


class TrainingFigures(BaseModel):
    """How a version was trained: the split that chose its rows, and how many it had."""

    model_config = ConfigDict(frozen=True)

    test_size: float
    random_state: int
    dataset_rows: int
    outcome_rows: int  # logged predictions with an outcome (train --with-outcomes)


@dataclass(frozen=True)
class LiveFigures:
    """How a version's logged predictions compare with the outcomes recorded for them."""

    n_outcomes: int
    confusion_matrix: list[list[int]]  # [[tn, fp], [fn, tp]]

    @property
    def accuracy(self) -> float | None:
        if not self.n_outcomes:
            return None
        return (self.confusion_matrix[0][0] + self.confusion_matrix[1][1]) / self.n_outcomes


NO_OUTCOMES = LiveFigures(0, [[0, 0], [0, 0]])
