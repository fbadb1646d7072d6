"""Fixtures for the fault tests: a twin of their own (they kill its parts; the secrets test
reads all its logs at the end)."""

from collections.abc import Iterator

import pytest

from local.twin import Stack, unlimited
from tests.support.servers import running_twin


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[Stack]:
    # The load comes from one address; the rate limit is tested elsewhere.
    with running_twin("faults", unlimited(), LOG_LEVEL="warning") as stack:
        yield stack
