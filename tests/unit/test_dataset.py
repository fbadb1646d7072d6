"""The shipped CSV is the data set; a bad file is refused with the line at fault."""

import hashlib
from pathlib import Path

import pytest

from app.domain import dataset

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
        ("Id,Age\n1,2\n", "line 1: expected the columns"),
        (GOOD + "15810944,Male,abc,20000,0\n", "line 3: Age must be a whole number"),
        (GOOD + "15810944,Male,35,20000,2\n", "line 3: Purchased must be 0 or 1"),
        (GOOD + "15810944,Robot,35,20000,0\n", "line 3: Gender must be Female or Male"),
        (GOOD + "15810944,Male,35,-5,0\n", "line 3: EstimatedSalary must be between"),
        (GOOD + "15810944,Male,135,20000,0\n", "line 3: Age must be between"),
        (GOOD + "15810944,Male,35\n", "line 3: expected 5 fields"),
        (GOOD + "15624510,Male,35,20000,0\n", "line 3: User ID 15624510 repeats line 2"),
        ("User ID,Gender,Age,EstimatedSalary,Purchased\n", "no data rows"),
        (GOOD + "15810944,Male,3.5,20000,0\n", "line 3: Age must be a whole number"),
        (GOOD + "15810944,,35,20000,0\n", "line 3: Gender must be Female or Male"),
        (GOOD + "15810944,Male,35,20000,\n", "line 3: Purchased must be 0 or 1"),
        (GOOD + ",Male,35,20000,0\n", "line 3: User ID must be a whole number"),
    ],
)
def test_a_bad_file_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(dataset.DatasetError, match=message):
        dataset.read_csv(path)


def test_blank_numeric_cells_are_kept_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    path.write_text(GOOD + "15810944,Female,,20000,1\n15668575,Female,26, ,0\n")
    rows = dataset.read_csv(path)
    assert [row.values for row in rows] == [
        {"age": 19, "salary": 19000, "gender": "Male"},
        {"age": None, "salary": 20000, "gender": "Female"},
        {"age": 26, "salary": None, "gender": "Female"},
    ]


def test_columns_are_found_by_name(tmp_path: Path) -> None:
    path = tmp_path / "reordered.csv"
    path.write_text("Age,User ID,Purchased,EstimatedSalary,Gender\n19,15624510,0,19000,Male\n")
    [row] = dataset.read_csv(path)
    assert (row.user_id, row.values, row.purchased) == (
        15624510, {"age": 19, "salary": 19000, "gender": "Male"}, False)
