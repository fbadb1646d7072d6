"""Operator work as typed functions, run as the database owner on one connection: what the
command line (`app.ops.cli`) and the tests call. Training (sklearn) is imported only by the
functions that train."""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.database import make_engine
from app.core.settings import Settings
from app.domain import dataset
from app.domain.features import DEFAULT_FEATURES, FEATURES
from app.domain.figures import HoldoutFigures
from app.store import registry, retention, training_data
from app.store.tables import ModelVersion

log = logging.getLogger("app.ops")

MIGRATIONS = Path(__file__).resolve().parents[1] / "store" / "migrations"
# Any fixed number works; every replica's prestart must use the same one.
PRESTART_LOCK_ID = 0x50C1A1AD5
# Another run may hold the lock while it trains: wait that long for it, not merely the
# statement timeout that bounds every other statement.
PRESTART_LOCK_WAIT = "300s"


@contextmanager
def owner_connection(settings: Settings) -> Iterator[Connection]:
    engine = make_engine(settings, as_owner=True)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def alembic_config(connection: Connection | None = None, app_role: str | None = None) -> Config:
    """Alembic's configuration in code (alembic.ini is for the `alembic` command line)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    if app_role is not None:
        config.attributes["app_role"] = app_role
    return config


def migrate(connection: Connection, app_role: str) -> None:
    command.upgrade(alembic_config(connection, app_role), "head")
    connection.commit()


def seed(connection: Connection, csv_path: Path) -> int:
    """Add the file's new people (one transaction: a refused file stores nothing)."""
    rows = dataset.read_csv(csv_path)
    with Session(bind=connection) as session, session.begin():
        added = training_data.seed(session, rows, source=csv_path.name)
    log.info("seed: %d rows in the file, %d new", len(rows), added)
    return added


def train(connection: Connection, feature_names: Sequence[str] = DEFAULT_FEATURES, *,
          test_size: float = dataset.TEST_SIZE,
          random_state: int = dataset.RANDOM_STATE,
          with_outcomes: bool = False) -> ModelVersion:
    """Train from the rows in PostgreSQL (not from the CSV) and store a candidate version
    (not served until promoted)."""
    from app.domain import training  # sklearn is imported only when there is training to do

    features = FEATURES.select(feature_names)
    with Session(bind=connection, expire_on_commit=False) as session, session.begin():
        rows = training_data.labelled_rows(session)
        if not rows:
            raise dataset.DatasetError("the data set table is empty; run the seed step first")
        extra = training_data.outcome_rows(session, features) if with_outcomes else []
        trained = training.train(rows, features, test_size, random_state, extra,
                                 holdout=training_data.holdout_ids(session))
        version = registry.store(
            session, algorithm=training.ALGORITHM, features=trained.feature_names,
            holdout=trained.holdout, training=trained.training,
            parameters=trained.parameters, train_user_ids=trained.train_user_ids,
            pipeline=training.dump_pipeline(trained.pipeline))
    log.info("trained model version %d on %s: accuracy %.3f", version.version,
             ", ".join(version.features), version.holdout.accuracy)
    return version


def evaluate(connection: Connection) -> tuple[str, HoldoutFigures]:
    """The workshop, trained from the database: (algorithm, its figures on the stored
    holdout). Only the workshop's own people (the shipped CSV's) train here, so people seeded
    later change nothing: this prints 89.0 % whatever else the data set holds. (`train`
    learns from every row outside the holdout.)"""
    from app.domain import training

    workshop = {row.user_id for row in dataset.read_csv(dataset.default_csv_path())}
    with Session(bind=connection) as session:
        rows = [row for row in training_data.labelled_rows(session) if row.user_id in workshop]
        holdout = training_data.holdout_ids(session)
    trained = training.train(rows, FEATURES.select(DEFAULT_FEATURES), holdout=holdout)
    return training.ALGORITHM, trained.holdout


def prestart(connection: Connection, csv_path: Path, app_role: str) -> None:
    """Migrate, seed and train once, however many runs start at the same moment."""
    for setting in ("statement_timeout", "lock_timeout"):
        connection.execute(text("SELECT set_config(:name, :wait, false)"),
                           {"name": setting, "wait": PRESTART_LOCK_WAIT})
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": PRESTART_LOCK_ID})
    # Back to the connection's own bounds (its `-c` options) for the work itself.
    connection.execute(text("RESET statement_timeout; RESET lock_timeout"))
    connection.commit()
    try:
        migrate(connection, app_role)
        seed(connection, csv_path)
        with Session(bind=connection) as session:
            has_model = registry.latest_version_number(session) is not None
        connection.commit()
        if not has_model:
            # The first start: the workshop's model, served at once.
            first = train(connection)
            with Session(bind=connection) as session, session.begin():
                registry.serve(session, first.version, "first")
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": PRESTART_LOCK_ID})
        connection.commit()


def versions(connection: Connection) -> list[registry.VersionSummary]:
    with Session(bind=connection) as session:
        return registry.versions(session)


def promote(connection: Connection, version: int, *, force: bool = False) -> int:
    """Serve `version` (refused if its holdout accuracy is lower, unless `force`)."""
    with Session(bind=connection) as session, session.begin():
        return registry.promote(session, version, force=force)


def rollback(connection: Connection) -> int:
    """Serve the previously served version again; returns it."""
    with Session(bind=connection) as session, session.begin():
        return registry.rollback(session)


def prune(connection: Connection, older_than_days: int) -> int:
    """Delete log rows (and their outcomes) older than that many days; returns how many."""
    return retention.prune(connection, timedelta(days=older_than_days))


def report(connection: Connection, out: Path) -> list[Path]:
    """The served version's decision boundary and confusion matrix as PNG files."""
    from app.ops import report as plots  # matplotlib and sklearn: only for this command

    return plots.write(connection, out)


def explain_connection_error(error: OperationalError, settings: Settings) -> str:
    """The database's own words, plus the one cause users cannot guess from them."""
    message = str(error.orig).strip()
    if "password authentication failed" in message:
        message += (
            f"\n  The database was initialised with other passwords: the postgres image applies "
            f"{settings.db_owner_user!r}'s and {settings.app_db_user!r}'s passwords only on an "
            "empty volume, so editing .env_db_owner or .env_db_app later changes nothing there. "
            "Put the first passwords back, or change them in the database (ALTER ROLE ... "
            "PASSWORD ...), or start over with `docker compose down -v` (deletes all data)."
        )
    return message
