"""The data set, model versions and the prediction log; least privileges for the app role.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_rows",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("line", sa.Integer, nullable=False, unique=True),
        sa.Column("gender", sa.String(16), nullable=False),
        sa.Column("age", sa.SmallInteger, nullable=False),
        sa.Column("estimated_salary", sa.Integer, nullable=False),
        sa.Column("purchased", sa.Boolean, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("algorithm", sa.String(64), nullable=False),
        sa.Column("metrics", JSONB, nullable=False),
        sa.Column("parameters", JSONB, nullable=False),
        sa.Column("train_user_ids", JSONB, nullable=False),
        sa.Column("pipeline", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("age", sa.Double, nullable=False),
        sa.Column("salary", sa.Double, nullable=False),
        sa.Column("purchased", sa.Boolean, nullable=False),
        sa.Column("probability", sa.Double, nullable=False),
        # Not a foreign key, on purpose: its per-row check was half the cost of writing a
        # 10,000-row batch. The API only writes the version it loaded from model_versions,
        # and its role can delete no version.
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.CheckConstraint("probability >= 0 AND probability <= 1",
                           name="probability_in_range"),
    )
    # No index on created_at: "recent" is served by the primary key (ids only grow), and
    # every extra index is paid on each logged prediction.

    # The web workers read the data set and the models and append to the log: nothing else.
    # (RETURNING and the id sequence need SELECT on predictions and USAGE on the sequence.)
    role = context.config.attributes["app_role"]
    op.execute(f'GRANT SELECT ON dataset_rows, model_versions TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT ON predictions TO "{role}"')
    op.execute(f'GRANT USAGE ON SEQUENCE predictions_id_seq TO "{role}"')


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_table("model_versions")
    op.drop_table("dataset_rows")
