"""The edge as users' tools expect it, and what each process of the api holds."""

import concurrent.futures
import json
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.settings import Settings
from local.twin import Nginx, Stack, free_port, process_tree
from tests.support.auth import bearer
from tests.support.clients import https_client
from tests.support.servers import make_state_dir
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


SECURITY_HEADERS = ("strict-transport-security", "x-content-type-options", "x-frame-options",
                    "referrer-policy", "permissions-policy", "content-security-policy",
                    "x-request-id")
PUBLIC_NAME = "ads.example.org"


@pytest.fixture(scope="module")
def public_edge(stack: Stack) -> Iterator[Nginx]:
    """nginx from the same template as an install whose public name is not a loopback one
    (NGINX_SERVER_NAME=ads.example.org), in front of the twin's API."""
    proxy = Nginx(make_state_dir("public-edge"), free_port(), free_port(),
                  api_port=stack.ports.api, server_name=PUBLIC_NAME)
    proxy.start(wait=False)
    try:
        yield proxy
    finally:
        proxy.stop()
        shutil.rmtree(proxy.state_dir, ignore_errors=True)


def exchange(port: int, request: bytes, tls: bool = True,
             sni: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request as raw bytes (nothing checks or fixes it on the way); the answer's status,
    headers (lower-case names) and body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=sni)
    with sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def get(host: str, path: str = "/healthz") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def test_the_loopback_names_are_served_whatever_the_public_name(public_edge: Nginx) -> None:
    """https://127.0.0.1/ and https://[::1]/ (no SNI, the address as Host) and
    https://localhost/ are answered on an install named ads.example.org; plain HTTP on them
    redirects to the public name."""
    port = public_edge.https_port
    answers = {host: exchange(port, get(host))[0]
               for host in (PUBLIC_NAME, f"127.0.0.1:{port}", f"[::1]:{port}", "127.0.0.1",
                            "[::1]", f"localhost:{port}", "evil.example", "127.0.0.2",
                            "[::2]")}
    print(f"\nstatus per Host on an install named {PUBLIC_NAME}: {answers}")
    assert answers == {PUBLIC_NAME: 200, f"127.0.0.1:{port}": 200, f"[::1]:{port}": 200,
                       "127.0.0.1": 200, "[::1]": 200, f"localhost:{port}": 200,
                       "evil.example": 421, "127.0.0.2": 421, "[::2]": 421}
    for host in ("127.0.0.1", "[::1]", "localhost", PUBLIC_NAME):
        status, headers, _ = exchange(public_edge.http_port, get(host, "/accuracy?x=1"),
                                      tls=False)
        assert (status, headers["location"]) == (
            308, f"https://{PUBLIC_NAME}:{port}/accuracy?x=1"), host
    # The self-signed certificate is valid for each loopback name (verification on).
    for name in ("localhost", "127.0.0.1", "::1"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                public_edge.ssl_context().wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def nginx_own_errors(stack: Stack) -> dict[str, tuple[int, dict[str, str], bytes]]:
    https, http = stack.ports.https, stack.ports.http
    host = b"Host: localhost\r\nConnection: close\r\n"
    return {
        "421 on 443": exchange(https, get("evil.example")),
        "421 on 80": exchange(http, get("evil.example"), tls=False),
        "400 bad request line": exchange(https, b"GET /\x01 HTTP/1.1\r\n" + host + b"\r\n"),
        "400 two Host headers": exchange(https, b"GET / HTTP/1.1\r\n" + host + host + b"\r\n"),
        "400 header too large": exchange(https, b"GET / HTTP/1.1\r\n" + host + b"X-Big: "
                                         + b"b" * 9_216 + b"\r\n\r\n"),
        "400 plain HTTP to 443": exchange(https, get("localhost"), tls=False),
        "400 on 80": exchange(http, b"GET /\x01 HTTP/1.1\r\n" + host + b"\r\n", tls=False),
        "404": exchange(https, get("localhost", "/nowhere")),
        "405": exchange(https, b"POST /index.html HTTP/1.1\r\n" + host
                        + b"Content-Length: 0\r\n\r\n"),
        "413": exchange(https, b"POST /predict HTTP/1.1\r\n" + host
                        + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"),
        "414": exchange(https, get("localhost", "/" + "a" * 9_216)),
    }


def test_nginx_own_errors_are_json_with_the_security_headers(stack: Stack) -> None:
    """Every answer nginx makes itself (unknown host, bad requests, limits, missing pages) is
    JSON as the API's are, with every security header (429 and 502: test_through_nginx)."""
    answers = nginx_own_errors(stack)
    summary = {name: (status, headers.get("content-type"),
                      [h for h in SECURITY_HEADERS if h not in headers])
               for name, (status, headers, _) in answers.items()}
    print(f"\nnginx's own answers: (status, content type, missing headers): {summary}")
    for name, (status, headers, body) in answers.items():
        assert status == int(name[:3]), (name, status)
        assert headers.get("content-type") == "application/json", (name, headers)
        assert set(json.loads(body)) == {"detail"}, (name, body)
        assert [h for h in SECURITY_HEADERS if h not in headers] == [], (name, headers)
        assert headers.get("x-request-id"), (name, headers)  # nginx's own id for its answer
    assert answers["405"][1]["allow"] == "GET, HEAD"


def test_a_header_line_just_under_8_kib_is_read(stack: Stack) -> None:
    """The other side of the 400 for a header line over 8 KiB (nginx_own_errors sends 9 KiB):
    a line of 8,000 bytes is read and answered."""
    host = b"Host: localhost\r\nConnection: close\r\n"
    big = b"X-Big: " + b"b" * (8_000 - len(b"X-Big: ")) + b"\r\n"
    status, _, _ = exchange(stack.ports.https, b"GET /healthz HTTP/1.1\r\n" + host + big + b"\r\n")
    assert status == 200


def test_a_token_in_the_query_string_reaches_no_access_log_line(stack: Stack) -> None:
    """A client that puts the API token in the URL (as some tools do): neither nginx's access
    log nor the app's holds it; the requests themselves are logged."""
    token = stack.env["API_TOKEN"]
    ids = [f"query-token-{n:04d}" for n in range(4)]
    with httpx.Client(base_url=stack.https_url, verify=stack.nginx.ssl_context(),
                      timeout=10) as client:
        sent = [
            client.get(f"/predictions?limit=1&token={token}",
                       headers={"X-Request-ID": ids[0], **bearer(token)}),
            client.get(f"/accuracy?access_token={token}", headers={"X-Request-ID": ids[1]}),
            client.post(f"/predict?api_key={token}", json={"age": 30, "salary": 1},
                        headers={"X-Request-ID": ids[2]}),
            client.get(f"/nowhere?token={token}", headers={"X-Request-ID": ids[3]}),
        ]
    assert [r.status_code for r in sent] == [200, 200, 200, 404]
    logs = {"nginx": stack.nginx.prefix / "access.log", "app": stack.api.log_file(1)}
    deadline = time.monotonic() + 5
    while True:  # each line is written once its request is done
        texts = {name: path.read_text(errors="replace") for name, path in logs.items()}
        logged = {name: sum(request_id in text for request_id in ids)
                  for name, text in texts.items()}
        if logged == {"nginx": 4, "app": 3} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print(f"\nrequests carrying the token in their query string, logged: {logged}")
    assert logged == {"nginx": 4, "app": 3}  # the 404 never reaches the app
    assert [name for name, text in texts.items() if token in text] == []


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
