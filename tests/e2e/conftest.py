from collections.abc import Iterator

import httpx
import pytest

from local.twin import Stack


@pytest.fixture(scope="module")
def https(stack: Stack) -> Iterator[httpx.Client]:
    """A client that trusts the twin's self-signed certificate (verification stays on)."""
    with httpx.Client(base_url=stack.https_url, verify=stack.nginx.ssl_context(),
                      timeout=20) as client:
        yield client
