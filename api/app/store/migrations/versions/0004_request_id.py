"""The request id of each logged prediction (nginx's X-Request-ID), to follow one answer from
the access log to the app's log to its row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites nothing, and rows written before
    # it existed simply have none. No index: an operator looks one id up now and then, and
    # each logged prediction would pay for an index.
    op.add_column("predictions", sa.Column("request_id", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("predictions", "request_id")
