from collections.abc import Iterator

import httpx
import pytest

from local.twin import Stack
from tests.support.clients import https_client


@pytest.fixture(scope="module")
def https(stack: Stack) -> Iterator[httpx.Client]:
    """A client that trusts the twin's self-signed certificate (verification stays on)."""
    with https_client(stack) as client:
        yield client
