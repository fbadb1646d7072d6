"""Fixtures for the fault tests: a twin of their own (they kill its parts; the secrets test
reads all its logs at the end) and the root check."""

import os
import shutil
from collections.abc import Iterator

import pytest

from local.twin import Stack, unlimited
from tests.support.servers import running_twin


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
    # The load comes from one address; the rate limit is tested elsewhere.
    with running_twin("faults", unlimited(), LOG_LEVEL="warning") as stack:
        yield stack
