"""Input drift: are recent inputs distributed like the served version's training rows?

Population stability index per feature: the training values are cut into ten bins at their
deciles (open at both ends, so nothing falls outside), and PSI = sum over bins of
(recent% - training%) * ln(recent% / training%). Rule of thumb: below 0.1 stable, 0.1 to
0.25 a moderate shift, above 0.25 a real one. The window is the newest DRIFT_WINDOW logged
inputs of the served version (1,000 by default): recent enough to react within minutes
under load, large enough that ten bins are not noise.
"""

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Prediction

FEATURES = ("age", "salary")
BINS = 10
# A bin empty on one side would make the logarithm infinite; this floor keeps PSI finite.
FLOOR = 1e-4


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    train = np.asarray(expected, dtype=np.float64)
    recent = np.asarray(actual, dtype=np.float64)
    if train.size == 0 or recent.size == 0:
        return 0.0
    inner = np.unique(np.quantile(train, np.linspace(0, 1, BINS + 1)[1:-1]))
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    e = np.maximum(np.histogram(train, edges)[0] / train.size, FLOOR)
    a = np.maximum(np.histogram(recent, edges)[0] / recent.size, FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def recent_inputs(session: Session, model_version: int, window: int) -> list[tuple[float, float]]:
    # Newest first by the primary key (ids only grow): no extra index on the log.
    rows = session.execute(
        select(Prediction.age, Prediction.salary)
        .where(Prediction.model_version == model_version)
        .order_by(Prediction.id.desc())
        .limit(window)
    )
    return [(age, salary) for age, salary in rows]


def psi_by_feature(training: Sequence[Sequence[float]],
                   recent: Sequence[Sequence[float]]) -> dict[str, float]:
    return {
        name: psi([row[i] for row in training], [row[i] for row in recent])
        for i, name in enumerate(FEATURES)
    }
