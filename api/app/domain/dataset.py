"""The Social_Network_Ads data set file: every row validated before anything is stored.

The columns come from `app.domain.features`: each feature's CSV header, bounds or categories.
A blank numeric cell is stored as NULL (training imputes it with the training rows' mean); anything
else malformed refuses the whole file, naming the line. `app.store.training_data` seeds the
rows into PostgreSQL and reads them back for training.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.features import FEATURES, CategoricalFeature, Feature, FeatureSet

USER_ID, PURCHASED = "User ID", "Purchased"
# The workshop's split: its test rows are the holdout every version is evaluated on.
TEST_SIZE = 0.25
RANDOM_STATE = 0
# What a split may be given: a share strictly between 0 and 1, and the seeds NumPy accepts.
RANDOM_STATE_MAX = 2**32 - 1


@dataclass(frozen=True)
class LabelledRow:
    """What training needs of a row: its inputs by feature name (None where blank)."""

    user_id: int
    values: dict[str, Any]
    purchased: bool


class DatasetError(ValueError):
    """The CSV is not the data set we expect; the message names the line."""


class TrainingRowsError(ValueError):
    """The rows a split leaves for training cannot fit a model (none, or one class only)."""


@dataclass(frozen=True)
class SeedRow:
    user_id: int
    line: int
    values: dict[str, Any]  # by feature name
    purchased: bool

    def labelled(self) -> LabelledRow:
        return LabelledRow(self.user_id, self.values, self.purchased)


def default_csv_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "Social_Network_Ads.csv"


def _parse_number(text: str, feature: Feature, line: int) -> float | int | None:
    assert not isinstance(feature, CategoricalFeature)
    if text == "":
        return None  # imputed at training time
    what = "a whole number" if feature.whole else "a number"
    try:
        number: float | int = int(text) if feature.whole else float(text)
    except ValueError:
        raise DatasetError(
            f"line {line}: {feature.csv_header} must be {what}, got {text!r}") from None
    if not (math.isfinite(number) and feature.low <= number <= feature.high):
        raise DatasetError(f"line {line}: {feature.csv_header} must be between "
                           f"{feature.low:g} and {feature.high:g}, got {text}")
    return number


def _parse_value(text: str, feature: Feature, line: int) -> Any:
    if isinstance(feature, CategoricalFeature):
        if text not in feature.categories:
            raise DatasetError(f"line {line}: {feature.csv_header} must be "
                               f"{' or '.join(feature.categories)}, got {text!r}")
        return text
    return _parse_number(text, feature, line)


def _parse_user_id(text: str, line: int) -> int:
    try:
        user_id = int(text)
    except ValueError:
        raise DatasetError(f"line {line}: {USER_ID} must be a whole number, got {text!r}") from None
    if not 1 <= user_id <= 2**62:
        raise DatasetError(f"line {line}: {USER_ID} must be between 1 and {2**62}, got {user_id}")
    return user_id


def _parse_row(cells: dict[str, str], line: int, features: FeatureSet) -> SeedRow:
    purchased = cells[PURCHASED]
    if purchased not in {"0", "1"}:
        raise DatasetError(f"line {line}: {PURCHASED} must be 0 or 1, got {purchased!r}")
    return SeedRow(
        user_id=_parse_user_id(cells[USER_ID], line),
        line=line,
        values={f.name: _parse_value(cells[f.csv_header], f, line) for f in features},
        purchased=purchased == "1",
    )


def read_csv(path: Path, features: FeatureSet = FEATURES) -> list[SeedRow]:
    """Every row validated before anything is stored: a bad file loads nothing."""
    try:
        return _read_csv(path, features)
    except OSError as error:
        raise DatasetError(f"{path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path} is not UTF-8 text (byte {error.start})") from None
    except csv.Error as error:
        raise DatasetError(f"{path}: {error}") from None


def _read_csv(path: Path, features: FeatureSet) -> list[SeedRow]:
    expected = {USER_ID, PURCHASED, *(f.csv_header for f in features)}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or len(header) != len(expected) or set(header) != expected:
            raise DatasetError(f"line 1: expected the columns {', '.join(sorted(expected))}; "
                               f"got {header!r}")
        rows = []
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise DatasetError(f"line {reader.line_num}: expected {len(header)} fields, "
                                   f"got {len(fields)}")
            cells = dict(zip(header, (f.strip() for f in fields), strict=True))
            rows.append(_parse_row(cells, reader.line_num, features))
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    seen: dict[int, int] = {}
    for row in rows:
        if row.user_id in seen:
            raise DatasetError(
                f"line {row.line}: {USER_ID} {row.user_id} repeats line {seen[row.user_id]}"
            )
        seen[row.user_id] = row.line
    return rows
