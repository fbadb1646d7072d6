"""Operator commands, run as the database owner: migrate, seed, train, evaluate, report, prestart.

    python -m app evaluate      # prints the workshop's two lines
    python -m app prestart      # what the container runs before gunicorn
    python -m app train --features age,salary,gender
    python -m app report --out DIR
"""

import argparse
import logging
import logging.config
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import dataset, registry, retention
from app.config import OwnerCredentialsMissingError, Settings, get_settings
from app.db import make_engine
from app.features import DEFAULT_FEATURES, FEATURES, CategoricalFeature, Feature
from app.models import ModelVersion, outcomes, predictions
from app.request_context import logging_config

log = logging.getLogger("app.cli")

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


def migrate(connection: Connection, app_role: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    config.attributes["connection"] = connection
    config.attributes["app_role"] = app_role
    command.upgrade(config, "head")
    connection.commit()


def seed(connection: Connection, csv_path: Path) -> int:
    rows = dataset.read_csv(csv_path)
    with Session(bind=connection) as session, session.begin():
        added = dataset.seed(session, rows)
    log.info("seed: %d rows in the file, %d new", len(rows), added)
    return added


def outcome_rows(session: Session, features: Sequence[Feature]) -> list[dataset.LabelledRow]:
    """Logged predictions that have an outcome, as training rows: their inputs as logged and
    what really happened. Rows without a category the version uses are left out."""
    columns = [predictions.c[f.name] for f in features]
    result = session.execute(
        select(predictions.c.id, outcomes.c.purchased, *columns)
        .join(outcomes, outcomes.c.prediction_id == predictions.c.id)
        .order_by(predictions.c.id))
    rows = [dataset.LabelledRow(-row.id, {f.name: row._mapping[f.name] for f in features},
                                row.purchased) for row in result]
    needed = [f.name for f in features if isinstance(f, CategoricalFeature)]
    return [row for row in rows if all(row.values[name] is not None for name in needed)]


def train(connection: Connection, feature_names: Sequence[str] = DEFAULT_FEATURES, *,
          test_size: float = dataset.TEST_SIZE,
          random_state: int = dataset.RANDOM_STATE,
          with_outcomes: bool = False) -> ModelVersion:
    """Train from the rows in PostgreSQL (not from the CSV) and store a candidate version
    (not served until promoted)."""
    from app import ml  # sklearn is imported only when there is training to do

    features = FEATURES.select(feature_names)
    with Session(bind=connection, expire_on_commit=False) as session, session.begin():
        rows = dataset.labelled_rows(session)
        if not rows:
            raise dataset.DatasetError("the data set table is empty; run the seed step first")
        extra = outcome_rows(session, features) if with_outcomes else []
        trained = ml.train(rows, features, test_size, random_state, extra)
        pipeline = ml.dump_pipeline(trained.pipeline)
        version = registry.store(session, ml.ALGORITHM, trained, pipeline)
    log.info("trained model version %d on %s: accuracy %.3f", version.version,
             ", ".join(version.features), version.metrics["accuracy"])
    return version


def evaluate(connection: Connection) -> None:
    """Train from the database and print the workshop's two lines."""
    from app import ml

    with Session(bind=connection) as session:
        trained = ml.train(dataset.labelled_rows(session), FEATURES.select(DEFAULT_FEATURES))
    print(f"Model: {ml.ALGORITHM}")
    print(f"Accuracy: {trained.metrics['accuracy'] * 100:.1f}%")


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


def days(value: str) -> int:
    if not value.isdigit() or int(value) > 36_500:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days from 0 to 36500")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the Alembic migrations")
    for name, purpose in (("seed", "load the data set CSV (idempotent)"),
                          ("prestart", "migrate, seed and train if no model exists")):
        sub = commands.add_parser(name, help=purpose)
        sub.add_argument("--csv", type=Path, default=dataset.default_csv_path())
    train_command = commands.add_parser(
        "train", help="train from the database and store a candidate version (not served)")
    train_command.add_argument(
        "--features", type=feature_list, default=DEFAULT_FEATURES,
        help=f"comma-separated inputs, from: {', '.join(FEATURES.names)} "
             f"(default {','.join(DEFAULT_FEATURES)})")
    train_command.add_argument(
        "--test-size", type=float, default=dataset.TEST_SIZE,
        help="share of the rows the split holds out (the metrics are always on the "
             "workshop's 100 holdout rows, which never train)")
    train_command.add_argument("--random-state", type=int, default=dataset.RANDOM_STATE)
    train_command.add_argument(
        "--with-outcomes", action="store_true",
        help="add the logged predictions that have an outcome to the training rows")
    commands.add_parser("versions", help="list every version, its metrics, which is served")
    promote_command = commands.add_parser("promote", help="serve a version (hot reload)")
    promote_command.add_argument("version", type=int)
    promote_command.add_argument("--force", action="store_true",
                                 help="promote even if its holdout accuracy is lower")
    commands.add_parser(
        "rollback", help="serve the previously served version again (twice: back again)")
    commands.add_parser("evaluate", help="train from the database and print the accuracy")
    report_command = commands.add_parser(
        "report", help="write the served version's decision boundary and confusion matrix "
                       "as PNG files")
    report_command.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    prune = commands.add_parser("prune", help="delete log rows (and outcomes) older than DAYS")
    prune.add_argument("--older-than", type=days, required=True, metavar="DAYS",
                       help="age in days (0: everything until now)")
    return parser


def print_trained(version: ModelVersion) -> None:
    metrics = version.metrics
    print(f"version {version.version} (candidate, not served): "
          f"holdout accuracy {metrics['accuracy'] * 100:.1f}% on {metrics['n_test']} rows, "
          f"confusion matrix {metrics['confusion_matrix']}, ROC AUC {metrics['roc_auc']:.3f}; "
          f"trained on {metrics['n_train']} rows ({version.training['outcome_rows']} from "
          f"outcomes); inputs {', '.join(version.features)}")


def print_versions(connection: Connection) -> None:
    with Session(bind=connection) as session:
        summaries = registry.versions(session)
    print(f"{'version':>7}  {'created (UTC)':19}  {'rows':>5}  {'holdout':>7}  "
          f"{'live':>6}  {'outcomes':>8}  {'served':6}  inputs")
    for v in summaries:
        live = "-" if v.live.accuracy is None else f"{v.live.accuracy * 100:.1f}%"
        print(f"{v.version:>7}  {v.trained_at:%Y-%m-%d %H:%M:%S}  {v.metrics['n_train']:>5}  "
              f"{v.metrics['accuracy'] * 100:>6.1f}%  {live:>6}  {v.live.n_outcomes:>8}  "
              f"{'yes' if v.served else '':6}  {','.join(v.features)}")


def change_served(connection: Connection, change: Callable[[Session], int]) -> None:
    with Session(bind=connection) as session, session.begin():
        version = change(session)
    print(f"version {version} is served (every API worker switches within seconds)")


def feature_list(text: str) -> tuple[str, ...]:
    try:
        return tuple(f.name for f in FEATURES.select(text.split(",")))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def report(connection: Connection, out: Path) -> None:
    from app import report as plots  # matplotlib and sklearn: only for this command

    for path in plots.write(connection, out):
        print(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        # One line per problem, named as in the env files (no input values: they may be secrets).
        problems = [f"{'.'.join(map(str, e['loc'])).upper() or 'settings'}: {e['msg']}"
                    for e in error.errors(include_input=False)]
        print("configuration error (see .env.example and .env_db.example):\n  "
              + "\n  ".join(problems), file=sys.stderr)
        return 2
    logging.config.dictConfig(logging_config(settings.log_level, "ext://sys.stderr"))
    try:
        with owner_connection(settings) as connection:
            if args.command == "migrate":
                migrate(connection, settings.app_db_user)
            elif args.command == "seed":
                seed(connection, args.csv)
            elif args.command == "train":
                version = train(connection, args.features, test_size=args.test_size,
                                random_state=args.random_state,
                                with_outcomes=args.with_outcomes)
                print_trained(version)
            elif args.command == "versions":
                print_versions(connection)
            elif args.command == "promote":
                change_served(connection, lambda s: registry.promote(s, args.version,
                                                                     force=args.force))
            elif args.command == "rollback":
                change_served(connection, registry.rollback)
            elif args.command == "report":
                report(connection, args.out)
            elif args.command == "prestart":
                prestart(connection, args.csv, settings.app_db_user)
            elif args.command == "prune":
                deleted = retention.prune(connection, timedelta(days=args.older_than))
                print(f"deleted {deleted} prediction rows older than {args.older_than} days")
            else:
                evaluate(connection)
    except (dataset.DatasetError, OwnerCredentialsMissingError, registry.LifecycleError,
            registry.NoModelError, retention.RetentionError) as error:
        log.error("%s", error)
        return 1
    except OperationalError as error:
        log.error("%s", explain_connection_error(error, settings))
        return 1
    return 0


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
