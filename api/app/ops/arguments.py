"""The operator commands' argument types, checked while the arguments are parsed (argparse's
`type` functions): a bad one gets the command's usage and one line naming the argument and
what it accepts (exit status 2), before any connection is made or anything is stored."""

import argparse
import math
from pathlib import Path

from app.domain import dataset
from app.domain.features import FEATURES

MAX_DAYS = 36_500
# model_versions.version is a PostgreSQL integer.
MAX_VERSION = 2**31 - 1


def whole_number(value: str, low: int, high: int, what: str) -> int:
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise argparse.ArgumentTypeError(f"{value!r} is not {what} from {low} to {high}")
    return int(value)


def days(value: str) -> int:
    return whole_number(value, 0, MAX_DAYS, "a number of days")


def version_number(value: str) -> int:
    return whole_number(value, 1, MAX_VERSION, "a version number")


def random_state(value: str) -> int:
    return whole_number(value, 0, dataset.RANDOM_STATE_MAX, "a whole number")


def share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 < number < 1:  # NaN fails too
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a share between 0 and 1 (both excluded), e.g. {dataset.TEST_SIZE}")
    return number


def feature_list(text: str) -> tuple[str, ...]:
    try:
        return tuple(f.name for f in FEATURES.select(text.split(",")))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value!r} is not a file")
    return path


def folder(value: str) -> Path:
    """A folder, or a path where one can be made: its nearest existing ancestor is a folder."""
    path = Path(value)
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is not a folder ({existing} is a file)")
    return path
