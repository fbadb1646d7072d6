"""Traffic no browser sends, at the byte level: what must still leave nginx's access log one
valid JSON object per line. Each sender returns what nginx answered (or how it closed)."""

import contextlib
import socket
import ssl
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events

Sender = Callable[[], str]


def _h2_connection(host: str, port: int, context: ssl.SSLContext) -> tuple[
        ssl.SSLSocket, h2.connection.H2Connection]:
    context.set_alpn_protocols(["h2"])
    sock = context.wrap_socket(socket.create_connection((host, port), timeout=5),
                               server_hostname="localhost")
    assert sock.selected_alpn_protocol() == "h2"
    connection = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding=None, validate_outbound_headers=False))
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    return sock, connection


def _h2_events(sock: ssl.SSLSocket, connection: h2.connection.H2Connection,
               seconds: float = 3) -> list[str]:
    """The names of the frames' events nginx sends until the connection ends or goes quiet."""
    names: list[str] = []
    deadline = time.monotonic() + seconds
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            if any(n in ("StreamEnded", "StreamReset") for n in names):
                break
            continue
        except OSError as error:
            names.append(type(error).__name__)
            break
        if not data:
            names.append("EOF")
            break
        names += [type(event).__name__ for event in connection.receive_data(data)]
        with contextlib.suppress(OSError):
            sock.sendall(connection.data_to_send())
    return names


def _request_headers(path: str, method: str = "GET",
                     extra: list[tuple[bytes, bytes]] | None = None) -> list[tuple[bytes, bytes]]:
    return [(b":method", method.encode()), (b":scheme", b"https"),
            (b":authority", b"localhost"), (b":path", path.encode()), *(extra or [])]


def h2_senders(host: str, port: int, context: Callable[[], ssl.SSLContext]) -> dict[str, Sender]:
    def huge_header() -> str:
        """A 16 KiB header value: more than large_client_header_buffers allows a field."""
        sock, connection = _h2_connection(host, port, context())
        with sock:
            connection.send_headers(1, _request_headers(
                "/healthz", extra=[(b"x-huge", b"a" * 16_384)]), end_stream=True)
            sock.sendall(connection.data_to_send())
            return ",".join(_h2_events(sock, connection))

    def reset_mid_request() -> str:
        """POST headers announcing a body, then RST_STREAM (CANCEL) before any of it."""
        sock, connection = _h2_connection(host, port, context())
        with sock:
            for stream in (1, 3, 5):
                connection.send_headers(stream, _request_headers("/predict", "POST", [
                    (b"content-type", b"application/json"), (b"content-length", b"30")]))
                connection.send_data(stream, b'{"age": 3')
                connection.reset_stream(stream)
            sock.sendall(connection.data_to_send())
            return ",".join(_h2_events(sock, connection, 1.5))

    def closed_mid_stream() -> str:
        """A GET sent, the TCP connection closed before the answer can arrive."""
        sock, connection = _h2_connection(host, port, context())
        connection.send_headers(1, _request_headers("/accuracy"), end_stream=True)
        sock.sendall(connection.data_to_send())
        sock.close()
        return "closed"

    def hostile_values() -> str:
        """Control characters, quotes, backslashes and bytes that are not UTF-8."""
        sock, connection = _h2_connection(host, port, context())
        with sock:
            connection.send_headers(1, _request_headers(
                '/h2-"quoted"\\back\xff', extra=[(b"user-agent", b'ua \x01 \x1b " \\ \xc3\x28')]),
                end_stream=True)
            sock.sendall(connection.data_to_send())
            return ",".join(_h2_events(sock, connection))

    return {"h2 16 KiB header": huge_header, "h2 streams reset mid-request": reset_mid_request,
            "h2 connection closed mid-stream": closed_mid_stream,
            "h2 hostile path and user agent": hostile_values}


def _raw(host: str, port: int, data: bytes, context: ssl.SSLContext | None = None,
         close_early: bool = False) -> str:
    sock = socket.create_connection((host, port), timeout=5)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="localhost")
    with sock:
        sock.sendall(data)
        if close_early:
            return "closed"
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    first = b"".join(chunks).split(b"\r\n", 1)[0]
    return first.decode("latin-1") or "EOF"


def http1_senders(host: str, http_port: int, https_port: int,
                  context: Callable[[], ssl.SSLContext]) -> dict[str, Sender]:
    ua = b'User-Agent: ua \x01 \x1b " \\ \xc3\x28 \xff\r\n'
    cases = {
        "garbage request line": (http_port, b"\x16\x03\x01\x00\xff garbage\r\n\r\n", False),
        "high bytes and quotes in the path": (
            https_port, b'GET /h1-"q"\\b\xff\xfe HTTP/1.1\r\nHost: localhost\r\n' + ua
            + b"Connection: close\r\n\r\n", True),
        "control bytes in the user agent": (
            https_port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + ua
            + b"Connection: close\r\n\r\n", True),
        "a 9 KiB request line": (
            https_port, b"GET /" + b"a" * 9_216 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", True),
        "a 9 KiB header": (
            https_port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 9_216
            + b"\r\n\r\n", True),
        "plain HTTP to the TLS port": (
            https_port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", False),
        "an unknown host": (https_port, b"GET / HTTP/1.1\r\nHost: evil.example\r\n"
                            b"Connection: close\r\n\r\n", True),
    }
    def sender(port: int, data: bytes, tls: bool) -> Sender:
        return lambda: _raw(host, port, data, context() if tls else None)

    senders = {name: sender(*case) for name, case in cases.items()}
    senders["body cut off"] = lambda: _raw(
        host, https_port, b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
        b"application/json\r\nContent-Length: 100\r\n\r\n{\"age\": 3", context(),
        close_early=True)
    return senders
