"""Abuse through nginx: generated cases from the OpenAPI spec, hostile inputs, slow clients,
bursts; and the TLS configuration checked by sslyze against Mozilla's intermediate profile."""

import concurrent.futures
import datetime
import ipaddress
import json
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from local.twin import Nginx, Stack, free_port
from tests.faults import hostile_traffic
from tests.support.clients import https_client
from tests.support.servers import make_state_dir

SECURITY_HEADERS = ("strict-transport-security", "x-content-type-options", "x-frame-options",
                    "referrer-policy", "permissions-policy", "content-security-policy")


def predictions_logged(stack: Stack) -> int:
    return int(stack.postgres.psql("SELECT count(*) FROM predictions"))


# --- schemathesis -----------------------------------------------------------------------------


def test_generated_cases_never_get_a_5xx(fault_stack: Stack) -> None:
    """schemathesis (its CLI: its pytest plugin lags behind pytest) against the spec nginx
    serves, every check on: no 5xx, status codes, content types and bodies as documented."""
    report = fault_stack.state_dir / "schemathesis.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run",
         f"{fault_stack.https_url}/openapi.json",
         f"--tls-verify={fault_stack.nginx.cert_dir / 'fullchain.pem'}",
         "--max-examples=300", "--generation-deterministic", "--checks=all",
         "--request-timeout=20", "--report=json", f"--report-json-path={report}"],
        capture_output=True, text=True, check=False, timeout=600,
    )
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    print(f"\nschemathesis: {cases['generated']} generated cases over "
          f"{summary['operations']['tested']} operations, "
          f"{cases['with_failures']} with failures, {cases['errored']} errored")
    assert result.returncode == 0, result.stdout[-4000:]
    assert summary["failures"] == [] and summary["errors"] == []
    assert cases["generated"] >= 1000
    assert summary["operations"]["tested"] == summary["operations"]["total"]


# --- hostile inputs ---------------------------------------------------------------------------

NUMBERS = ["NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e309", "9" * 400,
           "-1", "121", "10000001", "1e7000", "0x1F", "01", "+5", ".5", "5.", "1_000"]
TYPES = ['"30"', "true", "false", "null", "[]", "[30]", "{}", '{"v": 30}', '""', '"NaN"']


def hostile_inputs() -> list[tuple[str, dict[str, str], bytes]]:
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, str], bytes]] = []
    for number in NUMBERS:
        cases.append((f"age={number}", json_type, f'{{"age": {number}, "salary": 1}}'.encode()))
    for value in TYPES:
        cases.append((f"salary={value}", json_type, f'{{"age": 30, "salary": {value}}}'.encode()))
    cases += [
        ("duplicate age", json_type, b'{"age": 30, "age": 31, "salary": 1}'),
        ("duplicate salary", json_type, b'{"age": 30, "salary": 1, "salary": 2}'),
        ("extra field", json_type, b'{"age": 30, "salary": 1, "admin": true}'),
        ("1 MB string", json_type, b'{"age": "' + b"9" * 1_000_000 + b'", "salary": 1}'),
        ("1 MB key", json_type, b'{"' + b"a" * 1_000_000 + b'": 1}'),
        ("deep nesting", json_type, b"[" * 5000 + b"]" * 5000),
        ("empty body", json_type, b""),
        ("not JSON", json_type, b"age=30&salary=1"),
        ("truncated", json_type, b'{"age": 30, "sal'),
        ("array body", json_type, b"[30, 87000]"),
        ("null body", json_type, b"null"),
        ("invalid UTF-8", json_type, b'{"age": 30, "salary": 1, "\xc3\x28": 1}'),
        ("NUL bytes", json_type, b'{"age": 30,\x00 "salary": 1}'),
        ("batch of 10,001", json_type,
         json.dumps({"rows": [{"age": 1, "salary": 1}] * 10_001}).encode()),
        ("batch rows not a list", json_type, b'{"rows": {"age": 1, "salary": 1}}'),
        ("batch row NaN", json_type, b'{"rows": [{"age": NaN, "salary": 1}]}'),
        ("batch empty", json_type, b'{"rows": []}'),
        ("UTF-8 BOM", json_type, b'\xef\xbb\xbf{"age": 30, "salary": 1}'),
        ("UTF-16", json_type, '{"age": 30, "salary": 1}'.encode("utf-16")),
        ("escaped NUL key", json_type, b'{"age": 30, "salary": 1, "\\u0000": 1}'),
        ("batch with one bad row", json_type,
         json.dumps({"rows": [{"age": 1, "salary": 1}, {"age": -1, "salary": 1}]}).encode()),
        ("text/plain", {"Content-Type": "text/plain"}, b'{"age": 30, "salary": 1}'),
        ("form", {"Content-Type": "application/x-www-form-urlencoded"}, b"age=30&salary=1"),
        ("xml", {"Content-Type": "application/xml"}, b"<age>30</age>"),
        ("no content type", {}, b'{"age": 30, "salary": 1}'),
        ("multipart", {"Content-Type": "multipart/form-data; boundary=x"},
         b'--x\r\nContent-Disposition: form-data; name="age"\r\n\r\n30\r\n--x--\r\n'),
        ("json charset latin1", {"Content-Type": "application/json; charset=latin-1"},
         '{"age": 30, "salary": 1, "ä": 1}'.encode("latin-1")),
    ]
    return cases


HOSTILE = hostile_inputs()


def test_there_are_at_least_fifty_hostile_inputs() -> None:
    assert len(HOSTILE) >= 50


def test_hostile_inputs_get_4xx_and_log_nothing(fault_stack: Stack) -> None:
    before = predictions_logged(fault_stack)
    statuses: Counter[int] = Counter()
    with https_client(fault_stack) as client:
        for name, headers, body in HOSTILE:
            path = "/predict/batch" if name.startswith("batch") else "/predict"
            response = client.post(path, content=body, headers=headers)
            statuses[response.status_code] += 1
            assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
            assert "Traceback" not in response.text
            for header in SECURITY_HEADERS:
                assert header in response.headers, (name, header)
    assert predictions_logged(fault_stack) == before
    print(f"\n{len(HOSTILE)} hostile inputs: statuses {dict(statuses)}, 0 rows logged")


# --- slow clients -------------------------------------------------------------------------------

# nginx's header and body timeouts (client_header_timeout, client_body_timeout), as the README
# states them.
HEADER_TIMEOUT_S = 10
# How long each connection is watched: one still open then is held open.
WATCH_S = HEADER_TIMEOUT_S + 8
# Port, then what the client sends before it stalls: nothing at all (on 443 not even a TLS
# handshake), half a request line, a request line and part of the headers, or (on 443: port
# 80 redirects before reading a body) the headers and part of the body.
SLOW_KINDS = ("plain-silent", "plain-half-line", "plain-headers",
              "tls-silent", "tls-half-line", "tls-headers", "tls-body")
SLOW_START = {"half-line": b"GET /heal", "headers": b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n",
              "body": b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                      b"application/json\r\nContent-Length: 100\r\n\r\n{\"age\""}
# Sent one byte a second afterwards: never the end of the line or of the headers. None for the
# body: its timeout runs between two reads, so each byte would start it again.
SLOW_TRICKLE = {"silent": b"", "half-line": b"thz", "headers": b"X-Slow: 1234567", "body": b""}


@dataclass
class SlowClient:
    kind: str
    sock: socket.socket
    trickle: bytes
    opened: float = field(default_factory=time.monotonic)
    closed_after: float | None = None  # seconds from opening to nginx's EOF or reset
    how: str = "held open"
    answer: bytes = b""

    def closed(self, how: str) -> None:
        self.closed_after, self.how = time.monotonic() - self.opened, how


def open_slow_client(stack: Stack, kind: str) -> SlowClient:
    scheme, what = kind.split("-", 1)
    port = stack.ports.https if scheme == "tls" else stack.ports.http
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if scheme == "tls" and what != "silent":
        context = stack.nginx.ssl_context()
        if what == "half-line":  # as https://127.0.0.1/ connects: no SNI
            context.check_hostname = False
        sock = context.wrap_socket(sock, server_hostname=None if what == "half-line"
                                   else "localhost")
    sock.sendall(SLOW_START.get(what, b""))
    return SlowClient(kind, sock, SLOW_TRICKLE[what])


def watch(client: SlowClient) -> None:
    """Until nginx closes the connection (EOF or reset) or WATCH_S pass, trickling a byte a
    second. A read that times out is no close: the connection is still open."""
    sock, trickle = client.sock, list(client.trickle)
    while time.monotonic() - client.opened < WATCH_S:
        readable, _, _ = select.select([sock], [], [], 1.0)
        if not readable:
            if trickle:
                try:
                    sock.send(bytes([trickle.pop(0)]))
                except (BrokenPipeError, ConnectionResetError):
                    client.closed("reset")
                    return
            continue
        sock.settimeout(0.5)
        try:
            data = sock.recv(4096)
        except (TimeoutError, ssl.SSLWantReadError):
            continue  # a TLS 1.3 session ticket, no data: still open
        except (ConnectionResetError, ssl.SSLEOFError):
            client.closed("reset")
            return
        if not data:
            client.closed("EOF")
            return
        client.answer += data


def test_slow_header_clients_are_cut_off_and_do_not_block_others(fault_stack: Stack) -> None:
    """Slowloris on both ports: 35 connections stall before their request line, headers or
    body end; nginx closes each after its timeout (measured: the EOF or reset itself, and
    when), while normal requests are served."""
    clients = [open_slow_client(fault_stack, kind) for kind in SLOW_KINDS for _ in range(5)]
    watchers = [threading.Thread(target=watch, args=(client,)) for client in clients]
    for watcher in watchers:
        watcher.start()
    served = []
    with httpx.Client(base_url=fault_stack.https_url, verify=fault_stack.nginx.ssl_context(),
                      timeout=5) as client:
        while any(watcher.is_alive() for watcher in watchers):
            served.append(client.post("/predict", json={"age": 30, "salary": 1}).status_code)
            time.sleep(0.5)
    for watcher in watchers:
        watcher.join()
    for slow in clients:
        slow.sock.close()
    figures = {kind: sorted((c.how, None if c.closed_after is None else round(c.closed_after, 1))
                            for c in clients if c.kind == kind) for kind in SLOW_KINDS}
    print(f"\nslow clients, (how closed, after s) per kind: {figures}; {len(served)} normal "
          f"requests meanwhile, statuses {sorted(set(served))}")
    held = [c.kind for c in clients if c.closed_after is None]
    assert held == [], f"held open past {WATCH_S} s: {Counter(held)}"
    # Cut off by the timeout, not sooner (an error) nor much later.
    times = [c.closed_after for c in clients if c.closed_after is not None]
    assert min(times) >= HEADER_TIMEOUT_S - 1 and max(times) <= HEADER_TIMEOUT_S + 3, figures
    # nginx closes without an answer (its access log says 408).
    assert [c.answer for c in clients if c.answer] == []
    assert len(served) >= 10 and set(served) == {200}


def test_a_burst_from_one_client_gets_429_and_no_5xx(stack: Stack) -> None:
    with https_client(stack) as client:
        def one(_: int) -> httpx.Response:
            return client.post("/predict", json={"age": 52, "salary": 33000})

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(one, range(300)))
    statuses = Counter(r.status_code for r in responses)
    print(f"\nburst of 300 from one client: {dict(statuses)}")
    assert statuses[429] > 0 and statuses[200] > 0
    assert set(statuses) <= {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    for header in SECURITY_HEADERS:
        assert header in limited.headers


# --- the access log ---------------------------------------------------------------------------

LOG_FIELDS: dict[str, type | tuple[type, ...]] = {
    "time": str, "request_id": str, "remote_addr": str, "method": str, "uri": str,
    "status": (int, type(None)), "body_bytes_sent": int, "request_time": (int, float),
    "upstream_time": str, "user_agent": str}


def access_log_problems(log: bytes) -> list[str]:
    """Each line that is not one JSON object (UTF-8) with the fields and types above."""
    problems = []
    for number, line in enumerate(log.splitlines(), 1):
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError
            problems.append(f"line {number}: {error}: {line[:200]!r}")
            continue
        wrong = {k: record.get(k) for k, kind in LOG_FIELDS.items()
                 if not isinstance(record.get(k), kind)}
        if wrong or set(record) != set(LOG_FIELDS):
            problems.append(f"line {number}: fields {sorted(record)}, wrong {wrong}")
    return problems


def test_the_access_log_is_json_after_hostile_traffic(fault_stack: Stack) -> None:
    """HTTP/2 streams aborted (a 16 KiB header, RST_STREAM mid-body, the connection closed),
    bytes that are not UTF-8, quotes, control characters, oversized lines and headers: then
    every line of nginx's access log must parse."""
    log = fault_stack.nginx.prefix / "access.log"
    lines_before = len(log.read_bytes().splitlines())
    senders = {
        **hostile_traffic.h2_senders("127.0.0.1", fault_stack.ports.https,
                                     fault_stack.nginx.ssl_context),
        **hostile_traffic.http1_senders("127.0.0.1", fault_stack.ports.http,
                                        fault_stack.ports.https, fault_stack.nginx.ssl_context),
    }
    answers = {name: send() for name, send in senders.items()}
    # Values that are valid stay as sent (UTF-8 included; none at all is "").
    ordinary = {b"X-Request-ID": b"access-log-utf8", b"User-Agent": "edge-test/1.0 \u2713".encode()}
    with httpx.Client(verify=fault_stack.nginx.ssl_context(), timeout=10) as client:
        client.get(f"{fault_stack.https_url}/healthz?token=secret", headers=ordinary)
    time.sleep(1)  # streams nginx finishes after the client left are logged when it notices
    content = log.read_bytes()
    problems = access_log_problems(content)
    added = [json.loads(line) for line in content.splitlines()[lines_before:]
             if not access_log_problems(line)]
    print(f"\nhostile traffic: {answers}\naccess log: {len(added)} lines added, "
          f"{len(content.splitlines())} in all, {len(problems)} not JSON")
    assert problems == []
    assert len(added) >= len(senders)
    assert [r["status"] for r in added if r["uri"] == "/healthz" and r["status"] is None]
    assert "(not UTF-8)" in {r["user_agent"] for r in added}
    [line] = [r for r in added if r["request_id"] == "access-log-utf8"]
    assert (line["uri"], line["user_agent"]) == ("/healthz", "edge-test/1.0 \u2713")
    assert "" in {r["user_agent"] for r in added}


# --- TLS ----------------------------------------------------------------------------------------


def issue_leaf(ca: trustme.CA, directory: Path) -> None:
    """A server certificate for localhost, signed by the test CA, as a public CA would issue
    it: valid 90 days, SAN not critical (trustme's own leaves break both rules, and sslyze's
    strict path validation rejects them)."""
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    directory.mkdir(parents=True)
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@pytest.fixture(scope="module")
def tls_proxy(fault_stack: Stack) -> Iterator[tuple[Nginx, Path]]:
    """nginx from the same template, with a certificate from a test CA (trustme)."""
    state_dir = make_state_dir("tls")
    ca = trustme.CA()
    proxy = Nginx(state_dir, free_port(), free_port(), api_port=fault_stack.ports.api)
    issue_leaf(ca, proxy.cert_dir)
    ca_file = state_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    proxy.start(wait=False)
    try:
        yield proxy, ca_file
    finally:
        proxy.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def test_sslyze_mozilla_intermediate(tls_proxy: tuple[Nginx, Path]) -> None:
    proxy, ca_file = tls_proxy
    report = proxy.state_dir / "sslyze.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sslyze"), "--mozilla_config=intermediate",
         f"--certinfo_ca_file={ca_file}", f"--json_out={report}",
         f"localhost:{proxy.https_port}"],
        capture_output=True, text=True, check=False, timeout=300,
    )
    print(f"\n{result.stdout[-1500:]}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    scan = json.loads(report.read_text())["server_scan_results"][0]["scan_result"]
    accepted = {
        name: bool(scan[name]["result"]["accepted_cipher_suites"])
        for name in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites",
                     "tls_1_0_cipher_suites", "tls_1_1_cipher_suites",
                     "tls_1_2_cipher_suites", "tls_1_3_cipher_suites")
    }
    assert accepted == {"ssl_2_0_cipher_suites": False, "ssl_3_0_cipher_suites": False,
                        "tls_1_0_cipher_suites": False, "tls_1_1_cipher_suites": False,
                        "tls_1_2_cipher_suites": True, "tls_1_3_cipher_suites": True}


def test_security_headers_on_every_kind_of_answer(fault_stack: Stack,
                                                   tls_proxy: tuple[Nginx, Path]) -> None:
    proxy, ca_file = tls_proxy
    context = ssl.create_default_context(cafile=str(ca_file))
    seen = {}
    with httpx.Client(base_url=f"https://localhost:{proxy.https_port}", verify=context,
                      timeout=20) as client:
        seen[200] = client.get("/accuracy")
        seen[404] = client.get("/nowhere")
        seen[413] = client.post("/predict", content=b"x" * 100_000,
                                headers={"Content-Type": "application/json"})
        seen[422] = client.post("/predict", json={"age": "old", "salary": 1})
    # 502: the same template in front of an API that is not there.
    dead = Nginx(make_state_dir("dead-upstream"), free_port(), free_port(), api_port=free_port())
    dead.start(wait=False)
    try:
        with httpx.Client(verify=dead.ssl_context(), timeout=20) as client:
            seen[502] = client.get(f"https://localhost:{dead.https_port}/accuracy")
    finally:
        dead.stop()
        shutil.rmtree(dead.state_dir, ignore_errors=True)
    # 429: the e2e tier's burst test shows it on the rate-limited twin; here the limit is off.
    assert {code: response.status_code for code, response in seen.items()} == {
        code: code for code in seen
    }
    for code, response in seen.items():
        missing = [h for h in SECURITY_HEADERS if h not in response.headers]
        assert missing == [], (code, missing)
        assert response.headers["server"] == "nginx"
        assert response.headers["content-type"].startswith("application/json"), code
    print(f"\nsecurity headers present on {sorted(seen)} (and 429: see the burst test)")
