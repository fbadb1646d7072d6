"""`python -m app report --out DIR`: the workshop's two figures for the served model version,
drawn with matplotlib (imported by this command only): the decision boundary with the
training points (one panel per category when the version uses one) and the confusion matrix
on the held-out rows."""

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.domain import training
from app.domain.dataset import LabelledRow
from app.domain.features import FEATURES, CategoricalFeature, NumericFeature
from app.store import registry, training_data
from app.store.tables import ModelVersion

BUY, NO_BUY = "#b45309", "#1e5a96"
# Each axis spans its values plus this share of their range on both sides, never below the
# input's declared minimum (the page, nginx/static/app.js, uses the same rule).
AXIS_PADDING = 0.05
BUY_REGION, NO_BUY_REGION = "#fde7c8", "#dbe8f5"


def write(connection: Connection, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display

    with Session(bind=connection) as session:
        served = registry.served_version_number(session)
        stored = None if served is None else session.get(ModelVersion, served)
        if stored is None:
            raise registry.NoModelError("no model version is served")
        trained_ids = set(stored.train_user_ids)
        points = [row for row in training_data.labelled_rows(session)
                  if row.user_id in trained_ids]
        version, holdout = stored.version, stored.holdout
        features = FEATURES.stored(stored.features)
        pipeline = training.load_pipeline(stored.pipeline)
    out.mkdir(parents=True, exist_ok=True)
    boundary = out / f"decision_boundary_v{version}.png"
    matrix = out / f"confusion_matrix_v{version}.png"
    _boundary(pipeline, features, points, version, boundary)
    _confusion(holdout.confusion_matrix, holdout.accuracy, version, matrix)
    return [boundary, matrix]


def padded_range(values: list[float], low: float) -> tuple[float, float]:
    smallest, largest = min(values), max(values)
    pad = (largest - smallest or abs(largest) or 1) * AXIS_PADDING
    return max(low, smallest - pad), largest + pad


def _boundary(pipeline: Any, features: tuple[Any, ...], points: list[LabelledRow],
              version: int, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    numeric = [f for f in features if isinstance(f, NumericFeature)]
    categorical = [f for f in features if isinstance(f, CategoricalFeature)]
    x, y = numeric[0], numeric[1]
    combos = list(itertools.product(*(f.categories for f in categorical)))
    figure, axes = plt.subplots(1, len(combos), figsize=(6.5 * len(combos), 5), squeeze=False)
    xs = [p.values[x.name] for p in points if p.values[x.name] is not None]
    ys = [p.values[y.name] for p in points if p.values[y.name] is not None]
    grid_x, grid_y = np.meshgrid(np.linspace(*padded_range(xs, x.low), 300),
                                 np.linspace(*padded_range(ys, y.low), 300))
    for axis, combo in zip(axes[0], combos, strict=True):
        given = {f.name: value for f, value in zip(categorical, combo, strict=True)}
        # The other numeric inputs are left blank: the pipeline imputes their mean.
        grid_rows = [{x.name: a, y.name: b, **given}
                     for a, b in zip(grid_x.ravel(), grid_y.ravel(), strict=True)]
        predicted = pipeline.predict(training.design_matrix(grid_rows, features))
        axis.contourf(grid_x, grid_y, predicted.reshape(grid_x.shape), levels=[-0.5, 0.5, 1.5],
                      cmap=ListedColormap([NO_BUY_REGION, BUY_REGION]))
        shown = [p for p in points if all(p.values[k] == v for k, v in given.items())]
        for bought, colour, label in ((False, NO_BUY, "did not buy"), (True, BUY, "bought")):
            chosen = [p for p in shown if p.purchased is bought
                      and p.values[x.name] is not None and p.values[y.name] is not None]
            axis.scatter([p.values[x.name] for p in chosen], [p.values[y.name] for p in chosen],
                         c=colour, s=12, label=label)
        title = ", ".join(f"{k} = {v}" for k, v in given.items()) or "all training rows"
        axis.set(title=f"{title}", xlabel=x.label, ylabel=y.label)
        axis.legend(loc="upper left")
    figure.suptitle(f"Logistic regression, version {version}: decision boundary "
                    "(training set)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _confusion(matrix: list[list[int]], accuracy: float, version: int, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.8, 4.2))
    axis.imshow(matrix, cmap="Blues")
    peak = max(max(row) for row in matrix)
    for (i, j), count in np.ndenumerate(np.array(matrix)):
        axis.text(j, i, str(count), ha="center", va="center", fontsize=16,
                  color="white" if count > peak / 2 else "black")
    axis.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["no", "yes"],
             yticklabels=["no", "yes"], xlabel="Predicted purchase", ylabel="Actual purchase",
             title=f"Version {version}: accuracy {accuracy * 100:.1f} %")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
