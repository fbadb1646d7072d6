"""Tables: the data set, the trained model versions and the prediction log."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class DatasetRow(Base):
    """One row of Social_Network_Ads.csv; `line` keeps the file order the split depends on."""

    __tablename__ = "dataset_rows"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    line: Mapped[int] = mapped_column(Integer, unique=True)
    gender: Mapped[str] = mapped_column(String(16))
    age: Mapped[int] = mapped_column(SmallInteger)
    estimated_salary: Mapped[int] = mapped_column(Integer)
    purchased: Mapped[bool] = mapped_column(Boolean)


class ModelVersion(Base):
    """A trained pipeline; the newest version is the one every worker serves."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    algorithm: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # mean, scale, coef, intercept: what the workers serve from, without unpickling sklearn.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # User IDs of the training rows: lineage, and the points the web page plots.
    train_user_ids: Mapped[list[int]] = mapped_column(JSONB)
    pipeline: Mapped[bytes] = mapped_column(LargeBinary)


class Prediction(Base):
    """The log: one row per acknowledged prediction, committed before the answer is sent."""

    __tablename__ = "predictions"
    __table_args__ = (
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_in_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    age: Mapped[float] = mapped_column(Double)
    salary: Mapped[float] = mapped_column(Double)
    purchased: Mapped[bool] = mapped_column(Boolean)
    probability: Mapped[float] = mapped_column(Double)
    # Deliberately not a ForeignKey (see the migration): the API writes only the loaded version.
    model_version: Mapped[int] = mapped_column(Integer)
    # nginx's X-Request-ID of the request that made it (none for rows older than migration 0004).
    request_id: Mapped[str | None] = mapped_column(String(64))
