"""The workshop's holdout, stored: the 100 people its split (train_test_split, test_size 0.25,
random_state 0, no stratification) holds out of the shipped CSV's 400 rows, in the split's
order. Every version is evaluated on exactly these people, whatever else is seeded later;
new people only ever join training.

Written as a literal list, not recomputed here: a migration is a record of one moment, and
re-running a split on whatever rows a database holds is what made the holdout move
(tests/unit/test_training.py checks this list against the split of the shipped file).

No foreign key to dataset_rows: on a new database this runs before the seed step.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WORKSHOP_HOLDOUT = (
    15725660, 15652400, 15776844, 15738448, 15638003, 15814004, 15610140, 15680587,
    15666141, 15622478, 15689425, 15800061, 15773447, 15579212, 15746139, 15789109,
    15760570, 15807909, 15654230, 15708228, 15609653, 15746203, 15678168, 15729908,
    15614420, 15753861, 15667265, 15697686, 15631070, 15584545, 15587013, 15637593,
    15814553, 15622171, 15718071, 15746737, 15684801, 15581654, 15673367, 15594041,
    15766289, 15674331, 15598044, 15810944, 15705298, 15654901, 15793890, 15750056,
    15762605, 15614187, 15775590, 15622833, 15566689, 15570932, 15609669, 15742204,
    15744919, 15570769, 15792818, 15639277, 15592877, 15791373, 15804002, 15699619,
    15662067, 15774744, 15746422, 15728773, 15605327, 15717893, 15694829, 15811177,
    15577178, 15649487, 15789863, 15628972, 15768293, 15598070, 15778830, 15639576,
    15664907, 15605000, 15649136, 15706185, 15736397, 15721007, 15724423, 15708791,
    15691863, 15695679, 15683758, 15584320, 15775562, 15600575, 15730448, 15750839,
    15578006, 15807837, 15600379, 15654456,
)


def upgrade() -> None:
    table = op.create_table(
        "holdout_people",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        # The split's order, so a confusion matrix lists the rows as the workshop did.
        sa.Column("position", sa.Integer, nullable=False, unique=True),
    )
    op.bulk_insert(table, [{"user_id": user_id, "position": n}
                           for n, user_id in enumerate(WORKSHOP_HOLDOUT)])


def downgrade() -> None:
    op.drop_table("holdout_people")
