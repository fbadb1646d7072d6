"""The edge as users' tools expect it, and what each process of the api holds."""

import concurrent.futures
import socket
from pathlib import Path

import httpx

from app.core.settings import Settings
from local.twin import Stack, process_tree
from tests.support.clients import https_client
from tests.unit.test_container_runtime import api_threads_per_worker


def test_http_redirects_to_the_configured_name_whatever_the_host_header(stack: Stack) -> None:
    with httpx.Client(timeout=10) as client:
        ours = client.get(f"{stack.http_url}/accuracy?x=1")
        forged = client.get(f"{stack.http_url}/accuracy", headers={"Host": "evil.example"})
    assert ours.status_code == 308
    assert ours.headers["location"] == f"https://localhost:{stack.ports.https}/accuracy?x=1"
    assert forged.status_code == 421 and "location" not in forged.headers


def test_an_unknown_host_over_https_is_refused(stack: Stack) -> None:
    with https_client(stack, timeout=10) as client:
        response = client.get("/accuracy", headers={"Host": "evil.example"})
    assert response.status_code == 421
    assert response.json() == {"detail": "This server does not serve that host name."}


def test_head_answers_like_get_without_a_body(https: httpx.Client) -> None:
    for path in ("/accuracy", "/model", "/healthz", "/readyz", "/", "/openapi.json"):
        get, head = https.get(path), https.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
    assert https.head("/predict").status_code == 405  # a POST route stays POST-only


def test_https_speaks_http2(stack: Stack) -> None:
    context = stack.nginx.ssl_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", stack.ports.https), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "h2"


def test_acme_challenges_are_served_on_port_80(stack: Stack) -> None:
    folder = stack.nginx.prefix / "acme" / ".well-known" / "acme-challenge"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token-123").write_text("token-123.key-thumbprint")
    (folder / "token-123").chmod(0o644)
    with httpx.Client(timeout=10) as client:
        found = client.get(f"{stack.http_url}/.well-known/acme-challenge/token-123")
        missing = client.get(f"{stack.http_url}/.well-known/acme-challenge/nothing")
    assert found.status_code == 200 and found.text == "token-123.key-thumbprint"
    assert missing.status_code == 404


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().partition("=")[::2] for entry in raw if b"=" in entry)


def test_the_api_processes_hold_no_owner_or_superuser_secret(stack: Stack) -> None:
    secrets = {stack.env["POSTGRES_PASSWORD"], stack.env["DB_OWNER_PASSWORD"]}
    pids = [pid for root in stack.api.pids() for pid in process_tree(root)]
    assert len(pids) >= 2  # the gunicorn master and its workers
    for pid in pids:
        environment = environment_of(pid)
        assert not {"POSTGRES_PASSWORD", "DB_OWNER_PASSWORD", "DB_OWNER_USER"} & set(environment)
        assert not secrets & set(environment.values())
        assert environment["APP_DB_PASSWORD"] == stack.env["APP_DB_PASSWORD"]


def thread_count(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def test_each_worker_stays_within_the_thread_count_pids_limit_assumes(
    stack: Stack, https: httpx.Client
) -> None:
    """Sync routes under concurrency fill anyio's pool; it must stop at API_THREADS."""
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda _: https.get("/accuracy"), range(200)))
    settings_threads = api_threads_per_worker(_settings(stack))
    master = stack.api.pid()
    assert master is not None
    workers = [pid for pid in process_tree(master) if pid != master]
    counts = [thread_count(pid) for pid in workers]
    print(f"\nthreads per worker after 200 concurrent sync requests: {counts} "
          f"(bound {settings_threads})")
    assert counts and max(counts) <= settings_threads


def _settings(stack: Stack) -> Settings:
    env = stack.service_env("api")
    return Settings.model_validate({key.lower(): value for key, value in env.items()})
