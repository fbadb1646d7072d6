"""Operator commands, run as the database owner: a table of commands over `app.ops.operations`,
e.g. `python -m app evaluate` (the workshop's two lines); `python -m app --help` lists them."""

import argparse
import logging.config
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from app import __version__
from app.core.logging_config import logging_config
from app.core.settings import OwnerCredentialsMissingError, Settings, SettingsError, get_settings
from app.domain import dataset
from app.domain.features import DEFAULT_FEATURES, FEATURES
from app.ops import arguments as checked
from app.ops import operations as ops
from app.store import registry, retention

log = logging.getLogger("app.ops.cli")

# What a command may fail with: one line and exit status 1, never a traceback. OSError: a
# file the command reads or writes (its path checked at parse time, its content or the
# permissions only then).
EXPECTED = (dataset.DatasetError, dataset.TrainingRowsError, OwnerCredentialsMissingError,
            registry.LifecycleError, registry.NoModelError, retention.RetentionError, OSError)


def csv_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", type=checked.existing_file,
                        default=dataset.default_csv_path())


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", type=checked.feature_list, default=DEFAULT_FEATURES,
                        help=f"comma-separated inputs, from: {', '.join(FEATURES.names)} "
                             f"(default {','.join(DEFAULT_FEATURES)})")
    parser.add_argument("--test-size", type=checked.share, default=dataset.TEST_SIZE,
                        help="share of the rows the split holds out, between 0 and 1 (the "
                             "metrics are always on the workshop's 100 holdout rows, which "
                             "never train)")
    parser.add_argument("--random-state", type=checked.random_state,
                        default=dataset.RANDOM_STATE,
                        help=f"the split's seed, from 0 to {dataset.RANDOM_STATE_MAX}")
    parser.add_argument("--with-outcomes", action="store_true",
                        help="add the logged predictions that have an outcome to the rows")


def promote_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", type=checked.version_number,
                        help=f"from 1 to {checked.MAX_VERSION}")
    parser.add_argument("--force", action="store_true",
                        help="promote even if its holdout accuracy is lower")


def train(connection: Connection, _: Settings, args: argparse.Namespace) -> None:
    v = ops.train(connection, args.features, test_size=args.test_size,
                  random_state=args.random_state, with_outcomes=args.with_outcomes)
    h = v.holdout
    print(f"version {v.version} (candidate, not served): holdout accuracy {h.accuracy * 100:.1f}%"
          f" on {h.n_test} rows, confusion matrix {h.confusion_matrix}, ROC AUC {h.roc_auc:.3f};"
          f" trained on {h.n_train} rows ({v.training.outcome_rows} from outcomes); inputs "
          f"{', '.join(v.features)}")


def versions(connection: Connection, *_: object) -> None:
    print(f"{'version':>7}  {'created (UTC)':19}  {'rows':>5}  {'holdout':>7}  "
          f"{'live':>6}  {'outcomes':>8}  {'served':6}  inputs")
    for v in ops.versions(connection):
        live = "-" if v.live.accuracy is None else f"{v.live.accuracy * 100:.1f}%"
        print(f"{v.version:>7}  {v.trained_at:%Y-%m-%d %H:%M:%S}  {v.holdout.n_train:>5}  "
              f"{v.holdout.accuracy * 100:>6.1f}%  {live:>6}  {v.live.n_outcomes:>8}  "
              f"{'yes' if v.served else '':6}  {','.join(v.features)}")


def served(version: int) -> None:
    print(f"version {version} is served (every API worker switches within seconds)")


def evaluate(connection: Connection, *_: object) -> None:
    algorithm, holdout = ops.evaluate(connection)
    print(f"Model: {algorithm}\nAccuracy: {holdout.accuracy * 100:.1f}%")


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[Connection, Settings, argparse.Namespace], object]
    arguments: Callable[[argparse.ArgumentParser], object] | None = None


COMMANDS = {
    "migrate": Command("apply the Alembic migrations",
                       lambda c, s, a: ops.migrate(c, s.app_db_user)),
    "seed": Command("load the data set CSV (idempotent)",
                    lambda c, s, a: ops.seed(c, a.csv), csv_argument),
    "prestart": Command("migrate, seed and train if no model exists",
                        lambda c, s, a: ops.prestart(c, a.csv, s.app_db_user), csv_argument),
    "train": Command("train from the database and store a candidate version (not served)",
                     train, train_arguments),
    "versions": Command("list every version, its figures, which is served", versions),
    "promote": Command("serve a version (hot reload)",
                       lambda c, s, a: served(ops.promote(c, a.version, force=a.force)),
                       promote_arguments),
    "rollback": Command("serve the previous version again (twice: back again)",
                        lambda c, s, a: served(ops.rollback(c))),
    "evaluate": Command("train from the database and print the accuracy", evaluate),
    "report": Command(
        "write the served version's decision boundary and confusion matrix as PNG files",
        lambda c, s, a: print(*ops.report(c, a.out), sep="\n"),
        lambda p: p.add_argument("--out", type=checked.folder, required=True,
                                 help="folder for the PNGs (made if missing)")),
    "partitions": Command(
        "create the prediction log's next months where missing and list its partitions",
        lambda c, s, a: print(*(f"{p.name:24} {p.start or 'DEFAULT'} .. {p.end or ''}"
                                for p in ops.log_partitions(c)), sep="\n")),
    "prune": Command(
        "remove log rows (and outcomes) older than DAYS: whole months by dropping partitions",
        lambda c, s, a: print(f"deleted {ops.prune(c, a.older_than)} prediction rows older "
                              f"than {a.older_than} days"),
        lambda p: p.add_argument("--older-than", type=checked.days, required=True,
                                 metavar="DAYS",
                                 help=f"age in days, from 0 (everything until now) to "
                                      f"{checked.MAX_DAYS}")),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help)
        if command.arguments is not None:
            command.arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        # One line per problem, named as in the env files (no values: they may be secrets).
        print(error, file=sys.stderr)
        return 2
    logging.config.dictConfig(logging_config(settings.log_level, "ext://sys.stderr"))
    try:
        with ops.owner_connection(settings) as connection:
            COMMANDS[args.command].run(connection, settings, args)
    except EXPECTED as error:
        log.error("%s", error)
        return 1
    except OperationalError as error:
        log.error("%s", ops.explain_connection_error(error, settings))
        return 1
    return 0
