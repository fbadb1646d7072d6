"""After a run with errors and an outage, the database passwords and the API token are nowhere
they should not be.

This module runs last among the fault tests, so the logs it reads hold everything they did.
"""

import subprocess
from pathlib import Path

from local.twin import Stack, process_tree
from tests.support.auth import bearer
from tests.support.clients import https_client
from tests.support.paths import ROOT


def test_passwords_appear_in_no_log_body_command_line_or_tracked_file(
    fault_stack: Stack,
) -> None:
    secrets = {name: fault_stack.env[name]
               for name in ("POSTGRES_PASSWORD", "DB_OWNER_PASSWORD", "APP_DB_PASSWORD",
                            "API_TOKEN")}
    bodies: list[str] = []
    with https_client(fault_stack) as client:
        for body in (b'{"age": NaN}', b"{", b'{"age": "x", "salary": []}'):
            bodies.append(client.post("/predict", content=body,
                                      headers={"Content-Type": "application/json"}).text)
        # The token as clients send it, right (header) and wrong (query string, a wrong
        # header): else its absence from the logs would prove nothing.
        token = secrets["API_TOKEN"]
        for path, headers in (("/predictions?limit=1", bearer(token)),
                              (f"/predictions?token={token}", {}),
                              ("/predictions", {"Authorization": f"Bearer {token}x"}),
                              (f"/predictions/1/outcome?access_token={token}", bearer(token))):
            bodies.append(client.get(path, headers=headers).text)
        fault_stack.postgres.stop("immediate")
        try:
            for path in ("/accuracy", "/predictions", "/readyz"):
                bodies.append(client.get(path).text)
            bodies.append(client.post("/predict", json={"age": 30, "salary": 1}).text)
        finally:
            fault_stack.postgres.start()
    assert any("database is unavailable" in body for body in bodies)

    state = fault_stack.state_dir
    logs = {path.name: path.read_text(errors="replace")
            for path in [*state.glob("api-*.log"), state / "migrate.log", state / "postgres.log",
                         *state.glob("nginx/*.log")]}
    # The logs that must hold something (migrate's may be empty at LOG_LEVEL=warning): a
    # search of empty or missing files would find no leak.
    assert {"api-1.log", "postgres.log", "access.log", "error.log"} <= {
        name for name, text in logs.items() if text}
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    files = {name: (ROOT / name).read_text(errors="replace") for name in tracked
             if name and (ROOT / name).is_file()}
    command_lines = {
        str(pid): Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        for root in (fault_stack.postgres.pid(), *fault_stack.api.pids(), fault_stack.nginx.pid())
        if root is not None
        for pid in process_tree(root)
        if Path(f"/proc/{pid}/cmdline").exists()
    }
    places: dict[str, dict[str, str]] = {
        "response body": {str(i): body for i, body in enumerate(bodies)},
        "log": logs, "tracked file": files,
        "command line": command_lines,
    }
    leaks = [f"{name} in {kind} {where}"
             for name, secret in secrets.items()
             for kind, texts in places.items()
             for where, text in texts.items() if secret in text]
    print(f"\nsecrets: searched {len(bodies)} error bodies, {len(logs)} logs "
          f"({sum(map(len, logs.values())):,} bytes), {len(files)} tracked files and "
          f"{len(command_lines)} command lines: {len(leaks)} leaks")
    assert leaks == []
