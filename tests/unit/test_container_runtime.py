"""Rules that encode how a container runtime really runs our images, so this class of bug
cannot come back (each one broke or could break a real Docker host while the twin passed):

- a `tmpfs:` mount is root's, with the image folder's mode, whatever the Dockerfile chowned:
  every folder a non-root service writes under `read_only` must be a volume, or a tmpfs it
  can write (`uid=` of its user, or mode 1777);
- libraries size thread pools by the HOST's cpus (OpenBLAS at import, anyio per process,
  nginx's `worker_processes auto`): each must be pinned, and `pids_limit` must cover the
  computed worst case with room to spare.
"""

import re
from pathlib import Path
from typing import Any

import pytest

from app.core.settings import Settings
from local.twin import compose as twin_compose
from tests.support.paths import ROOT

# Who each service runs as inside its container (Dockerfile USER, or the postgres image's).
SERVICE_UID = {"nginx": 101, "api": 10001, "migrate": 10001, "db": 999}
NGINX_CONF = ROOT / "nginx" / "nginx.conf"
GUNICORN_CONF = ROOT / "api" / "gunicorn.conf.py"
API_DOCKERFILE = ROOT / "api" / "Dockerfile"
# What runs in a container besides the service's own processes, at worst at one moment:
# the healthcheck (a shell and its command) and an operator's `docker compose exec` shell.
HEALTHCHECK_AND_EXEC = 3
# pids_limit must be at least this many times the computed worst case.
HEADROOM = 2


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def tmpfs_mounts(service: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{path: {option: value}} from compose's short tmpfs syntax ("/tmp:uid=101,mode=0700")."""
    mounts: dict[str, dict[str, str]] = {}
    for entry in service.get("tmpfs", []):
        path, _, options = entry.partition(":")
        mounts[path] = dict(o.partition("=")[::2] for o in options.split(",") if o)
    return mounts


def volume_targets(service: dict[str, Any]) -> set[str]:
    return {volume.split(":")[1] for volume in service.get("volumes", [])}


def nginx_written_folders(environment: dict[str, str]) -> set[str]:
    """Where nginx (as uid 101) writes: its pid and temp files (nginx.conf), the rendered
    configuration (the entrypoint's envsubst output) and the certificate the entrypoint
    creates."""
    conf = NGINX_CONF.read_text()
    files = re.findall(r"^\s*(?:pid|\w+_temp_path)\s+(\S+);", conf, flags=re.M)
    folders = {str(Path(f).parent) for f in files}
    return folders | {"/etc/nginx/conf.d", environment["NGINX_CERT_DIR"]}


def written_folders(name: str, service: dict[str, Any]) -> set[str]:
    if name == "nginx":
        return nginx_written_folders(service["environment"])
    if name in {"api", "migrate"}:
        return {"/tmp"}  # Python's tempfile; nothing else (no control socket, no bytecode)
    return {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"}


def writable_by(service_uid: int, options: dict[str, str]) -> bool:
    mode = int(options.get("mode", "0755"), 8)
    owned = options.get("uid") == str(service_uid)
    return (owned and mode & 0o700 == 0o700) or mode & 0o1777 == 0o1777


@pytest.mark.parametrize("name", sorted(SERVICE_UID))
def test_every_folder_a_service_writes_is_writable_under_read_only(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["read_only"] is True
    tmpfs, volumes = tmpfs_mounts(service), volume_targets(service)
    for folder in written_folders(name, service):
        if folder in volumes:
            continue
        assert folder in tmpfs, f"{name} writes {folder}: neither a volume nor a tmpfs"
        assert writable_by(SERVICE_UID[name], tmpfs[folder]), (
            f"{name}: tmpfs {folder} would be root's: give it uid={SERVICE_UID[name]} "
            "or mode=1777"
        )


def test_no_tmpfs_relies_on_the_image_folders_owner(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for folder, options in tmpfs_mounts(service).items():
            assert "uid" in options or options.get("mode", "").endswith("777"), (name, folder)


def test_numeric_libraries_use_one_thread() -> None:
    """OpenBLAS starts a thread per HOST cpu at `import numpy`, in every worker."""
    dockerfile = API_DOCKERFILE.read_text()
    final_stage = dockerfile[dockerfile.rindex("\nFROM "):]
    for variable in ("OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1"):
        assert variable in final_stage


def test_the_api_thread_pool_is_pinned() -> None:
    """anyio's default is 40 threads per process, whatever pids_limit says."""
    main = (ROOT / "api" / "app" / "web" / "main.py").read_text()
    assert "current_default_thread_limiter().total_tokens = settings.api_threads" in main


def test_nginx_process_count_is_fixed() -> None:
    match = re.search(r"^worker_processes\s+(\S+);", NGINX_CONF.read_text(), flags=re.M)
    assert match, "worker_processes must be set"
    assert match[1] != "auto", "worker_processes auto counts the host's cpus"
    assert match[1] == "2", "docs/deployment.md and pids_limit's arithmetic say 2 workers"


def nginx_worst_case() -> int:
    match = re.search(r"^worker_processes\s+(\d+);", NGINX_CONF.read_text(), flags=re.M)
    assert match
    return 1 + int(match[1]) + HEALTHCHECK_AND_EXEC


def example_settings() -> Settings:
    values = {**twin_compose.read_env_file(ROOT / ".env.example"),
              **twin_compose.read_env_file(ROOT / ".env_db_app.example"), "APP_ENV": "development"}
    return Settings.model_validate({k.lower(): v for k, v in values.items()})


def api_threads_per_worker(settings: Settings) -> int:
    """The event loop's thread, the sync-route pool, and three more: seen two under load
    (uvloop's and the pool's own helpers), and one to spare."""
    return 1 + settings.api_threads + 3


def api_worst_case() -> int:
    settings = example_settings()
    workers = int(twin_compose.read_env_file(ROOT / ".env.example")["WEB_CONCURRENCY"])
    return workers * api_threads_per_worker(settings) + 1 + HEALTHCHECK_AND_EXEC


# PostgreSQL forks a process per connection: its default max_connections, plus the
# checkpointer, background writer, WAL writer, autovacuum launcher and 3 workers, the logical
# replication launcher and a parallel worker or two.
POSTGRES_MAX_CONNECTIONS = 100
POSTGRES_BACKGROUND_PROCESSES = 10


def test_pids_limits_cover_the_worst_case_with_headroom(services: dict[str, Any]) -> None:
    db_options = " ".join(services["db"].get("command", []))
    assert "max_connections" not in db_options, "max_connections changed: update the arithmetic"
    db_worst = POSTGRES_MAX_CONNECTIONS + POSTGRES_BACKGROUND_PROCESSES + HEALTHCHECK_AND_EXEC
    assert services["db"]["pids_limit"] >= HEADROOM * db_worst
    assert services["nginx"]["pids_limit"] >= HEADROOM * nginx_worst_case()
    assert services["api"]["pids_limit"] >= HEADROOM * api_worst_case()
    # migrate: one python process; OpenBLAS pinned; sklearn's training is single-threaded.
    assert services["migrate"]["pids_limit"] >= HEADROOM * (1 + 2 + HEALTHCHECK_AND_EXEC)


def test_gunicorn_writes_nothing_outside_tmp_and_has_no_dead_settings() -> None:
    conf = GUNICORN_CONF.read_text()
    assert "control_socket_disable = True" in conf  # else $HOME/.gunicorn: read-only
    # limit_request_* only bind gunicorn's own parser; the uvicorn worker never uses it.
    assert not re.search(r"^limit_request_\w+\s*=", conf, flags=re.M)
    assert "large_client_header_buffers" in (ROOT / "nginx/templates/default.conf.template"
                                             ).read_text()


def test_nginx_drops_idle_upstream_connections_before_uvicorn_does() -> None:
    template = (ROOT / "nginx/templates/default.conf.template").read_text()
    upstream = template[template.index("upstream api {"):]
    nginx_idle = re.search(r"keepalive_timeout (\d+)s;", upstream[:upstream.index("\n}")])
    uvicorn_idle = re.search(r"^keepalive = (\d+)", GUNICORN_CONF.read_text(), flags=re.M)
    assert nginx_idle and uvicorn_idle
    assert int(nginx_idle[1]) < int(uvicorn_idle[1])
