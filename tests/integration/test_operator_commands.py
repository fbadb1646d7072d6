"""Operator commands (`python -m app ...`) given bad arguments, run for real as a subprocess
with the migrate service's environment against a real PostgreSQL: each is refused with one
clear message (the allowed range named) on stderr, a non-zero exit status and no traceback,
and nothing is stored."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from app.store.tables import ModelVersion
from tests.support.databases import fresh_copy
from tests.support.operator import database_command
from tests.support.servers import Database

DB = "operator_commands"
# argparse's status for a bad argument; 1 for a failure of the work itself.
USAGE, FAILED = 2, 1


@pytest.fixture(scope="module")
def owner(prepared_database: Database) -> Iterator[Engine]:
    settings = fresh_copy(prepared_database, DB)
    engine = create_engine(settings.database_url(as_owner=True))
    yield engine
    engine.dispose()


def stored(owner: Engine) -> tuple[int, int, int]:
    """Model versions, data set rows and prediction rows: what a command could store."""
    with Session(owner) as session:
        return (session.scalar(select(func.count()).select_from(ModelVersion)) or 0,
                session.scalar(text("SELECT count(*) FROM dataset_rows")) or 0,
                session.scalar(text("SELECT count(*) FROM predictions")) or 0)


def refused(server: Database, owner: Engine, args: tuple[str, ...], status: int) -> str:
    """Runs the command; asserts the status, no traceback, nothing stored; returns stderr."""
    before = stored(owner)
    result = database_command(server, DB, *args, expect=status)
    after = stored(owner)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    assert after == before, f"{args} stored something: {before} -> {after}"
    return result.stderr


def a_folder(tmp_path: Path) -> str:
    return str(tmp_path)


def binary_file(tmp_path: Path) -> str:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x01" * 64)
    return str(path)


def a_file(tmp_path: Path) -> str:
    path = tmp_path / "a-file"
    path.write_text("not a folder\n")
    return str(path)


# (arguments, what the message must say). Refused while the arguments are parsed: the
# command's usage, then one `error:` line naming the argument and what it accepts.
PARSE_ERRORS = [
    (("train", "--test-size", "2"), "--test-size: '2' is not a share between 0 and 1"),
    (("train", "--test-size", "0"), "--test-size: '0' is not a share between 0 and 1"),
    (("train", "--test-size", "1"), "--test-size: '1' is not a share between 0 and 1"),
    (("train", "--test-size", "nan"), "--test-size: 'nan' is not a share between 0 and 1"),
    (("train", "--test-size", "a quarter"), "is not a share between 0 and 1"),
    (("train", "--random-state", "-1"),
     "--random-state: '-1' is not a whole number from 0 to 4294967295"),
    (("train", "--random-state", "4294967296"), "from 0 to 4294967295"),
    (("train", "--random-state", "0.5"), "from 0 to 4294967295"),
    (("train", "--features", "age,height"), "--features: unknown feature(s) height"),
    (("train", "--features", "gender"), "--features: every version uses age, salary"),
    (("promote", "0"), "version: '0' is not a version number from 1 to 2147483647"),
    (("promote", "-2"), "from 1 to 2147483647"),
    (("promote", "2147483648"), "from 1 to 2147483647"),
    (("promote", "two"), "from 1 to 2147483647"),
    (("prune", "--older-than", "-1"), "--older-than: '-1' is not a number of days from 0 to"),
    (("prune", "--older-than", "36501"), "from 0 to 36500"),
    (("prune", "--older-than", "²"), "from 0 to 36500"),
    (("seed", "--csv", "/nonexistent/ads.csv"), "--csv: '/nonexistent/ads.csv' is not a file"),
    (("seed", "--csv", a_folder), "is not a file"),
    (("prestart", "--csv", "/nonexistent/ads.csv"), "is not a file"),
    (("report", "--out", a_file), "is not a folder"),
    (("report", "--out", "/dev/null/figures"), "is not a folder"),
    (("report",), "the following arguments are required: --out"),
    (("versions", "--all"), "unrecognized arguments: --all"),
    (("forget",), "invalid choice: 'forget'"),
]


def resolved(args: tuple[object, ...], tmp_path: Path) -> tuple[str, ...]:
    return tuple(a(tmp_path) if callable(a) else str(a) for a in args)


@pytest.mark.parametrize(("args", "message"), PARSE_ERRORS,
                         ids=[" ".join(map(str, a)) for a, _ in PARSE_ERRORS])
def test_a_bad_argument_is_refused_before_anything_runs(
        prepared_database: Database, owner: Engine, tmp_path: Path,
        args: tuple[object, ...], message: str) -> None:
    stderr = refused(prepared_database, owner, resolved(args, tmp_path), USAGE)
    [error] = [line for line in stderr.splitlines() if "error:" in line]
    assert message in error, stderr
    assert stderr.splitlines()[0].startswith("usage: python -m app"), stderr


# Arguments that parse but cannot be done: one line (the logged error) naming why.
DOMAIN_ERRORS = [
    # 4 training rows, none of the workshop's holdout: one class at best.
    (("train", "--test-size", "0.99"), "the training rows hold one class only"),
    (("train", "--test-size", "0.999"), "no training rows"),
    (("promote", "99"), "no version 99"),
    (("seed", "--csv", binary_file), "is not UTF-8 text"),
]


@pytest.mark.parametrize(("args", "message"), DOMAIN_ERRORS,
                         ids=[" ".join(map(str, a)) for a, _ in DOMAIN_ERRORS])
def test_work_that_cannot_be_done_fails_with_one_line(
        prepared_database: Database, owner: Engine, tmp_path: Path,
        args: tuple[object, ...], message: str) -> None:
    stderr = refused(prepared_database, owner, resolved(args, tmp_path), FAILED)
    [line] = stderr.splitlines()
    assert message in line, stderr


def test_the_commands_work_in_range(prepared_database: Database, owner: Engine,
                                    tmp_path: Path) -> None:
    """The checks refuse nothing they should allow: the ends of each range work."""
    versions = stored(owner)[0]
    database_command(prepared_database, DB, "train", "--test-size", "0.05",
                     "--random-state", "4294967295")
    assert stored(owner)[0] == versions + 1
    database_command(prepared_database, DB, "prune", "--older-than", "36500")
    written = database_command(prepared_database, DB, "report", "--out",
                               str(tmp_path / "new" / "folder")).stdout.split()
    assert [Path(p).suffix for p in written] == [".png", ".png"]
