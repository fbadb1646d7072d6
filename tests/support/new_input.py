"""A required numeric input added the way a developer adds one, to a copy of api/: one entry in
app/domain/features.py, one migration file, and the data set's new column (data, not code).
Nothing else of the copy differs from api/."""

import filecmp
import shutil
from pathlib import Path

from alembic.script import ScriptDirectory

from app.domain import dataset
from tests.support.paths import API

# The entry, as a developer types it (core: required in every request).
ENTRY = """    NumericFeature(
        name="visits", label="Visits", unit="last month", csv_header="Visits",
        dataset_column="visits", dataset_type=Integer(), low=0, high=1000, example=3,
        core=True,
    ),
"""
MIGRATION = '''"""Visits to the shop's site last month: a new required input.

Revision ID: visits
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "visits"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dataset_rows", sa.Column("visits", sa.Integer, nullable=True))
    op.add_column("predictions", sa.Column("visits", sa.Double, nullable=True))


def downgrade() -> None:
    op.drop_column("predictions", "visits")
    op.drop_column("dataset_rows", "visits")
'''
FEATURES_MODULE = Path("app/domain/features.py")
MIGRATIONS = Path("app/store/migrations")
DATA_SET = Path("app/domain/data/Social_Network_Ads.csv")
CHANGED = (FEATURES_MODULE, MIGRATIONS / "versions" / "visits.py", DATA_SET)


def visits_of(number: int, purchased: bool) -> str:
    """Made up, and telling: buyers visited more. Every 17th row is blank (imputed)."""
    return "" if number % 17 == 0 else str((number * 7) % 5 + (6 if purchased else 0))


def csv_with_visits(path: Path) -> int:
    """The data set with a Visits column; returns how many rows have a value."""
    lines = dataset.default_csv_path().read_text().splitlines()
    out = [lines[0] + ",Visits"]
    for number, line in enumerate(lines[1:]):
        out.append(f"{line},{visits_of(number, line.endswith(',1'))}")
    path.write_text("\n".join(out) + "\n")
    return sum(1 for line in out[1:] if not line.endswith(","))


def copy_with_visits(destination: Path) -> tuple[Path, int]:
    """api/ copied to `destination` with the input added; returns the copy and how many data
    set rows have a value for it."""
    copy = destination / "api"
    shutil.copytree(API, copy, ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "build"))
    features = copy / FEATURES_MODULE
    text = features.read_text()
    end = "\n))\n\n# The workshop's model"
    assert text.count(end) == 1, "the catalogue's closing lines moved"
    features.write_text(text.replace(end, "\n" + ENTRY + end[1:]))
    head = ScriptDirectory(str(API / MIGRATIONS)).get_current_head()
    (copy / CHANGED[1]).write_text(MIGRATION.format(head=head))
    filled = csv_with_visits(copy / DATA_SET)
    return copy, filled


def differing_files(copy: Path) -> list[Path]:
    """Every file of the copy that is not as in api/ (new or changed)."""
    found: list[Path] = []

    def walk(comparison: filecmp.dircmp[str], here: Path) -> None:
        found.extend(here / name for name in comparison.left_only + comparison.diff_files)
        for name, sub in comparison.subdirs.items():
            walk(sub, here / name)

    walk(filecmp.dircmp(copy, API, ignore=["__pycache__", "build"]), Path())
    return sorted(found)
