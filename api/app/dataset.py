"""The Social_Network_Ads data set: validated from the shipped CSV, seeded into PostgreSQL once."""

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.models import DatasetRow

HEADER = ["User ID", "Gender", "Age", "EstimatedSalary", "Purchased"]
GENDERS = {"Male", "Female"}


@dataclass(frozen=True)
class LabelledRow:
    """What training needs of a row."""

    user_id: int
    age: float
    salary: float
    purchased: bool


class DatasetError(ValueError):
    """The CSV is not the data set we expect; the message names the line."""


@dataclass(frozen=True)
class SeedRow:
    user_id: int
    line: int
    gender: str
    age: int
    estimated_salary: int
    purchased: bool


def default_csv_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "Social_Network_Ads.csv"


def _parse_int(value: str, field: str, line: int, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise DatasetError(f"line {line}: {field} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise DatasetError(f"line {line}: {field} must be between {low} and {high}, got {number}")
    return number


def _parse_row(fields: list[str], line: int) -> SeedRow:
    if len(fields) != len(HEADER):
        raise DatasetError(f"line {line}: expected {len(HEADER)} fields, got {len(fields)}")
    user_id, gender, age, salary, purchased = (f.strip() for f in fields)
    if gender not in GENDERS:
        raise DatasetError(f"line {line}: Gender must be Male or Female, got {gender!r}")
    if purchased not in {"0", "1"}:
        raise DatasetError(f"line {line}: Purchased must be 0 or 1, got {purchased!r}")
    return SeedRow(
        user_id=_parse_int(user_id, "User ID", line, 1, 2**62),
        line=line,
        gender=gender,
        age=_parse_int(age, "Age", line, 0, 120),
        estimated_salary=_parse_int(salary, "EstimatedSalary", line, 0, 10_000_000),
        purchased=purchased == "1",
    )


def read_csv(path: Path) -> list[SeedRow]:
    """Every row validated before anything is stored: a bad file loads nothing."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != HEADER:
            raise DatasetError(f"line 1: expected header {','.join(HEADER)}, got {header!r}")
        rows = [_parse_row(fields, reader.line_num) for fields in reader if fields]
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    seen: dict[int, int] = {}
    for row in rows:
        if row.user_id in seen:
            raise DatasetError(
                f"line {row.line}: User ID {row.user_id} repeats line {seen[row.user_id]}"
            )
        seen[row.user_id] = row.line
    return rows


def seed(session: Session, rows: list[SeedRow]) -> int:
    """Insert the rows not yet present, in the caller's transaction; returns how many were new."""
    statement = (
        insert(DatasetRow)
        .values([asdict(row) for row in rows])
        .on_conflict_do_nothing(index_elements=[DatasetRow.user_id])
        .returning(DatasetRow.user_id)
    )
    return len(session.execute(statement).all())


def count_rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(DatasetRow)) or 0


def labelled_rows(session: Session) -> list[LabelledRow]:
    """The training data, from PostgreSQL, in the file order the workshop's split relies on."""
    result = session.execute(
        select(
            DatasetRow.user_id, DatasetRow.age, DatasetRow.estimated_salary, DatasetRow.purchased
        ).order_by(DatasetRow.line)
    )
    return [LabelledRow(*row) for row in result]
