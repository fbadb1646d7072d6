"""A fixture that adds a numeric input, `visits` (visits to the shop's site last month), the
way a developer would: one entry for app.domain.features and one migration, nothing else."""

import sqlalchemy as sa
from alembic.operations import Operations
from sqlalchemy import Integer

from app.domain.features import FEATURES, NumericFeature

VISITS = NumericFeature(
    name="visits", label="Visits", unit="last month", csv_header="Visits",
    dataset_column="visits", dataset_type=Integer(), low=0, high=1000, example=3,
)
FEATURES_WITH_VISITS = FEATURES.with_feature(VISITS)


def upgrade(op: Operations) -> None:
    """The migration: the data set's column and the log's (what a revision file's upgrade()
    would say with alembic's global `op`)."""
    op.add_column("dataset_rows", sa.Column("visits", sa.Integer, nullable=True))
    op.add_column("predictions", sa.Column("visits", sa.Double, nullable=True))
