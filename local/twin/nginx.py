"""The `nginx` service: the system's nginx with the image's nginx.conf and the one template,
rendered with the variables compose gives the image, and the image's certificate script."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from local.twin import compose
from local.twin.processes import (
    TwinError,
    in_netns,
    make_traversable,
    read_pid,
    stop_pid,
    wait_http,
)

TEMPLATE = compose.ROOT / "nginx" / "templates" / "default.conf.template"
# The edge's rates, bursts and connection cap: compose gives nginx this same file (env_file).
LIMITS = compose.ROOT / "nginx" / "limits.env"
# The page's source and the script that makes the served folder from it (nginx/Dockerfile
# runs the same one).
STATIC = compose.ROOT / "nginx" / "static"
BUILD_STATIC = compose.ROOT / "nginx" / "build_static.py"


def edge_limits() -> dict[str, str]:
    return compose.read_env_file(LIMITS)


def unlimited() -> dict[str, str]:
    """Edge limits no load test reaches (benchmarks, fault tests)."""
    return {name: ("1000000r/s" if name.endswith("_RATE") else "60000") for name in edge_limits()}


def local_resolvers() -> str:
    """As the image's 15-local-resolvers.envsh: the nameservers of /etc/resolv.conf."""
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    servers = [line.split()[1] for line in lines if line.startswith("nameserver ")]
    return " ".join(servers) or "127.0.0.1"


@dataclass
class Nginx:
    state_dir: Path
    http_port: int
    https_port: int
    api_port: int
    limits: dict[str, str] = field(default_factory=edge_limits)
    server_name: str = "localhost"
    # Every api replica's port (the stack sets them); by default the one at api_port.
    api_ports: list[int] = field(default_factory=list)
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
            "NGINX_SERVER_NAME": self.server_name,
            "NGINX_HTTP_LISTEN": f"{self.listen_host}:{self.http_port}",
            "NGINX_HTTPS_LISTEN": f"{self.listen_host}:{self.https_port}",
            "NGINX_PUBLIC_HTTPS_PORT": str(self.https_port),
            # The upstream's server entries: compose gives one name that nginx resolves to
            # every replica; the twin lists each replica's address.
            "API_UPSTREAM": ";\n    server ".join(
                f"{self.api_host}:{port}" for port in self.api_ports or [self.api_port]),
            "NGINX_STATIC_ROOT": str(self.prefix / "html"),
            "NGINX_CERT_DIR": str(self.cert_dir),
            "NGINX_ACME_ROOT": str(self.prefix / "acme"),
            # The image's entrypoint derives this from resolv.conf; the twin's upstream is an
            # address, so nothing is ever resolved and any server will do.
            "NGINX_LOCAL_RESOLVERS": local_resolvers(),
            **self.limits,
        }

    def render(self) -> Path:
        # The page is built into the state folder by the script the image's first stage runs
        # (hashed names, gzip copies): nginx's workers may not be allowed into the checkout (a
        # 0700 home or temporary folder) but can read the state folder.
        build_static(self.prefix / "html")
        make_traversable(self.prefix / "html")
        (self.prefix / "acme").mkdir(exist_ok=True)
        text = render_template(TEMPLATE.read_text(), self.template_vars())
        conf_d = self.prefix / "conf.d"
        conf_d.mkdir(parents=True, exist_ok=True)
        (conf_d / "default.conf").write_text(text)
        main = self.prefix / "nginx.conf"
        # The image's nginx.conf, with this folder instead of the container's paths.
        main.write_text(
            (compose.ROOT / "nginx" / "nginx.conf").read_text()
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
        script = compose.ROOT / "nginx" / "docker-entrypoint.d" / "40-ensure-certificate.sh"
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
            wait_http(f"https://127.0.0.1:{self.https_port}/healthz", 15, self.ssl_context(),
                      host=self.server_name)
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


def build_static(dest: Path) -> None:
    result = subprocess.run([sys.executable, str(BUILD_STATIC), str(STATIC), str(dest)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise TwinError(f"{BUILD_STATIC.name} failed:\n{result.stderr}")


def render_template(text: str, values: dict[str, str]) -> str:
    """envsubst as the nginx image runs it: ${NAME} for the given names; nginx's $vars stay."""
    rendered = re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", lambda m: values.get(m[1], m[0]), text)
    missing = sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", rendered)))
    if missing:
        raise TwinError(f"template variables without a value: {', '.join(missing)}")
    return rendered
