"""Tables: the data set, the trained model versions and the prediction log.

The data set's and the log's feature columns come from `app.domain.features`; `feature_tables`
builds both for any feature set (a test builds them for a fixture that adds a feature).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.domain.features import FEATURES, FeatureSet
from app.domain.figures import HoldoutFigures, TrainingFigures

Figures = TypeVar("Figures", HoldoutFigures, TrainingFigures)


class FiguresJSONB(TypeDecorator[Figures], Generic[Figures]):
    """A typed value stored as JSONB: written with model_dump, read back validated."""

    impl = JSONB
    cache_ok = True

    def __init__(self, figures: type[Figures]) -> None:
        super().__init__()
        self.figures: type[Figures] = figures

    def process_bind_param(self, value: Figures | None, dialect: Dialect) -> Any:
        return None if value is None else value.model_dump(mode="json")

    def process_result_value(self, value: Any, dialect: Dialect) -> Figures | None:
        return None if value is None else self.figures.model_validate(value)


class Base(DeclarativeBase):
    pass


@dataclass(frozen=True)
class FeatureTables:
    dataset_rows: Table
    predictions: Table


def feature_tables(metadata: MetaData, features: FeatureSet) -> FeatureTables:
    dataset_rows = Table(
        "dataset_rows",
        metadata,
        Column("user_id", BigInteger, primary_key=True, autoincrement=False),
        # The order rows were loaded in: the shipped CSV's line numbers, then, for people a
        # later `seed --csv` adds, numbers after the largest (see training_data.seed).
        Column("line", Integer, unique=True, nullable=False),
        # A blank numeric cell is NULL, imputed at training time; categories are never blank.
        *(Column(f.dataset_column, f.dataset_type, nullable=f.kind == "numeric")
          for f in features),
        Column("purchased", Boolean, nullable=False),
    )
    predictions = Table(
        "predictions",
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("created_at", DateTime(timezone=True), server_default=func.now(),
               nullable=False),
        # The inputs as given: core features always, the others when the client sent them.
        # Nullable all the same (migration 0005): rows logged before an input was added have
        # no value for it; the request schemas require the core ones.
        *(Column(f.name, f.log_type, nullable=True) for f in features),
        Column("purchased", Boolean, nullable=False),
        Column("probability", Double, nullable=False),
        # Deliberately not a ForeignKey (see migration 0001): the API writes only the
        # version it loaded.
        Column("model_version", Integer, nullable=False),
        # nginx's X-Request-ID of the request that made it (migration 0004; none before it).
        Column("request_id", String(64)),
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_in_range"),
    )
    return FeatureTables(dataset_rows, predictions)


_tables = feature_tables(Base.metadata, FEATURES)
dataset_rows = _tables.dataset_rows
predictions = _tables.predictions


class ModelVersion(Base):
    """A trained pipeline and the parameters the workers serve it from."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    algorithm: Mapped[str] = mapped_column(String(64))
    # The names of the features this version uses, in the catalogue's order.
    features: Mapped[list[str]] = mapped_column(JSONB)
    # On the workshop's holdout (the same 100 rows for every version).
    holdout: Mapped[HoldoutFigures] = mapped_column(
        "metrics", FiguresJSONB(HoldoutFigures))
    # How it was trained: test size, random state, data set rows, outcome rows.
    training: Mapped[TrainingFigures] = mapped_column(FiguresJSONB(TrainingFigures))
    # Imputation values, categories, mean, scale, coef, intercept: what the workers serve
    # from, without unpickling sklearn.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # User IDs of the training rows: lineage, and the points the web page plots.
    train_user_ids: Mapped[list[int]] = mapped_column(JSONB)
    pipeline: Mapped[bytes] = mapped_column(LargeBinary)


class Serving(Base):
    """Which version is served: append-only, the newest row wins (promote, rollback)."""

    __tablename__ = "serving"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(ForeignKey("model_versions.version"))
    action: Mapped[str] = mapped_column(String(16))
    served_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The workshop's 100 held-out people (migration 0006, a fixed list): every version is
# evaluated on exactly these rows of dataset_rows, and they never train.
holdout_people = Table(
    "holdout_people",
    Base.metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("position", Integer, unique=True, nullable=False),
)

# What really happened to a logged prediction (the app role may only INSERT here).
outcomes = Table(
    "outcomes",
    Base.metadata,
    Column("prediction_id", BigInteger, ForeignKey("predictions.id"), primary_key=True),
    Column("purchased", Boolean, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# A view (migration 0003), described here for queries only: each version's outcome counts.
outcome_counts = Table(
    "outcome_counts",
    MetaData(),
    Column("model_version", Integer),
    Column("n_outcomes", BigInteger),
    Column("true_negatives", BigInteger),
    Column("false_positives", BigInteger),
    Column("false_negatives", BigInteger),
    Column("true_positives", BigInteger),
)
