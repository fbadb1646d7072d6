"""Backups hold personal data: every way we write one (`make backup` for compose,
`make local-backup` for the twin) leaves a dump only its owner can read (0600) in a folder only
its owner can enter (0700), whatever the caller's umask; real pg_dump against a real
PostgreSQL. (The round trip under load is the e2e tier's: tests/e2e/test_data_safety.py.)"""

import os
import stat
import subprocess
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.servers import Database

FAKE_COMPOSE = ROOT / "tests" / "support" / "fake_compose.sh"
# A common default umask: files 0644 and folders 0755 unless the writer says otherwise.
LAX_UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(dump: Path, server: Database) -> None:
    assert (oct(mode(dump.parent)), oct(mode(dump))) == (oct(0o700), oct(0o600))
    # A real dump, not merely a file: pg_restore lists its tables.
    listing = subprocess.run([str(server.server.bin_dir / "pg_restore"), "--list", str(dump)],
                             capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public predictions" in listing


def make_backup(server: Database, folder: Path) -> Path:
    """The compose recipe, with `docker compose exec -T db` run here (tests/support's
    fake_compose.sh) in the db container's environment pointed at the test server."""
    env = {"PATH": f"{server.server.bin_dir}:/usr/bin:/bin",
           **{k: server.env[k] for k in ("DB_OWNER_USER", "DB_OWNER_PASSWORD", "POSTGRES_DB")},
           "PGPORT": str(server.server.port)}
    made = subprocess.run(
        ["make", "-s", "backup", f"COMPOSE=sh {FAKE_COMPOSE}", f"BACKUP_DIR={folder}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, umask=LAX_UMASK)
    assert made.returncode == 0, made.stdout + made.stderr
    [dump] = folder.iterdir()
    assert made.stdout == f"wrote {dump}\n"
    return dump


def test_make_backup_writes_a_private_dump(prepared_database: Database, tmp_path: Path) -> None:
    assert_private(make_backup(prepared_database, tmp_path / "backups"), prepared_database)


def test_make_backup_makes_an_existing_folder_private(prepared_database: Database,
                                                      tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    folder.chmod(0o755)
    assert_private(make_backup(prepared_database, folder), prepared_database)


def test_the_twins_backup_writes_a_private_dump(prepared_database: Database,
                                                tmp_path: Path) -> None:
    """`make local-backup`'s code (local.twin) on the test server, under a lax umask."""
    folder = tmp_path / "twin-backups"
    saved = os.umask(LAX_UMASK)
    try:
        dump = prepared_database.server.backup(folder)
    finally:
        os.umask(saved)
    assert list(folder.iterdir()) == [dump]
    assert_private(dump, prepared_database)
