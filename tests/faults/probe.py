"""Run inside a test namespace (`ip netns exec NS python probe.py ...`); prints one JSON object.

    connect HOST PORT                                  can a TCP connection be opened?
    wait SCHEME HOST PORT PATH TIMEOUT CAFILE          poll GET PATH until it answers 200
    predict HOST PORT CAFILE                           one POST /predict over HTTPS
    load HOST PORT CAFILE SECONDS                      POST /predict again and again

Only the standard library: it runs with whatever Python the namespace's host has. The TLS
name checked is "localhost" (the test certificate's), whatever address is dialled.
"""

import errno
import json
import socket
import ssl
import sys
import time
from typing import Any


def connect(host: str, port: int) -> dict[str, Any]:
    """`reason`: why not (ENETUNREACH: no route, ECONNREFUSED, "timeout"), so that a failure
    of the probe itself is not taken for a network that keeps the two apart."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return {"connected": True}
    except TimeoutError:
        return {"connected": False, "reason": "timeout"}
    except OSError as error:
        return {"connected": False, "reason": errno.errorcode.get(error.errno or 0, str(error))}


def request(scheme: str, host: str, port: int, method: str, path: str, cafile: str,
            body: bytes = b"", timeout: float = 30) -> tuple[int, bytes]:
    raw = socket.create_connection((host, port), timeout=timeout)
    sock: socket.socket = raw
    if scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        sock = context.wrap_socket(raw, server_hostname="localhost")
    with sock:
        head = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        sock.sendall(head.encode() + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    status = int(response.split(b" ", 2)[1])
    return status, response.split(b"\r\n\r\n", 1)[1]


def wait(scheme: str, host: str, port: int, path: str, timeout: float,
         cafile: str) -> dict[str, Any]:
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            status, _ = request(scheme, host, port, "GET", path, cafile, timeout=3)
            if status == 200:
                return {"ok": True}
            last = f"HTTP {status}"
        except OSError as error:
            last = str(error)
        time.sleep(0.2)
    return {"ok": False, "last": last}


def predict(host: str, port: int, cafile: str) -> dict[str, Any]:
    started = time.monotonic()
    body = json.dumps({"age": 30, "salary": 87000}).encode()
    try:
        status, answer = request("https", host, port, "POST", "/predict", cafile, body)
    except OSError as error:
        return {"status": 0, "error": str(error), "elapsed": time.monotonic() - started}
    return {"status": status, "body": answer.decode(errors="replace"),
            "elapsed": time.monotonic() - started}


def load(host: str, port: int, cafile: str, seconds: float) -> dict[str, Any]:
    deadline, results = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        results.append(predict(host, port, cafile))
    return {"results": results}


def main(argv: list[str]) -> dict[str, Any]:
    command, args = argv[0], argv[1:]
    if command == "connect":
        return connect(args[0], int(args[1]))
    if command == "wait":
        return wait(args[0], args[1], int(args[2]), args[3], float(args[4]), args[5])
    if command == "predict":
        return predict(args[0], int(args[1]), args[2])
    if command == "load":
        return load(args[0], int(args[1]), args[2], float(args[3]))
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
