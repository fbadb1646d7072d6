"""The local twin: the compose topology as three local processes, from the same files.

    python local/twin.py up      # PostgreSQL -> API (api/start.sh) -> nginx, waits until healthy
    python local/twin.py down    # stops what `up` started (by the PIDs it recorded)

PostgreSQL runs db/init/*.sh on a new data directory, as the postgres image does on an empty
volume; the API runs api/start.sh (prestart, then gunicorn with api/gunicorn.conf.py), as the
image's CMD does; nginx renders nginx/templates/default.conf.template, as the image's
entrypoint does, and creates a self-signed certificate with the image's own script.

The test suite drives the same classes with its own state directory and free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "nginx" / "templates" / "default.conf.template"
PLACEHOLDER = "changeme"


class TwinError(RuntimeError):
    """Something the twin needs is missing or did not come up; the message says what to do."""


# --- environment files -------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as compose's env_file reads them (no quotes, no expansion)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def ensure_env_files(env_dir: Path) -> None:
    """First run: .env and .env_db from the examples, every placeholder a generated secret."""
    for name in (".env", ".env_db"):
        target = env_dir / name
        if target.exists():
            continue
        text = (ROOT / f"{name}.example").read_text()
        while PLACEHOLDER in text:
            text = text.replace(PLACEHOLDER, secrets.token_urlsafe(24), 1)
        target.write_text(text)
        target.chmod(0o600)
        print(f"created {target} with generated secrets")


def service_env(env_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    """What compose's env_file gives the api: .env and .env_db (created on first use), plus
    the overrides that differ between compose and where these processes run."""
    ensure_env_files(env_dir)
    return {**read_env_file(env_dir / ".env"), **read_env_file(env_dir / ".env_db"), **overrides}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- processes -----------------------------------------------------------------------------------


def process_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, parent, ...; None where unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """The process runs. A zombie does not: killed, it answers signal 0 until its parent reaps
    it, and on a host whose init does not reap at once a crashed postmaster lingers so."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = process_stat(pid)
    return stat is None or stat[0] not in ("Z", "X")


def process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def processes_in(folder: Path) -> list[int]:
    """Running processes whose working folder is `folder` (a server's backends are so)."""
    target = str(folder.resolve())
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError):
            if os.readlink(entry / "cwd") == target and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def postgres_pid(lock_file: Path) -> int | None:
    """The PID in a PostgreSQL lock file, if a postgres process runs under it."""
    pid = read_pid(lock_file)
    return pid if pid is not None and process_name(pid) in ("postgres", None) else None


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not leave in time. Only PIDs we recorded."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, 5)


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc (for CPU accounting and crash tests)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        stat = process_stat(int(entry.name))
        if stat is not None:
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def in_netns(netns: str | None) -> list[str]:
    """The prefix that runs a command inside a network namespace (the fault tests' hosts)."""
    return ["ip", "netns", "exec", netns] if netns else []


def wait_http(url: str, timeout: float, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except OSError as error:
            last = str(error)
        time.sleep(0.1)
    raise TwinError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")


def make_traversable(path: Path) -> None:
    """As root, servers run as other users (postgres, nginx's workers): let them reach `path`."""
    if os.geteuid() != 0:
        return
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o001 == 0:
            folder.chmod(mode | 0o711)


def as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: then run them as the postgres system user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise TwinError("running as root needs a 'postgres' system user for the server") from None
    return ["runuser", "-u", "postgres", "--"]


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


# --- the three tiers -----------------------------------------------------------------------------


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

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is not None:
            self._run(str(self.bin_dir / "pg_ctl"), "stop", "-w", "-m", mode,
                      "-D", str(self.data_dir))

    def crash(self) -> None:
        """SIGKILL the postmaster and every backend at once, like the OOM killer would."""
        pid = self.pid()
        if pid is not None:
            tree = process_tree(pid)
            for member in tree:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)
            for member in tree:
                wait_gone(member, 10)


@dataclass
class Api:
    state_dir: Path
    port: int
    env: dict[str, str]
    netns: str | None = None

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "api.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "api.log"

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def start(self, timeout: float = 60, wait: bool = True) -> None:
        if self.pid() is None:
            # The same command as the image's CMD; the venv running us provides gunicorn.
            path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
            with self.log_file.open("ab") as log:
                process = subprocess.Popen(
                    [*in_netns(self.netns), "sh", str(ROOT / "api" / "start.sh")],
                    env={**os.environ, **self.env, "PATH": path},
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            self.pid_file.write_text(str(process.pid))
        if not wait:
            return
        try:
            wait_http(f"http://127.0.0.1:{self.port}/readyz", timeout)
        except TwinError as error:
            raise TwinError(f"{error}\n--- {self.log_file} ---\n{self.tail_log()}") from None

    def tail_log(self, lines: int = 30) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout=25)
        self.pid_file.unlink(missing_ok=True)


@dataclass
class Nginx:
    state_dir: Path
    http_port: int
    https_port: int
    api_port: int
    predict_rate: str = "20r/s"
    predict_burst: int = 40
    # Loopback only by default: the twin is for this machine (in the container: all addresses).
    listen_host: str = "127.0.0.1"
    api_host: str = "127.0.0.1"
    netns: str | None = None

    @property
    def prefix(self) -> Path:
        return self.state_dir / "nginx"

    @property
    def cert_dir(self) -> Path:
        return self.state_dir / "certs"

    @property
    def pid_file(self) -> Path:
        return self.prefix / "nginx.pid"

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def template_vars(self) -> dict[str, str]:
        """The variables compose gives the image; here pointing at the local processes."""
        return {
            "NGINX_HTTP_LISTEN": f"{self.listen_host}:{self.http_port}",
            "NGINX_HTTPS_LISTEN": f"{self.listen_host}:{self.https_port}",
            "NGINX_PUBLIC_HTTPS_PORT": str(self.https_port),
            "API_UPSTREAM": f"{self.api_host}:{self.api_port}",
            "NGINX_STATIC_ROOT": str(self.prefix / "html"),
            "NGINX_CERT_DIR": str(self.cert_dir),
            "NGINX_PREDICT_RATE": self.predict_rate,
            "NGINX_PREDICT_BURST": str(self.predict_burst),
        }

    def render(self) -> Path:
        # The page is copied, as the image's COPY does: nginx's workers may not be allowed
        # into the checkout (a 0700 home or temporary folder) but can read the state folder.
        shutil.copytree(ROOT / "nginx" / "static", self.prefix / "html", dirs_exist_ok=True)
        make_traversable(self.prefix / "html")
        text = render_template(TEMPLATE.read_text(), self.template_vars())
        conf_d = self.prefix / "conf.d"
        conf_d.mkdir(parents=True, exist_ok=True)
        (conf_d / "default.conf").write_text(text)
        main = self.prefix / "nginx.conf"
        # The image's nginx.conf, with this folder instead of the container's paths.
        main.write_text(
            (ROOT / "nginx" / "nginx.conf").read_text()
            .replace("/tmp/", f"{self.prefix}/")
            .replace("/etc/nginx/conf.d/", f"{conf_d}/")
            .replace("/var/log/nginx/", f"{self.prefix}/")
        )
        return main

    def nginx_binary(self) -> str:
        found = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
        )
        if found is None:
            raise TwinError("nginx not found: apt-get install nginx-light (or nginx)")
        return found

    def ensure_certificate(self) -> None:
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        script = ROOT / "nginx" / "docker-entrypoint.d" / "40-ensure-certificate.sh"
        result = subprocess.run(
            ["sh", str(script)], env={**os.environ, "NGINX_CERT_DIR": str(self.cert_dir)},
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise TwinError(f"certificate script failed:\n{result.stderr}")

    def start(self, wait: bool = True) -> None:
        self.ensure_certificate()
        main = self.render()
        self._nginx(main, "-t", "-q")
        self._nginx(main, *(["-s", "reload"] if self.pid() is not None else []))
        if wait:
            wait_http(f"https://127.0.0.1:{self.https_port}/healthz", 15, self.ssl_context())
        elif self.pid() is None:
            raise TwinError(f"nginx did not start; see {self.prefix / 'error.log'}")

    def _nginx(self, main: Path, *args: str) -> None:
        command = [*in_netns(self.netns), self.nginx_binary(), "-p", str(self.prefix),
                   "-c", str(main), "-e", str(self.prefix / "error.log"), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise TwinError(f"{' '.join(command)} failed:\n{result.stderr}")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_dir / "fullchain.pem"))

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)


def render_template(text: str, values: dict[str, str]) -> str:
    """envsubst as the nginx image runs it: ${NAME} for the given names; nginx's $vars stay."""
    rendered = re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", lambda m: values.get(m[1], m[0]), text)
    missing = sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", rendered)))
    if missing:
        raise TwinError(f"template variables without a value: {', '.join(missing)}")
    return rendered


# --- the stack -----------------------------------------------------------------------------------


@dataclass
class Ports:
    http: int = 8080
    https: int = 8443
    api: int = 8000
    postgres: int = 55432

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            http=int(os.environ.get("HTTP_PORT", 8080)),
            https=int(os.environ.get("HTTPS_PORT", 8443)),
            api=int(os.environ.get("API_PORT", 8000)),
            postgres=int(os.environ.get("LOCAL_POSTGRES_PORT", 55432)),
        )

    @classmethod
    def free(cls) -> Ports:
        return cls(http=free_port(), https=free_port(), api=free_port(), postgres=free_port())


class Stack:
    def __init__(self, state_dir: Path, env_dir: Path, ports: Ports,
                 extra_env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.ports = ports
        self.env = service_env(env_dir, {
            # What differs from compose: addresses. Names and everything else are the same.
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(ports.postgres),
            "API_BIND": f"127.0.0.1:{ports.api}",
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            **(extra_env or {}),
        })
        self.postgres = Postgres(self.state_dir, ports.postgres, self.env)
        self.api = Api(self.state_dir, ports.api, self.env)
        self.nginx = Nginx(self.state_dir, ports.http, ports.https, ports.api)

    def up(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.api.start()
        self.nginx.start()

    def down(self) -> None:
        self.nginx.stop()
        self.api.stop()
        self.postgres.stop()

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.ports.https}"

    @property
    def http_url(self) -> str:
        return f"http://localhost:{self.ports.http}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The local twin of docker-compose.yml")
    parser.add_argument("command", choices=["up", "down", "status", "run"])
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    parser.add_argument("args", nargs="*",
                        help="with run: -- and a command to run with the API's environment")
    args = parser.parse_args(argv)
    stack = Stack(args.state_dir, ROOT, Ports.from_env())
    try:
        if args.command == "up":
            stack.up()
            print(f"""
The local twin is up (logs in {stack.state_dir}):
  web page   {stack.https_url}/   (self-signed certificate: {stack.nginx.cert_dir}/fullchain.pem)
  API docs   {stack.https_url}/docs
  try        curl --cacert {stack.nginx.cert_dir}/fullchain.pem \\
                  -H 'Content-Type: application/json' \\
                  -d '{{"age": 30, "salary": 87000}}' {stack.https_url}/predict
  stop with  make local-down""")
        elif args.command == "run":
            # e.g. `twin.py run -- python -m app evaluate`: the CLI against the twin's database.
            path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
            env = {**os.environ, **stack.env, "PATH": path}
            return subprocess.run(args.args, env=env, cwd=ROOT / "api", check=False).returncode
        elif args.command == "down":
            stack.down()
            print("the local twin is stopped")
        else:
            for name, tier in (("postgres", stack.postgres), ("api", stack.api),
                               ("nginx", stack.nginx)):
                pid = tier.pid()
                print(f"{name:9} {'running, pid ' + str(pid) if pid else 'stopped'}")
    except TwinError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
