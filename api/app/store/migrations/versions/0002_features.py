"""The model's inputs from app.domain.features: blank numeric cells, gender in the log, each
version's feature list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A blank numeric cell in the CSV is stored as NULL and imputed at training time.
    op.alter_column("dataset_rows", "age", nullable=True)
    op.alter_column("dataset_rows", "estimated_salary", nullable=True)
    # The log keeps the inputs given; gender only when the client sent it. (Adding a
    # nullable column without a default rewrites nothing; the app role's table-level
    # SELECT and INSERT cover it.)
    op.add_column("predictions", sa.Column("gender", sa.String(16), nullable=True))
    # Each version names the inputs it uses; the versions before this used age and salary.
    op.add_column("model_versions", sa.Column("features", JSONB, nullable=False,
                                              server_default=sa.text("'[\"age\", \"salary\"]'")))
    op.alter_column("model_versions", "features", server_default=None)
    # Their parameters as the scorer reads them now: no categories; no imputer was fitted
    # then, so the scaler's mean (the same training rows' mean) stands in for the imputation
    # value; their scaler saw a C-ordered array.
    op.execute("""
        UPDATE model_versions
        SET parameters = parameters || jsonb_build_object(
            'numeric', '["age", "salary"]'::jsonb,
            'impute', parameters -> 'mean',
            'categorical', '[]'::jsonb,
            'layout', 'C')
        WHERE NOT parameters ? 'numeric'
    """)


def downgrade() -> None:
    op.execute("""
        UPDATE model_versions
        SET parameters = parameters - 'numeric' - 'impute' - 'categorical' - 'layout'
    """)
    op.drop_column("model_versions", "features")
    op.drop_column("predictions", "gender")
    op.execute("DELETE FROM dataset_rows WHERE age IS NULL OR estimated_salary IS NULL")
    op.alter_column("dataset_rows", "estimated_salary", nullable=False)
    op.alter_column("dataset_rows", "age", nullable=False)
