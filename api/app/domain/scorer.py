"""Fast predictions from the fitted parameters: what the web workers run on every request.

The model is one scikit-learn Pipeline: mean imputation of the numeric inputs and one-hot
encoding of the categorical ones (a ColumnTransformer, numeric columns first), then
StandardScaler, then LogisticRegression. sklearn's predict_proba spends ~0.15 ms per call
validating its input; the arithmetic takes microseconds. `Scorer` repeats sklearn's own array
operations in the same order (impute, one-hot, scale, matrix product, expit), so its results
are bitwise identical to `pipeline.predict_proba` on the same inputs. It needs numpy and
scipy.special only: a worker never imports sklearn, which halves its start time and memory.
This is the server's only copy of the logistic regression.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

FloatArray = NDArray[np.float64]
Columns = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class Scorer:
    numeric: tuple[str, ...]  # the numeric inputs, in column order
    impute: FloatArray  # each numeric input's mean over the training rows
    categorical: tuple[tuple[str, tuple[str, ...]], ...]  # (input, its categories) in order
    mean: FloatArray  # StandardScaler, per encoded column
    scale: FloatArray
    coef_t: FloatArray  # shape (n encoded columns, 1), as sklearn's decision_function uses it
    intercept: FloatArray
    # The memory layout of the ColumnTransformer's output ("C" or "F", as sklearn leaves it):
    # BLAS sums a matrix product in a different order for each, and the last bit shows it.
    layout: Literal["C", "F"] = "C"

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> "Scorer":
        """From the JSON stored with the model version (floats survive JSON exactly)."""
        return cls(
            numeric=tuple(parameters["numeric"]),
            # null (a version trained before imputation existed) reads as NaN: never used,
            # since a version's inputs are required in every request.
            impute=np.array(parameters["impute"], dtype=np.float64),
            categorical=tuple((c["name"], tuple(c["categories"]))
                              for c in parameters["categorical"]),
            mean=np.array(parameters["mean"], dtype=np.float64),
            scale=np.array(parameters["scale"], dtype=np.float64),
            coef_t=np.array(parameters["coef"], dtype=np.float64).reshape(-1, 1),
            intercept=np.array([parameters["intercept"]], dtype=np.float64),
            layout=parameters["layout"],
        )

    def parameters(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "impute": self.impute.tolist(),
            "categorical": [{"name": name, "categories": list(categories)}
                            for name, categories in self.categorical],
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef_t[:, 0].tolist(),
            "intercept": float(self.intercept[0]),
            "layout": self.layout,
        }

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.numeric + tuple(name for name, _ in self.categorical)

    @property
    def encoded_columns(self) -> list[str]:
        """Names of the columns the scaler and the classifier see, e.g. gender=Male."""
        return [*self.numeric,
                *(f"{name}={value}" for name, categories in self.categorical
                  for value in categories)]

    def encode(self, columns: Columns, n_rows: int) -> FloatArray:
        """The ColumnTransformer's output for these inputs: imputed numerics, then one-hot.
        A numeric value may be None or NaN (imputed); a category must be one of the known."""
        encoded = np.empty((n_rows, len(self.mean)), dtype=np.float64, order=self.layout)
        width = len(self.numeric)
        for j, name in enumerate(self.numeric):
            encoded[:, j] = columns[name]  # None becomes NaN here
        if width:
            numeric = encoded[:, :width]
            missing = np.isnan(numeric)
            if missing.any():
                encoded[:, :width] = np.where(missing, self.impute, numeric)
        for name, categories in self.categorical:
            values = columns[name]
            unknown = set(values).difference(categories)
            if unknown:
                raise ValueError(f"{name}: unknown categories {sorted(map(str, unknown))}")
            for value in categories:
                encoded[:, width] = [v == value for v in values]
                width += 1
        return encoded

    def decision(self, encoded: FloatArray) -> FloatArray:
        scaled = (encoded - self.mean) / self.scale
        scores: FloatArray = (scaled @ self.coef_t + self.intercept).reshape(-1)
        return scores

    def score_encoded(self, encoded: FloatArray) -> tuple[NDArray[np.bool_], FloatArray]:
        decision = self.decision(encoded)
        # sklearn's predict picks class 1 where the decision function is positive.
        purchased: NDArray[np.bool_] = decision > 0
        probability: FloatArray = expit(decision)
        return purchased, probability

    def score(self, columns: Columns, n_rows: int) -> tuple[NDArray[np.bool_], FloatArray]:
        """(purchased, probability of purchase) for n_rows inputs given column by column."""
        return self.score_encoded(self.encode(columns, n_rows))

    def score_one(self, row: Mapping[str, Any]) -> tuple[bool, float]:
        """One row, answered exactly as `score` answers it for a single row, without building
        the encoded matrix (the arrays cost more than the arithmetic: 17 µs of CPU per
        /predict, docs/benchmarks.md). The same operations in the same order: impute, one-hot,
        (x - mean) / scale in Python floats (IEEE arithmetic: the bits numpy's element-wise
        operations give), the sum of products by numpy's dot (the BLAS kernel the one-row
        matrix product uses, fused multiply-adds included), then expit as scipy computes it,
        1 / (1 + exp(-x)). tests/unit/test_training.py holds it bitwise equal to sklearn."""
        values: list[float] = []
        for name, impute in zip(self.numeric, self.impute.tolist(), strict=True):
            value = row.get(name)
            values.append(impute if value is None or math.isnan(value) else float(value))
        for name, categories in self.categorical:
            category = row[name]
            if category not in categories:
                raise ValueError(f"{name}: unknown categories {[str(category)]}")
            values.extend(1.0 if category == known else 0.0 for known in categories)
        scaled = [(x - mean) / scale
                  for x, mean, scale in zip(values, self.mean.tolist(), self.scale.tolist(),
                                            strict=True)]
        decision = float(np.dot(np.array(scaled), self.coef_t[:, 0])) + float(self.intercept[0])
        try:
            probability = 1.0 / (1.0 + math.exp(-decision))
        except OverflowError:  # exp(-x) beyond the largest float: scipy's inf gives 0.0
            probability = 0.0
        return decision > 0, probability

    def boundary(self, x: str, y: str, given: Mapping[str, Any]) -> dict[str, float | bool]:
        """The 50 % line over two numeric inputs, the others fixed (categories as `given`,
        numerics at their imputation value): y = intercept + slope * x. `buy_above` says on
        which side the model predicts a purchase. The page draws from this, so it needs no
        copy of the formula."""
        columns: dict[str, Sequence[Any]] = {name: [None] for name in self.numeric}
        columns.update({name: [value] for name, value in given.items()})
        columns[x], columns[y] = [0.0], [0.0]
        at_origin = float(self.decision(self.encode(columns, 1))[0])
        weight = self.coef_t[:, 0] / self.scale
        w_x, w_y = (float(weight[self.numeric.index(name)]) for name in (x, y))
        return {"intercept": -at_origin / w_y, "slope": -w_x / w_y, "buy_above": w_y > 0}
