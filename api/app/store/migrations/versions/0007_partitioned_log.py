"""The prediction log partitioned by month on created_at; retention drops whole months.

The 1.1 table is copied, every row with its id and created_at, into a table partitioned by
range on created_at: one partition per month the rows fall in (UTC), the current month and two
ahead, and a default partition that takes whatever no month holds. `app.store.partitions`
keeps months ahead from then on (migrate, prestart and prune run it).

Keys, and why:
- PostgreSQL requires the partition key in every unique constraint of a partitioned table, so
  the primary key is (id, created_at). Ids stay unique all the same: the same sequence
  (`predictions_id_seq`, moved to the new table, continuing where 1.1 left it) is the only
  source of ids; no writer sends one.
- `outcomes` keeps its primary key `prediction_id` (one outcome per prediction, the API's
  ON CONFLICT) and gains `prediction_created_at` (its prediction's month, for retention). Its
  foreign key becomes three triggers, because a real foreign key to a partitioned table makes
  every DETACH PARTITION join the month with `outcomes` while it holds the log's ACCESS
  EXCLUSIVE lock: 1.3 s for a month of a million rows, measured, with every writer waiting.
  The triggers hold the same rule: an outcome's prediction must exist (checked and its
  created_at copied at INSERT, so writers still name only `prediction_id`, and an unknown id
  is still SQLSTATE 23503, the API's 404); a DELETE from the log fails while an outcome
  refers to a deleted row; a prediction's key cannot change under its outcome. Dropping a
  month is retention's alone (the owner's): it deletes the month's outcomes first, the last
  ones under a lock on `outcomes`, in the transaction that detaches the month.

The copy holds the log's lock for its duration (writers get 503s meanwhile, nothing is
acknowledged uncommitted) and needs the table's size again on disk until it commits.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 2  # as app.store.partitions, written out: a migration does not change later

OUTCOME_COUNTS = """
    CREATE VIEW outcome_counts AS
    SELECT p.model_version,
           count(*) AS n_outcomes,
           count(*) FILTER (WHERE NOT o.purchased AND NOT p.purchased) AS true_negatives,
           count(*) FILTER (WHERE NOT o.purchased AND p.purchased) AS false_positives,
           count(*) FILTER (WHERE o.purchased AND NOT p.purchased) AS false_negatives,
           count(*) FILTER (WHERE o.purchased AND p.purchased) AS true_positives
    FROM outcomes o JOIN predictions p ON p.id = o.prediction_id{}
    GROUP BY p.model_version
"""

FILL_CREATED_AT = """
    CREATE FUNCTION outcome_prediction_created_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        SELECT created_at INTO NEW.prediction_created_at
        FROM predictions WHERE id = NEW.prediction_id;
        IF NOT FOUND THEN
            RAISE foreign_key_violation
                USING MESSAGE = format('there is no prediction %s', NEW.prediction_id);
        END IF;
        RETURN NEW;
    END
    $$
"""

# Statement-level, over the deleted rows at once: one join per DELETE, however many rows.
KEEP_OUTCOMES = """
    CREATE FUNCTION predictions_keep_their_outcomes() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT FROM outcomes o JOIN gone g ON o.prediction_id = g.id) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'a deleted prediction has an outcome: delete the outcome first';
        END IF;
        RETURN NULL;
    END
    $$
"""

FIXED_KEY = """
    CREATE FUNCTION prediction_key_is_fixed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF (NEW.id, NEW.created_at) IS DISTINCT FROM (OLD.id, OLD.created_at)
           AND EXISTS (SELECT FROM outcomes WHERE prediction_id = OLD.id) THEN
            RAISE foreign_key_violation
                USING MESSAGE = format('prediction %s has an outcome: its key is fixed', OLD.id);
        END IF;
        RETURN NEW;
    END
    $$
"""

TRIGGERS = (
    "CREATE TRIGGER outcome_refers_to_its_prediction BEFORE INSERT OR UPDATE ON outcomes"
    " FOR EACH ROW EXECUTE FUNCTION outcome_prediction_created_at()",
    "CREATE TRIGGER predictions_keep_their_outcomes AFTER DELETE ON predictions"
    " REFERENCING OLD TABLE AS gone FOR EACH STATEMENT"
    " EXECUTE FUNCTION predictions_keep_their_outcomes()",
    "CREATE TRIGGER prediction_key_is_fixed BEFORE UPDATE OF id, created_at ON predictions"
    " FOR EACH ROW EXECUTE FUNCTION prediction_key_is_fixed()",
)


def month(moment: datetime, ahead: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + ahead
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def literal(moment: datetime) -> str:
    return f"'{moment:%Y-%m-%d %H:%M:%S}+00'"


def create_partitions(source: str) -> None:
    """A partition for every month `source` has rows in, the current month and MONTHS_AHEAD
    more, and the default one."""
    bind = op.get_bind()
    found = bind.execute(sa.text(
        f"SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC')"  # noqa: S608
        f" FROM {source}")).scalars()
    now = bind.execute(sa.text("SELECT now()")).scalar_one().astimezone(UTC)
    months = {month(m.replace(tzinfo=UTC)) for m in found}
    months |= {month(now, ahead) for ahead in range(MONTHS_AHEAD + 1)}
    for start in sorted(months):
        op.execute(f"CREATE TABLE predictions_y{start:%Y}m{start:%m} PARTITION OF predictions"
                   f" FOR VALUES FROM ({literal(start)}) TO ({literal(month(start, 1))})")
    op.execute("CREATE TABLE predictions_default PARTITION OF predictions DEFAULT")


def upgrade() -> None:
    op.execute("DROP VIEW outcome_counts")
    op.drop_constraint("outcomes_prediction_id_fkey", "outcomes", type_="foreignkey")
    op.execute("ALTER TABLE predictions RENAME TO predictions_1_1")
    op.execute("ALTER TABLE predictions_1_1 RENAME CONSTRAINT predictions_pkey"
               " TO predictions_1_1_pkey")
    # The same columns in the same order, defaults (the id sequence) and checks.
    op.execute("CREATE TABLE predictions (LIKE predictions_1_1 INCLUDING DEFAULTS"
               " INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)")
    op.execute("ALTER TABLE predictions ADD CONSTRAINT predictions_pkey"
               " PRIMARY KEY (id, created_at)")
    # Owned by the new column, so dropping the old table keeps it (and its position).
    op.execute("ALTER SEQUENCE predictions_id_seq OWNED BY predictions.id")
    create_partitions("predictions_1_1")
    op.execute("INSERT INTO predictions SELECT * FROM predictions_1_1")

    op.add_column("outcomes", sa.Column("prediction_created_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE outcomes o SET prediction_created_at = p.created_at"
               " FROM predictions_1_1 p WHERE p.id = o.prediction_id")
    op.alter_column("outcomes", "prediction_created_at", nullable=False)
    for statement in (FILL_CREATED_AT, KEEP_OUTCOMES, FIXED_KEY, *TRIGGERS):
        op.execute(statement)
    op.execute("DROP TABLE predictions_1_1")
    op.execute(OUTCOME_COUNTS.format(" AND p.created_at = o.prediction_created_at"))

    role = context.config.attributes["app_role"]
    op.execute(f'GRANT SELECT, INSERT ON predictions TO "{role}"')
    op.execute(f'GRANT SELECT ON outcome_counts TO "{role}"')


def downgrade() -> None:
    op.execute("DROP VIEW outcome_counts")
    op.execute("DROP TRIGGER outcome_refers_to_its_prediction ON outcomes")
    op.execute("DROP FUNCTION outcome_prediction_created_at()")
    op.execute("DROP TRIGGER predictions_keep_their_outcomes ON predictions")
    op.execute("DROP FUNCTION predictions_keep_their_outcomes()")
    op.execute("DROP TRIGGER prediction_key_is_fixed ON predictions")
    op.execute("DROP FUNCTION prediction_key_is_fixed()")
    op.execute("ALTER TABLE predictions RENAME TO predictions_partitioned")
    op.execute("ALTER TABLE predictions_partitioned RENAME CONSTRAINT predictions_pkey"
               " TO predictions_partitioned_pkey")
    op.execute("CREATE TABLE predictions (LIKE predictions_partitioned INCLUDING DEFAULTS"
               " INCLUDING CONSTRAINTS)")
    op.execute("ALTER TABLE predictions ADD CONSTRAINT predictions_pkey PRIMARY KEY (id)")
    op.execute("ALTER SEQUENCE predictions_id_seq OWNED BY predictions.id")
    op.execute("INSERT INTO predictions SELECT * FROM predictions_partitioned")
    op.execute("DROP TABLE predictions_partitioned")  # and its partitions
    op.drop_column("outcomes", "prediction_created_at")
    op.create_foreign_key("outcomes_prediction_id_fkey", "outcomes", "predictions",
                          ["prediction_id"], ["id"])
    op.execute(OUTCOME_COUNTS.format(""))
    role = context.config.attributes["app_role"]
    op.execute(f'GRANT SELECT, INSERT ON predictions TO "{role}"')
    op.execute(f'GRANT SELECT ON outcome_counts TO "{role}"')
