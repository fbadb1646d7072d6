"""Every input column of the log nullable: an input added later (even a required one) has no
value in the rows logged before it. The request schemas still require the core inputs, so
every row logged from now on has them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The log's input columns that migration 0001 made NOT NULL (the core inputs then).
COLUMNS = ("age", "salary")


def upgrade() -> None:
    for column in COLUMNS:
        op.alter_column("predictions", column, nullable=True)


def downgrade() -> None:
    for column in COLUMNS:
        op.alter_column("predictions", column, nullable=False)
