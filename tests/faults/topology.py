"""docker-compose.yml's topology rebuilt from network namespaces, with the real services in it.

One namespace per compose service, one bridge per compose network (in a namespace of its own,
so the machine's own network is never touched), one veth per service and network, addresses
from 198.18.0.0/15 (reserved for tests). A further namespace plays the Docker host: it is
linked to the service that publishes ports, and to nothing else. There are no routes between
networks, as with Docker's bridge networks. Everything is removed by `destroy`.
"""

import json
import os
import secrets
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local.twin import ROOT, Api, Migrate, Nginx, Postgres, service_env, unlimited

HOST_SUBNET = "198.18.100"
PROBE = Path(__file__).with_name("probe.py")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def in_ns(netns: str, *command: str, timeout: float = 60,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`command` in the namespace; `env` adds to this process's environment."""
    return subprocess.run(["ip", "netns", "exec", netns, *command], capture_output=True,
                          text=True, check=False, timeout=timeout,
                          env={**os.environ, **env} if env else None)


@dataclass
class Topology:
    compose: dict[str, Any]
    state_dir: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    addresses: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_compose_file(cls, state_dir: Path) -> "Topology":
        return cls(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), state_dir)

    # --- names ---------------------------------------------------------------------------------

    def ns(self, name: str) -> str:
        return f"sa{self.tag}-{name}"

    @property
    def services(self) -> list[str]:
        """What `docker compose up` starts: services in an optional profile (monitoring)
        only start when asked for."""
        services = self.compose["services"]
        return sorted(name for name in services if not services[name].get("profiles"))

    @property
    def networks(self) -> list[str]:
        return sorted(self.compose["networks"])

    def members(self, network: str) -> list[str]:
        return [s for s in self.services if network in self.compose["services"][s]["networks"]]

    @property
    def published(self) -> str:
        [service] = [s for s in self.services if self.compose["services"][s].get("ports")]
        return service

    def address(self, service: str, network: str) -> str:
        return self.addresses[(service, network)]

    @property
    def host_address(self) -> str:
        return f"{HOST_SUBNET}.1"

    @property
    def published_address(self) -> str:
        return f"{HOST_SUBNET}.2"

    # --- building ------------------------------------------------------------------------------

    def create(self) -> None:
        switch = self.ns("switch")
        for name in [*self.services, "switch", "host"]:
            ip("netns", "add", self.ns(name))
            self.namespaces.append(self.ns(name))
            ip("-n", self.ns(name), "link", "set", "lo", "up")
        link = 0
        for n, network in enumerate(self.networks):
            bridge = f"br{n}"
            ip("-n", switch, "link", "add", bridge, "type", "bridge")
            ip("-n", switch, "link", "set", bridge, "up")
            for s, service in enumerate(self.services):
                if service not in self.members(network):
                    continue
                link += 1
                inside = f"{network[:8]}0"
                ip("-n", switch, "link", "add", f"v{link}", "type", "veth", "peer", "name",
                   inside, "netns", self.ns(service))
                ip("-n", switch, "link", "set", f"v{link}", "master", bridge)
                ip("-n", switch, "link", "set", f"v{link}", "up")
                address = f"198.18.{10 + n}.{10 + s}"
                self.addresses[(service, network)] = address
                ip("-n", self.ns(service), "addr", "add", f"{address}/24", "dev", inside)
                ip("-n", self.ns(service), "link", "set", inside, "up")
        # The Docker host reaches only the service that publishes ports.
        ip("-n", self.ns("host"), "link", "add", "published", "type", "veth", "peer", "name",
           "published", "netns", self.ns(self.published))
        for name, address in (("host", self.host_address),
                              (self.published, self.published_address)):
            ip("-n", self.ns(name), "addr", "add", f"{address}/24", "dev", "published")
            ip("-n", self.ns(name), "link", "set", "published", "up")

    def destroy(self) -> None:
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        self.namespaces.clear()

    # --- the real services, configured as compose configures them -----------------------------

    def services_env(self, service: str) -> dict[str, str]:
        """What compose gives `service`, with this topology's addresses."""
        if service == "db":
            return service_env("db", self.state_dir, {})
        return service_env(service, self.state_dir, {
            "POSTGRES_HOST": self.address("db", "db"),
            "POSTGRES_PORT": "5432",
            "API_BIND": "0.0.0.0:8000",
            "FORWARDED_ALLOW_IPS": self.address("nginx", "front"),
            "DB_CONNECT_TIMEOUT_S": "2",
            "DB_STATEMENT_TIMEOUT_MS": "2000",
            "WEB_CONCURRENCY": "1",
        })

    def start_services(self) -> tuple[Postgres, Api, Nginx]:
        db = Postgres(self.state_dir, 5432, self.services_env("db"),
                      host=self.address("db", "db"), netns=self.ns("db"))
        api = Api(self.state_dir, 8000, self.services_env("api"), netns=self.ns("api"),
                  bind_host="0.0.0.0")
        nginx = Nginx(self.state_dir, 8080, 8443, 8000, listen_host="0.0.0.0",
                      api_host=self.address("api", "front"), netns=self.ns("nginx"))
        nginx.limits = unlimited()
        self.start_in_order(db, api, nginx)
        return db, api, nginx

    def start_in_order(self, db: Postgres, api: Api, nginx: Nginx) -> None:
        """compose's order: db, then the one-shot owner service (in a namespace of its own,
        on the db network only), then the api once it exited 0, then nginx."""
        db.start()
        Migrate(self.state_dir, self.services_env("migrate"), netns=self.ns("migrate")).run()
        api.start(wait=False)
        self.wait_for(self.ns("api"), "http", "127.0.0.1", 8000, "/readyz", timeout=90)
        nginx.start(wait=False)

    def restart(self, db: Postgres, api: Api, nginx: Nginx) -> None:
        """`docker compose restart`: everything stops, the volumes stay."""
        nginx.stop()
        api.stop()
        db.stop()
        self.start_in_order(db, api, nginx)

    def connect_command(self, from_service: str, host: str, port: int) -> str:
        """A shell command that exits 0 when `from_service` can open host:port."""
        code = "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)"
        return shlex.join(["ip", "netns", "exec", self.ns(from_service), sys.executable, "-c",
                           code, host, str(port)])

    # --- probes from inside a namespace ---------------------------------------------------------

    def probe(self, netns: str, *args: str, timeout: float = 60) -> dict[str, Any]:
        result = in_ns(netns, sys.executable, str(PROBE), *args, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"probe failed: {result.stderr}")
        parsed: dict[str, Any] = json.loads(result.stdout)
        return parsed

    def can_connect(self, from_service: str, host: str, port: int) -> bool:
        return bool(self.probe(self.ns(from_service), "connect", host, str(port))["connected"])

    def connect_outcome(self, netns: str, host: str, port: int) -> str:
        """"connected", or the reason there was no connection (ENETUNREACH, ...)."""
        result = self.probe(netns, "connect", host, str(port))
        return "connected" if result["connected"] else str(result["reason"])

    def wait_for(self, netns: str, scheme: str, host: str, port: int, path: str,
                 timeout: float) -> None:
        result = self.probe(netns, "wait", scheme, host, str(port), path, str(timeout),
                            str(self.state_dir / "certs" / "fullchain.pem"),
                            timeout=timeout + 10)
        if not result["ok"]:
            raise RuntimeError(f"{scheme}://{host}:{port}{path} not ready: {result}")
