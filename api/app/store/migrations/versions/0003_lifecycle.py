"""Model lifecycle: which version is served (with its history), and outcomes.

`serving` is append-only: each promote or rollback adds a row, and the newest row names the
served version. `rollback` serves the version of the row before the newest, so a second
rollback undoes the first (it toggles between the last two served versions).

`outcomes` records what really happened to a logged prediction. The app role may INSERT
there and nothing more: it reads the counts through the `outcome_counts` view (a view runs
with its owner's rights), never the rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # How each version was trained; the ones before were trained as the workshop.
    workshop = '{"test_size": 0.25, "random_state": 0, "dataset_rows": 300, "outcome_rows": 0}'
    op.add_column("model_versions", sa.Column(
        "training", JSONB, nullable=False, server_default=sa.text(f"'{workshop}'")))
    op.alter_column("model_versions", "training", server_default=None)
    op.create_table(
        "serving",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, sa.ForeignKey("model_versions.version"),
                  nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("action IN ('first', 'promote', 'rollback')", name="known_action"),
    )
    # The versions a database already has: the newest was the served one.
    op.execute("""
        INSERT INTO serving (version, action)
        SELECT max(version), 'first' FROM model_versions HAVING count(*) > 0
    """)
    op.create_table(
        "outcomes",
        sa.Column("prediction_id", sa.BigInteger, sa.ForeignKey("predictions.id"),
                  primary_key=True),
        sa.Column("purchased", sa.Boolean, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("""
        CREATE VIEW outcome_counts AS
        SELECT p.model_version,
               count(*) AS n_outcomes,
               count(*) FILTER (WHERE NOT o.purchased AND NOT p.purchased) AS true_negatives,
               count(*) FILTER (WHERE NOT o.purchased AND p.purchased) AS false_positives,
               count(*) FILTER (WHERE o.purchased AND NOT p.purchased) AS false_negatives,
               count(*) FILTER (WHERE o.purchased AND p.purchased) AS true_positives
        FROM outcomes o JOIN predictions p ON p.id = o.prediction_id
        GROUP BY p.model_version
    """)
    role = context.config.attributes["app_role"]
    op.execute(f'GRANT SELECT ON serving, outcome_counts TO "{role}"')
    op.execute(f'GRANT INSERT ON outcomes TO "{role}"')


def downgrade() -> None:
    op.execute("DROP VIEW outcome_counts")
    op.drop_table("outcomes")
    op.drop_table("serving")
    op.drop_column("model_versions", "training")
