"""The `db` service: PostgreSQL from the system's server binaries, initialised as the official
image initialises an empty volume (initdb with the superuser, then db/init/*.sh)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from local.twin.compose import ROOT
from local.twin.processes import (
    TwinError,
    as_postgres_user,
    in_netns,
    kill_tree,
    make_traversable,
    process_name,
    processes_in,
    read_pid,
)


def postgres_pid(lock_file: Path) -> int | None:
    """The PID in a PostgreSQL lock file, if a postgres process runs under it."""
    pid = read_pid(lock_file)
    return pid if pid is not None and process_name(pid) in ("postgres", None) else None


def postgres_bin_dir() -> Path:
    configured = os.environ.get("PG_BIN")
    candidates = [Path(configured)] if configured else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for candidate in candidates:
        if (candidate / "initdb").exists():
            return candidate
    raise TwinError(
        "PostgreSQL server binaries not found: apt-get install postgresql "
        "(or set PG_BIN to the folder holding initdb and pg_ctl)"
    )


@dataclass
class Postgres:
    state_dir: Path
    port: int
    env: dict[str, str]
    bin_dir: Path = field(default_factory=postgres_bin_dir)
    host: str = "127.0.0.1"
    netns: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "postgres.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def pid(self) -> int | None:
        """The running postmaster: postmaster.pid names a live postgres process (not a zombie,
        not another program that was given the PID after a crash)."""
        return postgres_pid(self.pid_file)

    def remove_stale_lock_files(self) -> None:
        """After a crash postmaster.pid and the socket's lock file outlive the server, and
        PostgreSQL refuses to start while the PID in them answers signal 0, which a zombie
        postmaster does. Removed only once no process of the old server works in the data
        folder (its backends end on their own when the postmaster dies), so that two servers
        never share it."""
        locks = [self.pid_file, self.state_dir / f".s.PGSQL.{self.port}.lock"]
        stale = [lock for lock in locks if lock.exists() and postgres_pid(lock) is None]
        if not stale:
            return
        deadline = time.monotonic() + 10
        while (left := processes_in(self.data_dir)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if left:
            raise TwinError(f"PostgreSQL's lock files are stale but processes {left} still "
                            f"run in {self.data_dir}; stop them first")
        for lock in stale:
            lock.unlink(missing_ok=True)

    def _run(self, *args: str, env: dict[str, str] | None = None) -> None:
        result = subprocess.run(
            [*in_netns(self.netns), *as_postgres_user(), *args], env=env, capture_output=True,
            text=True, check=False,
        )
        if result.returncode != 0:
            raise TwinError(f"{Path(args[0]).name} failed:\n{result.stdout}{result.stderr}")

    def _prepare_dirs(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        make_traversable(self.state_dir)
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.state_dir, account.pw_uid, account.pw_gid)
            if self.log_file.exists():
                os.chown(self.log_file, account.pw_uid, account.pw_gid)

    def initdb(self) -> None:
        password_file = self.state_dir / "initdb.pw"
        password_file.write_text(self.env["POSTGRES_PASSWORD"])
        if os.geteuid() == 0:
            shutil.chown(password_file, "postgres")
        try:
            self._run(
                str(self.bin_dir / "initdb"), "-D", str(self.data_dir),
                "-U", self.env["POSTGRES_USER"], f"--pwfile={password_file}",
                "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
            )
        finally:
            password_file.unlink(missing_ok=True)
        # As the official image does: password logins from any address it listens on.
        with (self.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write("host all all all scram-sha-256\n")

    def start(self) -> None:
        fresh = not (self.data_dir / "PG_VERSION").exists()
        self._prepare_dirs()
        if fresh:
            self.initdb()
        if self.pid() is None:
            self.remove_stale_lock_files()
            # Durability stays PostgreSQL's default: fsync, synchronous_commit and
            # full_page_writes on (the fault tests assert it).
            options = (
                f"-c listen_addresses={self.host} -c port={self.port} "
                f"-c unix_socket_directories='{self.state_dir}' -c max_connections=100"
            )
            self._run(
                str(self.bin_dir / "pg_ctl"), "start", "-w", "-t", "30", "-D", str(self.data_dir),
                "-l", str(self.log_file), "-o", options,
            )
        if fresh:
            self.run_init_scripts()

    def client_env(self) -> dict[str, str]:
        """Environment for psql as the owner: like the image's init phase, over TCP."""
        return {
            **os.environ, **self.env,
            "PGHOST": self.host, "PGPORT": str(self.port),
            "PGUSER": self.env["POSTGRES_USER"], "PGPASSWORD": self.env["POSTGRES_PASSWORD"],
        }

    def psql(self, sql: str, database: str | None = None) -> str:
        result = subprocess.run(
            [*in_netns(self.netns), str(self.bin_dir / "psql"), "-v", "ON_ERROR_STOP=1",
             "--no-psqlrc", "-qAt",
             "-d", database or self.env["POSTGRES_DB"], "-c", sql],
            env=self.client_env(), capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise TwinError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def run_init_scripts(self) -> None:
        """What the postgres image does on an empty volume: create POSTGRES_DB, run db/init."""
        database = self.env["POSTGRES_DB"]
        if database != "postgres":
            self.psql(f'CREATE DATABASE "{database}"', database="postgres")
        for script in sorted((ROOT / "db" / "init").iterdir()):
            if script.suffix == ".sh":
                command = ["bash", str(script)]
            elif script.suffix == ".sql":
                command = [str(self.bin_dir / "psql"), "-v", "ON_ERROR_STOP=1", "-f", str(script)]
            else:
                continue
            env = {**self.client_env(), "PATH": f"{self.bin_dir}:{os.environ['PATH']}"}
            result = subprocess.run([*in_netns(self.netns), *command], env=env,
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise TwinError(f"{script.name} failed:\n{result.stderr}")

    def dump(self, target: Path) -> None:
        """pg_dump's custom format (compressed; pg_restore reads it), as the owner: one
        consistent snapshot taken when the dump starts, while writers go on."""
        self._as_owner("pg_dump", "--format=custom", f"--file={target}",
                       f"--dbname={self.env['POSTGRES_DB']}")

    def backup(self, folder: Path) -> Path:
        """folder/social-ads-<UTC time>.dump, as `make backup` names compose's."""
        target = folder / time.strftime("social-ads-%Y%m%dT%H%M%SZ.dump", time.gmtime())
        # Personal data: the folder 0700 (even if it was there before), the dump 0600.
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
        partial = target.with_suffix(".partial")
        self.dump(partial)
        partial.rename(target)  # a failed dump never looks like a backup
        return target

    def restore(self, source: Path, database: str | None = None) -> None:
        """Load a dump into an empty database the owner owns (a new volume's, once db/init ran),
        as the owner and in one transaction: it lands whole or not at all."""
        database = database or self.env["POSTGRES_DB"]
        tables = self.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                           database=database)
        if tables != "0":
            raise TwinError(f"database {database} is not empty ({tables} tables); restore into "
                            "a new one (see docs/operations.md: Backup and restore)")
        self._as_owner("pg_restore", "--exit-on-error", "--single-transaction", "--no-owner",
                       f"--dbname={database}", str(source))

    def _as_owner(self, program: str, *args: str) -> None:
        env = {**self.client_env(), "PGUSER": self.env["DB_OWNER_USER"],
               "PGPASSWORD": self.env["DB_OWNER_PASSWORD"]}
        # umask 077: a file it writes (a dump: personal data) is its owner's alone.
        result = subprocess.run([*in_netns(self.netns), str(self.bin_dir / program), *args],
                                env=env, capture_output=True, text=True, check=False,
                                umask=0o077)
        if result.returncode != 0:
            raise TwinError(f"{program} failed: {result.stderr.strip()}")

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is not None:
            self._run(str(self.bin_dir / "pg_ctl"), "stop", "-w", "-m", mode,
                      "-D", str(self.data_dir))

    def crash(self) -> None:
        """SIGKILL the postmaster and every backend at once, like the OOM killer would."""
        pid = self.pid()
        if pid is not None:
            kill_tree(pid)
