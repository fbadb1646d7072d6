"""Input drift: are recent inputs distributed like the served version's training rows?

Population stability index per input of the served version. A numeric input's training values
are cut into ten bins at their deciles (open at both ends, so nothing falls outside); a
categorical input's bins are its categories. PSI = sum over bins of
(recent% - training%) * ln(recent% / training%). Rule of thumb: below 0.1 stable, 0.1 to
0.25 a moderate shift, above 0.25 a real one. The window is the newest DRIFT_WINDOW logged
inputs of the served version (1,000 by default): recent enough to react within minutes
under load, large enough that ten bins are not noise. Missing values (an optional input not
given, a blank training cell) are left out on both sides. Below MIN_ROWS logged inputs there
is no verdict and no figure: "not enough data yet".
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.domain.features import Feature

BINS = 10
# A bin empty on one side would make the logarithm infinite; this floor keeps PSI finite.
FLOOR = 1e-4
# Below this many logged inputs PSI measures sampling noise, not drift: for inputs drawn from
# the training distribution itself, PSI over ten bins is about chi-squared(9) / rows, so 3 or
# 4 rows score near 7 and the 0.1 line is crossed by chance below ~170 rows (95th
# percentile 16.9 / rows); at 200, 95 % of such samples stay below 0.085.
MIN_ROWS = 200
NOT_ENOUGH_DATA = "not enough data yet"
MODERATE = 0.1
SHIFTED = 0.25


def verdict(rows: int, figures: dict[str, float]) -> str:
    """The drift in words, from the rule of thumb above (the page shows it as given)."""
    if rows < MIN_ROWS:
        return NOT_ENOUGH_DATA
    worst = max(figures.values(), default=0.0)
    return "shifted" if worst > SHIFTED else "moderate shift" if worst > MODERATE else "stable"


def _psi_of_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(expected, FLOOR)
    a = np.maximum(actual, FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of numeric values, over the deciles of `expected`."""
    train = np.asarray(expected, dtype=np.float64)
    recent = np.asarray(actual, dtype=np.float64)
    if train.size == 0 or recent.size == 0:
        return 0.0
    inner = np.unique(np.quantile(train, np.linspace(0, 1, BINS + 1)[1:-1]))
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    return _psi_of_shares(np.histogram(train, edges)[0] / train.size,
                          np.histogram(recent, edges)[0] / recent.size)


def categorical_psi(expected: Sequence[str], actual: Sequence[str]) -> float:
    """PSI of categories, one bin each (a category unseen in training gets its own)."""
    if not expected or not actual:
        return 0.0
    categories = sorted(set(expected) | set(actual))
    shares = [np.array([list(values).count(c) for c in categories]) / len(values)
              for values in (expected, actual)]
    return _psi_of_shares(shares[0], shares[1])


def psi_by_feature(features: Sequence[Feature], training: Sequence[dict[str, Any]],
                   recent: Sequence[dict[str, Any]]) -> dict[str, float]:
    figures = {}
    for feature in features:
        given = [[row[feature.name] for row in rows if row.get(feature.name) is not None]
                 for rows in (training, recent)]
        figures[feature.name] = (psi(*given) if feature.kind == "numeric"
                                 else categorical_psi(*given))
    return figures
