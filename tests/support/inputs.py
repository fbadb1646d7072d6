"""Inputs for comparing the fast scorer with sklearn: random rows over each input's whole
range, its edges, and every category."""

from typing import Any

import numpy as np

from app.domain.features import CategoricalFeature, Feature


def edge_and_random_rows(features: tuple[Feature, ...], n_random: int = 20_000,
                         seed: int = 7, blanks: bool = False) -> list[dict[str, Any]]:
    """Rows as dicts by feature name: every combination of each numeric input's edges
    (low, high, just inside, the example) with every category, then random rows. With
    `blanks`, some numeric values are None (the imputer's case)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for feature in features:
        if isinstance(feature, CategoricalFeature):
            continue
        width = feature.high - feature.low
        for value in (feature.low, feature.high, feature.low + width * 1e-9,
                      feature.high - width * 1e-9, feature.example, 0.5):
            rows.append({f.name: _example(f) for f in features} | {feature.name: value})
    categorical = [f for f in features if isinstance(f, CategoricalFeature)]
    for feature in categorical:
        rows = [row | {feature.name: value} for row in rows for value in feature.categories]
    for _ in range(n_random):
        row: dict[str, Any] = {}
        for f in features:
            if isinstance(f, CategoricalFeature):
                row[f.name] = f.categories[int(rng.integers(len(f.categories)))]
            elif blanks and rng.random() < 0.05:
                row[f.name] = None
            else:
                row[f.name] = float(rng.uniform(f.low, f.high))
        rows.append(row)
    return rows


def _example(feature: Feature) -> Any:
    return feature.example


def columns_of(rows: list[dict[str, Any]], features: tuple[Feature, ...]) -> dict[str, list[Any]]:
    return {f.name: [row.get(f.name) for row in rows] for f in features}
