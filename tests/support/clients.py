"""HTTP clients for the twin: through nginx over TLS, trusting the twin's own certificate
(verification stays on)."""

from typing import Any

import httpx

from local.twin import Stack


def https_client(stack: Stack, **options: Any) -> httpx.Client:
    """A client for `stack`'s https URL; `options` go to httpx.Client (timeout: 20 s unless
    given)."""
    options.setdefault("timeout", 20)
    options.setdefault("base_url", stack.https_url)
    return httpx.Client(verify=stack.nginx.ssl_context(), **options)
