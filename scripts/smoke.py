#!/usr/bin/env python3
"""Checks a running deployment from outside, as a user would: the same script for a Docker
host (the GitHub Actions workflow) and for the local twin's compose topology (the fault tier).

    python3 scripts/smoke.py check  --record FILE [options]   # before a restart
    python3 scripts/smoke.py after-restart --record FILE [options]

`check`: HTTPS prediction, the workshop's accuracy, the prediction's log row, the HTTP->HTTPS
redirect to the configured name (and no redirect for a Host we do not serve), security
headers, HTTP/2, HEAD, and the network segmentation (`--must-reach` / `--must-not-reach`:
commands that try a TCP connection from inside nginx's network and exit 0 when it opens).
It records the prediction in FILE; `after-restart` waits until the stack answers again and
checks that the prediction is still there. Standard library only: it runs on a bare python3.
Exit status 0 when every check holds; each failed check is printed. The API token, for the
routes that need one, is read from the environment variable API_TOKEN (the api service's own
name for it), never from the command line, where every user of the host could read it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'self'",
}


class CheckFailed(AssertionError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Target:
    """Where the deployment answers: the address dialled, and the name it serves (sent as
    SNI and Host, like `curl --resolve`), so a test host with no DNS works too."""

    address: str
    https_port: int
    http_port: int
    server_name: str
    cacert: str | None = None
    token: str | None = None

    def context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cacert)
        if self.cacert is None:  # a fresh deployment's self-signed certificate
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if alpn:
            context.set_alpn_protocols(alpn)
        return context

    def request(self, method: str, path: str, body: Any = None, *, tls: bool = True,
                host: str | None = None, timeout: float = 10) -> Response:
        headers = {"Host": host or self.server_name, "Connection": "close"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection: http.client.HTTPConnection
        if tls:
            connection = _Https(self.address, self.https_port, self.server_name,
                                self.context(), timeout)
        else:
            connection = http.client.HTTPConnection(self.address, self.http_port,
                                                    timeout=timeout)
        try:
            connection.request(method, path, body=payload, headers=headers)
            answer = connection.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()},
                            answer.read())
        finally:
            connection.close()

    def alpn(self) -> str | None:
        """The protocol nginx picks when a client offers HTTP/2 first, as browsers do."""
        context = self.context(alpn=["h2", "http/1.1"])
        with socket.create_connection((self.address, self.https_port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname=self.server_name) as tls:
            return tls.selected_alpn_protocol()


class _Https(http.client.HTTPSConnection):
    def __init__(self, address: str, port: int, server_name: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(address, port, context=context, timeout=timeout)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._server_name)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --- the checks -----------------------------------------------------------------------------------


def required_inputs(target: Target) -> dict[str, Any]:
    """A request with every input the served version requires, at its example value (age 30,
    salary 87,000 for the workshop's), as GET /model declares them: an input added to the API
    needs no change here."""
    response = target.request("GET", "/model")
    expect(response.status == 200, f"GET /model: {response.status}")
    return {item["name"]: item["example"] for item in response.json()["inputs"]
            if item["required"]}


def check_prediction(target: Target) -> dict[str, Any]:
    sent = required_inputs(target)
    response = target.request("POST", "/predict", sent)
    expect(response.status == 200, f"POST /predict: {response.status} {response.body[:200]!r}")
    answer: dict[str, Any] = response.json()
    expect(set(answer) >= {"purchased", "probability", "model_version", "prediction_id"},
           f"POST /predict fields: {sorted(answer)}")
    expect(0 <= answer["probability"] <= 1, f"probability {answer['probability']}")
    return {**answer, "sent": sent}


def check_accuracy(target: Target) -> None:
    response = target.request("GET", "/accuracy")
    expect(response.status == 200, f"GET /accuracy: {response.status}")
    body = response.json()
    expect(body["accuracy"] == 0.89, f"accuracy {body['accuracy']}, expected 0.89")
    expect(body["confusion_matrix"] == [[65, 3], [8, 24]],
           f"confusion matrix {body['confusion_matrix']}")


def check_logged(target: Target, prediction: dict[str, Any]) -> None:
    response = target.request("GET", "/predictions?limit=100")
    expect(response.status != 401, "GET /predictions needs the API token: set API_TOKEN")
    expect(response.status == 200, f"GET /predictions: {response.status}")
    rows = {row["id"]: row for row in response.json()}
    row = rows.get(prediction["prediction_id"])
    expect(row is not None, f"prediction {prediction['prediction_id']} is not in the log")
    assert row is not None
    sent = prediction["sent"]
    expect(all(row[name] == value for name, value in sent.items())
           and row["model_version"] == prediction["model_version"], f"log row {row}")


def check_redirect(target: Target) -> None:
    response = target.request("POST", "/predict?from=smoke", {}, tls=False)
    expected = f"https://{target.server_name}:{target.https_port}/predict?from=smoke"
    expect(response.status == 308, f"http POST /predict: {response.status}, expected 308")
    expect(response.headers.get("location") == expected,
           f"redirect to {response.headers.get('location')!r}, expected {expected!r}")
    for tls in (False, True):
        stranger = target.request("GET", "/", tls=tls, host="evil.example")
        expect(stranger.status == 421 and "location" not in stranger.headers,
               f"Host evil.example over {'https' if tls else 'http'}: {stranger.status}")


def check_headers(target: Target) -> None:
    for path in ("/", "/healthz", "/no-such-page"):
        response = target.request("GET", path)
        for header, value in SECURITY_HEADERS.items():
            expect(value in response.headers.get(header, ""), f"{path}: {header} missing")
        expect(response.headers.get("server") == "nginx", f"{path}: Server "
               f"{response.headers.get('server')!r} (no version expected)")


def check_protocols(target: Target) -> None:
    expect(target.alpn() == "h2", f"ALPN on {target.https_port}: {target.alpn()!r}, not h2")
    head = target.request("HEAD", "/accuracy")
    expect(head.status == 200 and head.body == b"", f"HEAD /accuracy: {head.status}")


def check_reach(commands: list[str], should_connect: bool) -> None:
    for command in commands:
        result = subprocess.run(shlex.split(command), capture_output=True, timeout=60,
                                check=False)
        # A command that could not run at all (126, 127: the shell's codes) proves nothing
        # about the network: it is a failed check, not an unreachable address.
        ran = result.returncode not in (126, 127)
        expect(ran, f"{command!r} could not run (exit {result.returncode})")
        connected = result.returncode == 0
        expect(connected == should_connect,
               f"{command!r}: {'connected' if connected else 'no connection'}, expected "
               f"{'a connection' if should_connect else 'none'}")


def wait_ready(target: Target, timeout: float) -> None:
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            response = target.request("GET", "/readyz", timeout=3)
            if response.status == 200:
                return
            last = f"HTTP {response.status}"
        except OSError as error:
            last = str(error)
        time.sleep(1)
    raise CheckFailed(f"/readyz not 200 within {timeout:.0f} s (last: {last})")


# --- driver ---------------------------------------------------------------------------------------


def run_checks(target: Target, args: argparse.Namespace) -> list[str]:
    failures: list[str] = []

    def run(name: str, check: Any, *check_args: Any) -> Any:
        try:
            result = check(*check_args)
        except (CheckFailed, OSError, ValueError, KeyError) as error:
            failures.append(f"{name}: {error}")
            print(f"FAIL {name}: {error}")
            return None
        print(f"ok   {name}")
        return result

    if args.command == "after-restart":
        run("ready again", wait_ready, target, args.wait)
        recorded = json.loads(Path(args.record).read_text())
        run("the prediction survived the restart", check_logged, target, recorded)
        run("accuracy after the restart", check_accuracy, target)
        return failures
    run("ready", wait_ready, target, args.wait)
    prediction = run("HTTPS prediction", check_prediction, target)
    if prediction is not None:
        Path(args.record).write_text(json.dumps(prediction))
        run("its log row", check_logged, target, prediction)
    run("accuracy", check_accuracy, target)
    run("redirect to the configured name; unknown hosts refused", check_redirect, target)
    run("security headers", check_headers, target)
    run("HTTP/2 and HEAD", check_protocols, target)
    run("reachable from nginx's network", check_reach, args.must_reach, True)
    run("unreachable from nginx's network", check_reach, args.must_not_reach, False)
    return failures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "after-restart"])
    parser.add_argument("--record", required=True, help="file for the prediction made")
    parser.add_argument("--address", default="127.0.0.1", help="address to dial")
    parser.add_argument("--server-name", default="localhost", help="NGINX_SERVER_NAME")
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--cacert", help="CA file; without it, the certificate is not checked")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for /readyz")
    parser.add_argument("--must-reach", action="append", default=[], metavar="COMMAND")
    parser.add_argument("--must-not-reach", action="append", default=[], metavar="COMMAND")
    return parser.parse_args(argv)


def target_of(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    # The API token comes from the environment, under the name the api service reads: a
    # command line is visible to every user of the host (ps, /proc/PID/cmdline).
    return Target(args.address, args.https_port, args.http_port, args.server_name,
                  args.cacert, environ.get("API_TOKEN") or None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    target = target_of(args, os.environ)
    failures = run_checks(target, args)
    print(f"{len(failures)} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
