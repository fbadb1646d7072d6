"""What the engine tier needs beside Debian's docker.io, made from Debian's packages and PyPI
and cached between runs (a second run downloads and bootstraps nothing):

- Compose v2: Debian's `docker-compose` package of a newer suite, fetched with a private apt
  state (the machine's own apt state is not touched) and unpacked into a cli-plugins folder;
- the stand-in base images, tagged with the exact names the Dockerfiles and compose use (read
  from those files): a root filesystem per image from mmdebstrap (a tar file, cached, keyed by
  its suite, packages and hooks), imported, plus a small Dockerfile of ours
  (tests/engine/standins/NAME/) with its entrypoint;
- an offline wheelhouse of api/requirements.txt and the api package's build backend, for the
  python stand-in (PIP_NO_INDEX, PIP_FIND_LINKS).

The cache is ~/.cache/social-ads-engine (SOCIAL_ADS_ENGINE_CACHE to move it), outside the clone.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "standins"
CACHE = Path(os.environ.get("SOCIAL_ADS_ENGINE_CACHE",
                            Path.home() / ".cache" / "social-ads-engine"))
# Compose v2 from Debian: trixie's 2.26 (`up --wait`, `--scale`, the classic builder).
COMPOSE_SUITE = "trixie"
COMPOSE_PACKAGE = "docker-compose"
# Smaller root filesystems: no documentation, manual pages or translations.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*",
                 "/usr/share/locale/*", "/usr/share/lintian/*")


def _user(name: str, uid: int, home: str, shell: str) -> str:
    """An essential-hook adding a system user and group before any package is installed, so
    they get the official image's ids (a package's postinst then finds them)."""
    return (f'echo "{name}:x:{uid}:{uid}::{home}:{shell}" >> "$1/etc/passwd" && '
            f'echo "{name}:x:{uid}:" >> "$1/etc/group"')


@dataclass(frozen=True)
class Rootfs:
    """One stand-in: the image name's repository, its root filesystem and its context."""

    repository: str  # python, postgres, nginx: the part of the tag before ':'
    suite: str
    packages: tuple[str, ...]
    essential_hooks: tuple[str, ...] = ()
    customize_hooks: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        text = repr((self.suite, self.packages, self.essential_hooks, self.customize_hooks,
                     DPKG_EXCLUDES))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def tarball(self) -> Path:
        return CACHE / "rootfs" / f"{self.repository}-{self.suite}-{self.key}.tar"

    @property
    def imported(self) -> str:
        return f"social-ads-engine/rootfs-{self.repository}:{self.key}"

    @property
    def context(self) -> Path:
        return HERE / self.repository


STANDINS = {
    "python": Rootfs("python", "bookworm", ("python3", "python3-venv", "python-is-python3")),
    "postgres": Rootfs(
        "postgres", "bookworm", ("postgresql-15",),
        essential_hooks=(_user("postgres", 999, "/var/lib/postgresql", "/bin/bash"),),
        customize_hooks=(
            # No cluster of Debian's own: the entrypoint makes one in PGDATA.
            'rm -rf "$1/etc/postgresql/15/main" "$1/var/lib/postgresql/15"',
            # Inside the chroot: /var/run is a symlink to /run.
            'chroot "$1" install -d -o 999 -g 999 -m 1777 /var/lib/postgresql/data',
            'chroot "$1" install -d -o 999 -g 999 -m 3777 /var/run/postgresql',
            'chroot "$1" install -d /docker-entrypoint-initdb.d',
        )),
    "nginx": Rootfs(
        # sid: `resolve` on upstream servers needs nginx >= 1.27.3 (trixie has 1.26).
        "nginx", "sid", ("nginx", "gettext-base", "busybox", "openssl"),
        essential_hooks=(_user("nginx", 101, "/nonexistent", "/bin/false"),),
        customize_hooks=(
            'chroot "$1" ln -sf /dev/stdout /var/log/nginx/access.log',
            'chroot "$1" ln -sf /dev/stderr /var/log/nginx/error.log',
            'chroot "$1" install -d -o 101 -g 101 /var/cache/nginx',
            'chroot "$1" install -d /docker-entrypoint.d /etc/nginx/templates '
            '/usr/share/nginx/html',
            'rm -f "$1/etc/nginx/sites-enabled/default"',
            # The image's busybox applets the compose healthcheck and the tests use.
            'ln -s /bin/busybox "$1/usr/local/bin/wget"',
            'ln -s /bin/busybox "$1/usr/local/bin/nc"',
        )),
    "prometheus": Rootfs(
        # bookworm's Prometheus 2.42 (the image is 2.55: the same configuration and rule
        # format, the same HTTP API); busybox for the compose healthcheck's wget, as the
        # image's busybox base has it. `nobody` (65534) comes with base-passwd.
        "prometheus", "bookworm", ("prometheus", "busybox"),
        customize_hooks=(
            'ln -s /bin/busybox "$1/usr/local/bin/wget"',
            # Time zone data of the web UI's JavaScript (about 250 MB); the HTTP API and the
            # tests never use it.
            'rm -rf "$1/usr/share/javascript/moment-timezone/data/unpacked"',
        )),
}


class PrepareError(RuntimeError):
    pass


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise PrepareError(f"{' '.join(command[:6])} ... exited {result.returncode}\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result  # type: ignore[no-any-return]


# --- the names the project uses ------------------------------------------------------------

def base_images() -> dict[str, list[str]]:
    """Every image the Dockerfiles build FROM or compose runs as it is, by stand-in:
    {"python": ["python:3.11.11-slim-bookworm", "python:3.11.11-alpine3.21"],
    "prometheus": ["prom/prometheus:v2.55.1"], ...}; each stand-in gets every one of its tags
    (a fresh engine has no other image to build from)."""
    names = []
    for dockerfile in (ROOT / "api" / "Dockerfile", ROOT / "nginx" / "Dockerfile"):
        names += re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    # Profiles' services too (prometheus, `--profile monitoring`): the tier runs them.
    names += [service["image"] for service in compose["services"].values()
              if "build" not in service and not service["image"].startswith("social-ads-")]
    images: dict[str, list[str]] = {}
    for name in names:
        # By the repository's last part: prom/prometheus's stand-in is `prometheus`.
        tags = images.setdefault(name.split(":")[0].rsplit("/", 1)[-1], [])
        if name not in tags:
            tags.append(name)
    unknown = sorted(set(images) - set(STANDINS))
    if unknown:
        raise PrepareError(f"no stand-in for {', '.join(images[u][0] for u in unknown)}: add "
                           "one to tests/engine/standins.py")
    return images


# --- Debian ---------------------------------------------------------------------------------

def debian_mirror() -> str:
    """The machine's own Debian mirror (its apt sources), e.g. http://deb.debian.org/debian."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for source in sources:
        if not source.is_file():
            continue
        for line in source.read_text().splitlines():
            match = (re.match(r"\s*URIs:\s*(\S+)", line)
                     or re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", line))
            if match and match.group(1).rstrip("/").endswith("/debian"):
                return match.group(1).rstrip("/")
    raise PrepareError("no Debian mirror in /etc/apt/sources.list*")


def private_apt(suite: str) -> list[str]:
    """apt options for a state of our own (lists, cache) on one suite of the mirror."""
    state = CACHE / f"apt-{suite}"
    for folder in (state / "lists" / "partial", state / "archives" / "partial"):
        folder.mkdir(parents=True, exist_ok=True)
    sources = state / "sources.list"
    sources.write_text(f"deb {debian_mirror()} {suite} main\n")
    return ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=-",
            "-o", f"Dir::State={state}", "-o", f"Dir::State::Lists={state / 'lists'}",
            "-o", f"Dir::Cache={state}", "-o", f"Dir::Cache::Archives={state / 'archives'}",
            "-o", "Dir::State::status=/dev/null", "-o", "Acquire::Check-Valid-Until=false",
            "-o", "APT::Sandbox::User=root", "-o", "Debug::NoLocking=1"]


def compose_plugin() -> Path:
    """The folder holding the docker-compose CLI plugin (downloaded once)."""
    folder = CACHE / "compose"
    binary = folder / "docker-compose"
    if binary.exists():
        return folder
    options = private_apt(COMPOSE_SUITE)
    run(["apt-get", *options, "update", "-q"])
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        run(["apt-get", *options, "download", COMPOSE_PACKAGE], cwd=work)
        [deb] = Path(work).glob("*.deb")
        run(["dpkg-deb", "-x", str(deb), f"{work}/x"])
        [found] = Path(f"{work}/x").glob("usr/libexec/docker/cli-plugins/docker-compose")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(found, f"{binary}.partial")
        os.replace(f"{binary}.partial", binary)
    return folder


def build_rootfs(rootfs: Rootfs) -> Path:
    if rootfs.tarball.exists():
        return rootfs.tarball
    rootfs.tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = rootfs.tarball.with_suffix(".partial.tar")
    command = ["mmdebstrap", "--variant=minbase", "--quiet", "--mode=root",
               f"--include={','.join(rootfs.packages)}",
               "--aptopt=Acquire::Check-Valid-Until \"false\"",
               *[f"--dpkgopt=path-exclude={path}" for path in DPKG_EXCLUDES],
               *[f"--essential-hook={hook}" for hook in rootfs.essential_hooks],
               *[f"--customize-hook={hook}" for hook in rootfs.customize_hooks],
               rootfs.suite, str(partial), f"deb {debian_mirror()} {rootfs.suite} main"]
    try:
        run(command)
    finally:
        if not partial.exists() or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
    os.replace(partial, rootfs.tarball)
    return rootfs.tarball


def build_requirements() -> list[str]:
    pyproject = tomllib.loads((ROOT / "api" / "pyproject.toml").read_text())
    return list(pyproject["build-system"]["requires"])


def wheelhouse() -> Path:
    """Every wheel api/Dockerfile installs (its requirements and the build backend)."""
    requirements = (ROOT / "api" / "requirements.txt").read_text()
    key = hashlib.sha256(repr((requirements, build_requirements())).encode()).hexdigest()[:12]
    folder = CACHE / "wheelhouse" / key
    if folder.exists():
        return folder
    partial = folder.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # The image's Python is Debian 12's 3.11 on x86_64, like this one: the same wheels.
    run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
         "--dest", str(partial), "-r", str(ROOT / "api" / "requirements.txt"),
         *build_requirements()], env={**os.environ, "PIP_CONSTRAINT": ""})
    os.replace(partial, folder)
    return folder


def prepare_files() -> tuple[Path, dict[str, Path], Path]:
    """Compose, the root filesystems and the wheelhouse, in parallel; each from the cache when
    it is there."""
    images = base_images()
    with ThreadPoolExecutor(max_workers=6) as pool:
        plugin = pool.submit(compose_plugin)
        tarballs = {repo: pool.submit(build_rootfs, STANDINS[repo]) for repo in images}
        wheels = pool.submit(wheelhouse)
        return plugin.result(), {r: f.result() for r, f in tarballs.items()}, wheels.result()


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


# --- images --------------------------------------------------------------------------------

Docker = Callable[..., subprocess.CompletedProcess[str]]


def standin_key(rootfs: Rootfs, wheels: Path) -> str:
    """What a stand-in image is made of: its root filesystem, its context's files, and for
    python the wheelhouse. An image labelled with the same key is not built again."""
    digest = hashlib.sha256(rootfs.key.encode())
    for path in sorted(rootfs.context.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(rootfs.context)}:{path.stat().st_mode}".encode())
            digest.update(path.read_bytes())
    if rootfs.repository == "python":
        digest.update(wheels.name.encode())
    return digest.hexdigest()[:16]


LABEL = "social-ads-engine.standin"


def build_images(docker: Docker, tarballs: dict[str, Path], wheels: Path) -> list[str]:
    """Imports each root filesystem and builds its stand-in, tagged with the project's name
    for it, unless the engine already holds it (same key). Returns the tags it built."""
    built = []
    for repository, tags in base_images().items():
        rootfs = STANDINS[repository]
        key = standin_key(rootfs, wheels)
        if all(held_key(docker, tag) == key for tag in tags):
            continue
        if docker("image", "inspect", rootfs.imported, check=False).returncode != 0:
            docker("import", str(tarballs[repository]), rootfs.imported, timeout=600)
        with tempfile.TemporaryDirectory(prefix="sa-standin-") as context:
            shutil.copytree(rootfs.context, context, dirs_exist_ok=True)
            if repository == "python":
                shutil.copytree(wheels, Path(context) / "wheelhouse", copy_function=link_or_copy)
            docker("build", "--quiet", "--network=none", "--build-arg",
                   f"ROOTFS={rootfs.imported}", "--label", f"{LABEL}={key}",
                   *[option for tag in tags for option in ("--tag", tag)], context, timeout=600)
        built += tags
    return built


def held_key(docker: Docker, tag: str) -> str | None:
    """The stand-in key of the image the engine holds under this tag (None: no such image)."""
    held = docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}',
                  tag, check=False)
    return held.stdout.strip() if held.returncode == 0 else None
