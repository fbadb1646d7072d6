"""Fixtures for the fault tests: a twin of their own (they kill its parts; the secrets test
reads all its logs at the end) and the root check."""

import os
import shutil
from collections.abc import Iterator

import pytest

from local.twin import Ports, Stack
from tests.conftest import make_state_dir


def require_root(reason: str) -> None:
    """Namespaces and iptables need root: outside CI that is a skip; in CI, a failure."""
    missing = [tool for tool in ("ip", "iptables") if shutil.which(tool) is None]
    if os.geteuid() == 0 and not missing:
        return
    problem = f"needs root and {', '.join(missing) or 'ip, iptables'} ({reason})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}: CI must run every test (apt-get install iproute2 iptables)")
    pytest.skip(f"{problem}; runs in CI")


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[Stack]:
    state_dir = make_state_dir("faults")
    stack = Stack(state_dir, state_dir, Ports.free(),
                  extra_env={"DB_CONNECT_TIMEOUT_S": "2", "DB_STATEMENT_TIMEOUT_MS": "2000",
                             "LOG_LEVEL": "warning"})
    # The load comes from one address; the rate limit is tested elsewhere.
    stack.nginx.predict_rate, stack.nginx.predict_burst = "100000r/s", 10000
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)
