"""The shipped CSV is the data set; a bad file is refused with the line at fault."""

import hashlib
from pathlib import Path

import pytest

from app import dataset

SHA256 = "b2432367de9b6de697317a34adf4d788af54364bbd8a0edb3b2a040a05a6ce36"
GOOD = "User ID,Gender,Age,EstimatedSalary,Purchased\n15624510,Male,19,19000,0\n"


def test_the_shipped_csv_is_the_published_data_set() -> None:
    path = dataset.default_csv_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256
    rows = dataset.read_csv(path)
    assert len(rows) == 400
    assert sum(row.purchased for row in rows) == 143
    assert [row.line for row in rows[:2]] == [2, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Id,Age\n1,2\n", "line 1: expected header"),
        (GOOD + "15810944,Male,abc,20000,0\n", "line 3: Age must be a whole number"),
        (GOOD + "15810944,Male,35,20000,2\n", "line 3: Purchased must be 0 or 1"),
        (GOOD + "15810944,Robot,35,20000,0\n", "line 3: Gender must be Male or Female"),
        (GOOD + "15810944,Male,35,-5,0\n", "line 3: EstimatedSalary must be between"),
        (GOOD + "15810944,Male,135,20000,0\n", "line 3: Age must be between"),
        (GOOD + "15810944,Male,35\n", "line 3: expected 5 fields"),
        (GOOD + "15624510,Male,35,20000,0\n", "line 3: User ID 15624510 repeats line 2"),
        ("User ID,Gender,Age,EstimatedSalary,Purchased\n", "no data rows"),
    ],
)
def test_a_bad_file_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(dataset.DatasetError, match=message):
        dataset.read_csv(path)
