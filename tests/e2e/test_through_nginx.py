"""The local twin end to end: client -> nginx (TLS) -> gunicorn -> PostgreSQL."""

import concurrent.futures
import shutil
from collections.abc import Iterator

import httpx
import pytest

from local.twin import Nginx, Stack, free_port
from tests.support.clients import https_client
from tests.support.servers import make_state_dir

SECURITY_HEADERS = (
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
)


def assert_hardened(response: httpx.Response) -> None:
    for header in SECURITY_HEADERS:
        assert header in response.headers, f"{header} missing on {response.status_code}"
    assert response.headers["server"] == "nginx"  # no version


def logged_row(stack: Stack, prediction_id: int) -> str:
    return stack.postgres.psql(
        "SELECT age || ',' || salary || ',' || purchased FROM predictions"
        f" WHERE id = {prediction_id}"
    )


def test_predict_over_https_is_logged(stack: Stack, https: httpx.Client) -> None:
    response = https.post("/predict", json={"age": 30, "salary": 87000})
    assert response.status_code == 200
    body = response.json()
    assert body["purchased"] is False and body["model_version"] == 1
    assert_hardened(response)
    assert logged_row(stack, body["prediction_id"]) == "30,87000,false"


def test_http_redirects_with_308_and_a_post_stays_a_post(stack: Stack, https: httpx.Client) -> None:
    with https_client(stack, base_url="", follow_redirects=True) as client:
        response = client.post(f"{stack.http_url}/predict", json={"age": 60, "salary": 150000})
    assert [r.status_code for r in response.history] == [308]
    assert response.history[0].headers["location"].startswith("https://localhost:")
    assert response.status_code == 200
    assert response.json()["purchased"] is True
    assert logged_row(stack, response.json()["prediction_id"]) == "60,150000,true"


def test_accuracy_docs_and_page(https: httpx.Client) -> None:
    accuracy = https.get("/accuracy").json()
    assert accuracy["accuracy"] == 0.89
    assert accuracy["confusion_matrix"] == [[65, 3], [8, 24]]
    assert https.get("/docs").status_code == 200
    assert https.get("/openapi.json").json()["info"]["title"]
    page = https.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert_hardened(page)


def test_only_tls_12_and_13(stack: Stack) -> None:
    import socket
    import ssl

    def negotiate(version: ssl.TLSVersion) -> str:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(stack.nginx.cert_dir / "fullchain.pem")
        context.minimum_version = context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("ALL:@SECLEVEL=0")
        try:
            with socket.create_connection(("127.0.0.1", stack.ports.https), timeout=5) as raw, \
                    context.wrap_socket(raw, server_hostname="localhost") as tls:
                return str(tls.version())
        except ssl.SSLError as error:
            return f"refused: {error.reason}"

    # Only nginx's own refusal counts: its protocol_version alert. A client that could not
    # offer TLS 1.1 at all would fail otherwise (NO_PROTOCOLS_AVAILABLE).
    assert {version.name: negotiate(version) for version in (
        ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)} == {
        "TLSv1_1": "refused: TLSV1_ALERT_PROTOCOL_VERSION", "TLSv1_2": "TLSv1.2",
        "TLSv1_3": "TLSv1.3"}


PREDICT_BODY_LIMIT = 16 * 1024  # docs/api.md: /predict bodies up to 16 KiB (nginx's limit)


def json_body_of(size: int, head: bytes, tail: bytes = b'"}') -> bytes:
    """A JSON body of exactly `size` bytes: `head`, a long string, `tail`."""
    return head + b"9" * (size - len(head) - len(tail)) + tail


def test_oversized_body_is_413(https: httpx.Client) -> None:
    """The limit from both sides: a body of exactly 16 KiB reaches the app (which refuses its
    salary, a string: 422); one byte more gets nginx's 413 (the app's own limit is 1 MiB)."""
    def post(size: int) -> httpx.Response:
        return https.post("/predict", content=json_body_of(size, b'{"age": 30, "salary": "'),
                          headers={"Content-Type": "application/json"})

    at_limit, over = post(PREDICT_BODY_LIMIT), post(PREDICT_BODY_LIMIT + 1)
    print(f"\n{PREDICT_BODY_LIMIT} bytes -> {at_limit.status_code}; "
          f"{PREDICT_BODY_LIMIT + 1} bytes -> {over.status_code}")
    assert at_limit.status_code == 422
    assert over.status_code == 413
    assert over.json() == {"detail": "The request body is too large."}
    assert_hardened(over)


BATCH_BODY_LIMIT = 1024 * 1024  # docs/api.md: batch bodies up to 1 MiB (nginx's limit)


def test_batch_body_over_1_mib_is_413_from_nginx(https: httpx.Client) -> None:
    """Exactly 1 MiB reaches the app (its rows are not a list: 422, timed by the app); one byte
    more is refused by nginx itself, before the app (no Server-Timing header of the app's)."""
    def post(size: int) -> httpx.Response:
        return https.post("/predict/batch", content=json_body_of(size, b'{"rows": "'),
                          headers={"Content-Type": "application/json"})

    at_limit, over = post(BATCH_BODY_LIMIT), post(BATCH_BODY_LIMIT + 1)
    print(f"\n{BATCH_BODY_LIMIT} bytes -> {at_limit.status_code}; "
          f"{BATCH_BODY_LIMIT + 1} bytes -> {over.status_code}")
    assert at_limit.status_code == 422
    assert "server-timing" in at_limit.headers
    assert over.status_code == 413
    assert "server-timing" not in over.headers
    assert over.json() == {"detail": "The request body is too large."}
    assert_hardened(over)


def test_bad_input_is_4xx_with_headers(https: httpx.Client) -> None:
    response = https.post("/predict", json={"age": -3, "salary": 1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "age"
    assert_hardened(response)
    missing = https.get("/no-such-page")
    assert missing.status_code == 404
    assert_hardened(missing)


def test_a_burst_gets_429_and_no_5xx(https: httpx.Client) -> None:
    def one(_: int) -> httpx.Response:
        return https.post("/predict", json={"age": 41, "salary": 52000})

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(one, range(120)))
    codes = [response.status_code for response in responses]
    assert 429 in codes and 200 in codes
    assert all(code in (200, 429) for code in codes), codes
    for limited in (r for r in responses if r.status_code == 429):
        assert_hardened(limited)
        assert limited.json() == {"detail": "Too many requests; slow down."}
        assert limited.headers["x-request-id"]


def test_5xx_from_the_proxy_is_json_with_headers(stack: Stack) -> None:
    # A second nginx from the same template whose upstream is a closed port: a 502.
    state_dir = make_state_dir("nginx-502")
    proxy = Nginx(state_dir, free_port(), free_port(), api_port=free_port())
    proxy.start(wait=False)
    try:
        with httpx.Client(verify=proxy.ssl_context()) as client:
            response = client.get(f"https://localhost:{proxy.https_port}/accuracy")
        assert response.status_code == 502
        assert response.json()["detail"].startswith("The API is unavailable")
        assert_hardened(response)
        assert response.headers["x-request-id"]  # nginx's own id: the API never answered
    finally:
        proxy.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


DECOYS = (".env", ".env_db", ".git/config", "assets/.htpasswd")


@pytest.fixture(scope="module")
def decoys(stack: Stack) -> Iterator[None]:
    """Files that must never be served, put where the page is served from (as a stray
    `COPY` would): without them, a 404 would prove nothing."""
    root = stack.nginx.prefix / "html"
    for name in DECOYS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("SECRET=decoy\n")
        (root / name).chmod(0o644)
    yield
    for name in DECOYS:
        (root / name).unlink()


@pytest.mark.parametrize("path", ["/.env", "/.env_db", "/.git/config", "/assets/.htpasswd",
                                  "/assets/../.env", "/%2eenv"])
def test_no_secrets_served(https: httpx.Client, decoys: None, path: str) -> None:
    response = https.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert "decoy" not in response.text
    assert https.get("/index.html").status_code == 200  # the folder is served
